"""Everything a handler may need, built once at start-up: settings, catalogue, engines."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from .catalog import Catalog, ModelRef
from .config import Settings
from .engines.llamacpp.engine import LlamaCppEngine
from .engines.openai_compat import OpenAICompatEngine
from .protocol.errors import ServiceUnavailableException


@dataclass
class Services:
    settings: Settings
    catalog: Catalog
    engines: dict[str, LlamaCppEngine | OpenAICompatEngine] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings) -> Services:
        engines: dict[str, LlamaCppEngine | OpenAICompatEngine] = {
            m.name: OpenAICompatEngine(m, max_connections=settings.max_queue)
            if m.engine == "openai"
            else LlamaCppEngine(m, threads=settings.threads, max_queue=settings.max_queue)
            for m in settings.models
        }
        return cls(settings, Catalog(settings.region, settings.account_id), engines)

    @property
    def ready(self) -> bool:
        return all(e.ready for e in self.engines.values())

    def served_model_name(self, ref: ModelRef) -> str:
        """Which local model answers a Bedrock model: the first matching route, else the default."""
        for pattern, target in self.settings.routes.items():
            if any(fnmatch.fnmatchcase(candidate, pattern) for candidate in ref.names()):
                return target
        return self.settings.default_model

    def engine_for(self, ref: ModelRef) -> LlamaCppEngine | OpenAICompatEngine:
        engine = self.engines[self.served_model_name(ref)]
        if not engine.ready:
            raise ServiceUnavailableException("The model is still loading. Try again shortly.")
        return engine

    def close(self) -> None:
        for engine in self.engines.values():
            engine.close()
