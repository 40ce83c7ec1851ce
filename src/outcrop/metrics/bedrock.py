"""AWS/Bedrock's CloudWatch metrics, as Prometheus metrics: the same names and the ``ModelId``
dimension, from the pipeline's completion hook (every invocation, whatever API, job or page it came
from, is seen once).

Names are ``bedrock_<AWS metric name>`` (``_total`` added to counters, as Prometheus does);
latencies are histograms in milliseconds, AWS's unit. Besides ``ModelId`` (the model id or
profile as the caller sent it, as AWS reports it), every series carries ``InferenceProfile`` (the
application or system profile the call went through, "" if none) and ``Identity`` (the IAM user,
"root" for the account's keys, "anonymous" in open mode).

Counted as AWS's current documentation counts them: CountTokens is not an invocation;
``Invocations`` counts calls accepted for processing (those that later failed included, not those
throttled or refused as invalid input); a throttled call counts in ``InvocationThrottles`` only;
errors in ``InvocationClientErrors`` (4xx) or ``InvocationServerErrors`` (5xx); tokens, latency
and ``EstimatedTPMQuotaUsage`` for successful calls; ``TimeToFirstToken`` for streams only.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from ..invocation.record import InvocationRecord
from ..quotas.burndown import output_weight

LOGGED_OPERATIONS = frozenset({"Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream"})
STREAMS = frozenset({"ConverseStream", "InvokeModelWithResponseStream"})
LABELS = ("ModelId", "InferenceProfile", "Identity")
# Milliseconds: from a one-token answer on a small CPU model to a long generation.
LATENCY_BUCKETS = (50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 120_000, 300_000)


class BedrockMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._children: dict[tuple[str, str, str], dict[str, Any]] = {}

        def counter(name: str, doc: str) -> Counter:
            return Counter(f"bedrock_{name}", doc, LABELS, registry=registry)

        def histogram(name: str, doc: str) -> Histogram:
            return Histogram(
                f"bedrock_{name}_milliseconds", doc, LABELS, registry=registry, buckets=LATENCY_BUCKETS
            )

        self.invocations = counter(
            "Invocations", "Converse, ConverseStream, InvokeModel and stream calls accepted."
        )
        self.client_errors = counter(
            "InvocationClientErrors", "Invocations that ended in a client error (4xx)."
        )
        self.server_errors = counter(
            "InvocationServerErrors", "Invocations that ended in a server error (5xx)."
        )
        self.throttles = counter("InvocationThrottles", "Invocations refused with ThrottlingException.")
        self.input_tokens = counter("InputTokenCount", "Input tokens, as billed.")
        self.output_tokens = counter("OutputTokenCount", "Output tokens.")
        self.cache_read = counter("CacheReadInputTokens", "Input tokens read from the prompt cache.")
        self.cache_write = counter("CacheWriteInputTokens", "Input tokens written to the prompt cache.")
        self.tpm_usage = counter(
            "EstimatedTPMQuotaUsage",
            "Tokens-per-minute quota used: input + cache write + output x the model's burndown rate.",
        )
        self.cost = Counter(
            "outcrop_estimated_cost_usd",
            "What the invocations would have cost on Bedrock on demand (catalog/data/prices.json).",
            LABELS,
            registry=registry,
        )
        self.latency = histogram("InvocationLatency", "Time from request to the last byte of the answer.")
        self.first_token = histogram("TimeToFirstToken", "Time from request to the first generated token.")

    def _series(self, labels: tuple[str, str, str]) -> dict[str, Any]:
        """Every metric's series for one label set, looked up once (labels() costs microseconds)."""
        series = self._children.get(labels)
        if series is None:
            series = self._children[labels] = {
                name: getattr(self, name).labels(*labels)
                for name in (
                    "invocations", "client_errors", "server_errors", "throttles", "input_tokens",
                    "output_tokens", "cache_read", "cache_write", "tpm_usage", "cost", "latency",
                    "first_token",
                )
            }  # fmt: skip
        return series

    def observe(self, record: InvocationRecord) -> None:
        """The completion hook."""
        if record.operation not in LOGGED_OPERATIONS:
            return
        user = record.identity.user or ("anonymous" if record.identity.kind == "anonymous" else "root")
        series = self._series((record.model_id, record.profile_arn or "", user))
        if record.error_code == "ThrottlingException":
            series["throttles"].inc()
            return
        if record.error_code != "ValidationException":
            series["invocations"].inc()
        if record.error_code is not None:
            server = (record.error_status or 500) >= 500
            series["server_errors" if server else "client_errors"].inc()
            return
        series["input_tokens"].inc(record.input_tokens)
        series["output_tokens"].inc(record.output_tokens)
        series["cache_read"].inc(record.cache_read_tokens)
        series["cache_write"].inc(record.cache_write_tokens)
        weight = output_weight(record.resolved_model_id or record.model_id)
        used = record.input_tokens + record.cache_write_tokens + record.output_tokens * weight
        series["tpm_usage"].inc(used)
        if record.estimated_cost_usd is not None:
            series["cost"].inc(record.estimated_cost_usd)
        series["latency"].observe(record.latency_ms)
        if record.first_token_ms is not None and record.operation in STREAMS:
            series["first_token"].observe(record.first_token_ms)
