"""Everything a handler may need, built once at start-up: settings, catalogue, engines, and the
invocation pipeline every runtime operation goes through."""

from __future__ import annotations

import fnmatch
import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .catalog import Catalog, ModelRef
from .config import ServedModel, Settings
from .engines.base import Engine
from .invocation import Hooks, Pipeline

if TYPE_CHECKING:
    from .invocation.record import InvocationRecord
    from .jobs.service import Jobs
    from .policies.access import Policies
    from .policies.model_access import ModelAccess
    from .profiles.application import ApplicationProfiles
    from .quotas.service import Quotas


def build_engine(model: ServedModel, settings: Settings) -> Engine:
    if model.engine == "openai":
        from .engines.openai_compat import OpenAICompatEngine

        return OpenAICompatEngine(model, max_connections=settings.max_queue)
    from .engines.llamacpp.engine import LlamaCppEngine

    return LlamaCppEngine(
        model,
        threads=settings.threads,
        max_queue=settings.max_queue,
        queue_timeout=settings.queue_timeout_seconds,
    )


@dataclass
class Services:
    settings: Settings
    catalog: Catalog
    engines: dict[str, Engine] = field(default_factory=dict)
    hooks: Hooks = field(default_factory=Hooks)

    def __post_init__(self) -> None:
        self.pipeline = Pipeline(self, self.hooks)
        self.catalog.application_source = lambda profile_id: self.profiles.source_of(profile_id)
        self.policies: Policies | None = None
        if self.settings.identities:  # identity-based policies decide who may do what
            from .policies.access import Policies

            self.policies = Policies(self)
            self.hooks.access.append(self.policies)
        self.model_access: ModelAccess | None = None
        if self.settings.model_access is not None:  # then whether the account may use the model
            from .policies.model_access import ModelAccess

            self.model_access = ModelAccess(self.settings.model_access)
            self.hooks.access.append(self.model_access)
        self.quotas: Quotas | None = None
        if self.settings.quotas:
            from .quotas.service import Quotas

            self.quotas = Quotas(self.settings)
            self.hooks.admission.append(self.quotas)
            self.hooks.on_completion(self.quotas.settle)
        self.hooks.on_completion(self._count_profile_usage)
        from .logs.service import InvocationLogging

        self.invocation_logs = InvocationLogging(self)
        self.hooks.on_completion(self.invocation_logs.observe)
        from .catalog.prices import Prices

        self.prices = Prices(self.settings.prices)
        self.hooks.pricing = self.prices.cost
        from .metrics.service import Metrics

        self.metrics = Metrics(self)
        self.hooks.on_completion(self.metrics.observe)
        from .traces.spans import Tracer, tracing_wanted

        self.tracer: Tracer | None = Tracer() if tracing_wanted() else None
        if self.tracer is not None:
            self.hooks.on_completion(self.tracer.observe)

    @classmethod
    def build(cls, settings: Settings) -> Services:
        from .engines.embeddings.engine import configure_embedding_engine
        from .formats import thinking

        configure_embedding_engine(settings.threads)
        thinking.use_key_from(settings.state_dir)
        engines = {m.name: build_engine(m, settings) for m in settings.models}
        return cls(settings, Catalog(settings.region, settings.account_id), engines)

    @functools.cached_property
    def jobs(self) -> Jobs:
        """Async invocations and batch jobs (their store opens on first use)."""
        from .jobs.service import Jobs

        return Jobs(self)

    @functools.cached_property
    def profiles(self) -> ApplicationProfiles:
        """Application inference profiles (their store opens on first use)."""
        from .profiles.application import ApplicationProfiles

        return ApplicationProfiles(self)

    async def _count_profile_usage(self, record: InvocationRecord) -> None:
        if record.profile_arn and ":application-inference-profile/" in record.profile_arn:
            await self.profiles.count(record)

    @property
    def ready(self) -> bool:
        return all(e.ready for e in self.engines.values())

    def served_model_name(self, ref: ModelRef) -> str:
        """Which local model answers a Bedrock model: the first matching route, else the default."""
        for pattern, target in self.settings.routes.items():
            if any(fnmatch.fnmatchcase(candidate, pattern) for candidate in ref.names()):
                return target
        return self.settings.default_model

    def engine_for(self, ref: ModelRef) -> Engine:
        return self.engines[self.served_model_name(ref)]

    def close(self) -> None:
        if "jobs" in self.__dict__:
            self.jobs.close()
        if self.tracer is not None:
            self.tracer.close()
        for engine in self.engines.values():
            engine.close()
