"""``GET /metrics``: Bedrock's metrics (bedrock.py), then Outcrop's own, read when scraped.

Outcrop's own, per served model (``model`` label): ``outcrop_engine_loaded``,
``outcrop_engine_waiting`` (queue depth), ``outcrop_engine_active_sequences``,
``outcrop_engine_kv_used_tokens`` / ``outcrop_engine_kv_budget_tokens``,
``outcrop_engine_preemptions_total``, ``outcrop_engine_prompt_tokens_total`` and
``outcrop_engine_reused_prompt_tokens_total`` (their rates' ratio is the KV prefix-cache hit
ratio), ``outcrop_engine_generated_tokens_total`` (its rate is tokens per second); and
``outcrop_jobs`` (async invocations and batch jobs by kind and status).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..invocation.record import InvocationRecord
from .bedrock import BedrockMetrics

if TYPE_CHECKING:
    from ..services import Services

CONTENT_TYPE = CONTENT_TYPE_LATEST
disable_created_metrics()  # no `_created` series beside every counter: noise for Prometheus users


class _Engines(Collector):
    """The engines' state, read at each scrape (nothing to keep in step)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        gauges: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
            "loaded": GaugeMetricFamily(
                "outcrop_engine_loaded", "1 once the model is loaded.", labels=["model"]
            ),
            "waiting": GaugeMetricFamily(
                "outcrop_engine_waiting", "Generations waiting for room.", labels=["model"]
            ),
            "active_sequences": GaugeMetricFamily(
                "outcrop_engine_active_sequences", "Generations running now.", labels=["model"]
            ),
            "kv_used_tokens": GaugeMetricFamily(
                "outcrop_engine_kv_used_tokens", "KV-cache cells in use.", labels=["model"]
            ),
            "kv_budget_tokens": GaugeMetricFamily(
                "outcrop_engine_kv_budget_tokens", "KV-cache cells the model may use.", labels=["model"]
            ),
        }
        counters: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
            "preemptions": CounterMetricFamily(
                "outcrop_engine_preemptions",
                "Generations paused to make room in the KV cache.",
                labels=["model"],
            ),
            "prompt_tokens": CounterMetricFamily(
                "outcrop_engine_prompt_tokens", "Prompt tokens of admitted generations.", labels=["model"]
            ),
            "reused_prompt_tokens": CounterMetricFamily(
                "outcrop_engine_reused_prompt_tokens",
                "Prompt tokens whose KV was reused from a cached prefix.",
                labels=["model"],
            ),
        }
        for name, engine in self.services.engines.items():
            activity = engine.activity()
            gauges["loaded"].add_metric([name], 1.0 if engine.ready else 0.0)
            for key, family in (*gauges.items(), *counters.items()):
                if key != "loaded" and key in activity:
                    family.add_metric([name], float(activity[key]))
        yield from gauges.values()
        yield from counters.values()


class _Jobs(Collector):
    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        from ..store.jobs import ASYNC_INVOKE, BATCH_JOB

        family = GaugeMetricFamily("outcrop_jobs", "Jobs by kind and status.", labels=["kind", "status"])
        if "jobs" in self.services.__dict__:  # started (the server starts it; a bare Services may not)
            store = self.services.jobs.store
            for kind in (ASYNC_INVOKE, BATCH_JOB):
                counts: dict[str, int] = {}
                for doc in store.all(kind):
                    counts[doc.get("status", "")] = counts.get(doc.get("status", ""), 0) + 1
                for status, n in sorted(counts.items()):
                    family.add_metric([kind, status], float(n))
        yield family


class _LogDelivery(Collector):
    """Bedrock's log-delivery metrics: each delivery of invocation log records, by destination."""

    NAMES = {"s3": "S3", "cloudwatch": "CloudWatch"}

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        logs = self.services.invocation_logs
        for destination, name in self.NAMES.items():
            for outcome, counts in (("Success", logs.delivered), ("Failure", logs.failures)):
                family = CounterMetricFamily(
                    f"bedrock_ModelInvocationLogs{name}Delivery{outcome}",
                    f"Model invocation log records delivered to {name} ({outcome.lower()}: records "
                    "in a delivery that failed, counted at each attempt)."
                    if outcome == "Failure"
                    else f"Model invocation log records delivered to {name}.",
                )
                family.add_metric([], float(counts[destination]))
                yield family


class Metrics:
    def __init__(self, services: Services) -> None:
        self.registry = CollectorRegistry()
        self.bedrock = BedrockMetrics(self.registry)
        self.generated = Counter(
            "outcrop_engine_generated_tokens",
            "Tokens generated, by served model.",
            ["model"],
            registry=self.registry,
        )
        self.registry.register(_Engines(services))
        self.registry.register(_Jobs(services))
        self.registry.register(_LogDelivery(services))

    def observe(self, record: InvocationRecord) -> None:
        """The completion hook."""
        self.bedrock.observe(record)
        if record.served_model and record.output_tokens:
            self.generated.labels(record.served_model).inc(record.output_tokens)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
