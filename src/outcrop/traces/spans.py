"""One OpenTelemetry span per invocation, with the GenAI semantic conventions, exported over OTLP
(HTTP/protobuf) when the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set; without it nothing is installed, so tracing costs
nothing when off.

Spans are made from the completion hook's record, with the invocation's own start and end times,
so no step of the pipeline carries tracing code.
"""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING, Any

from ..invocation.record import InvocationRecord

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger("outcrop.traces")

PROVIDER = "aws.bedrock"
# Bedrock operations and the GenAI operation each performs.
OPERATIONS = {
    "Converse": "chat",
    "ConverseStream": "chat",
    "InvokeModel": "chat",
    "InvokeModelWithResponseStream": "chat",
}


def tracing_wanted(env: dict[str, str] | None = None) -> bool:
    env = dict(os.environ) if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true" or env.get("OTEL_TRACES_EXPORTER") == "none":
        return False
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def _request_parameters(record: InvocationRecord) -> dict[str, Any]:
    """Sampling parameters as the request set them (Converse's inferenceConfig, or the common
    keys of an InvokeModel body)."""
    request = record.request
    if isinstance(request, dict):
        config = request.get("inferenceConfig") or {}
        return {
            "max_tokens": config.get("maxTokens"),
            "temperature": config.get("temperature"),
            "top_p": config.get("topP"),
        }
    if isinstance(request, bytes | bytearray):
        try:
            body = json.loads(request)
        except ValueError:
            return {}
        if isinstance(body, dict):
            return {
                "max_tokens": body.get("max_tokens") or body.get("max_gen_len"),
                "temperature": body.get("temperature"),
                "top_p": body.get("top_p"),
            }
    return {}


class Tracer:
    def __init__(self, service_name: str = "outcrop") -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME", service_name)})
        self.provider: TracerProvider = TracerProvider(resource=resource)
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        self.tracer = self.provider.get_tracer("outcrop")

    def observe(self, record: InvocationRecord) -> None:
        """The completion hook: one span, timed as the invocation was."""
        from opentelemetry.trace import SpanKind, Status, StatusCode

        operation = OPERATIONS.get(record.operation)
        if operation is None:
            return
        start = int(record.started_at.timestamp() * 1e9)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": PROVIDER,
            "gen_ai.system": PROVIDER,  # the attribute's name before semconv 1.37
            "gen_ai.request.model": record.model_id,
            "gen_ai.response.model": record.resolved_model_id or record.model_id,
            "gen_ai.response.id": record.request_id,
            "gen_ai.usage.input_tokens": record.input_tokens,
            "gen_ai.usage.output_tokens": record.output_tokens,
            "aws.request_id": record.request_id,
            "aws.bedrock.operation": record.operation,
            "outcrop.served_model": record.served_model or "",
            "outcrop.source": record.source,
            "outcrop.identity": record.identity.user or record.identity.kind,
        }
        if record.stop_reason:
            attributes["gen_ai.response.finish_reasons"] = [record.stop_reason]
        if record.profile_arn:
            attributes["aws.bedrock.inference_profile.arn"] = record.profile_arn
        if record.first_token_ms is not None:
            attributes["outcrop.time_to_first_token_ms"] = record.first_token_ms
        for key, value in _request_parameters(record).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                attributes[f"gen_ai.request.{key}"] = value
        span = self.tracer.start_span(
            f"{operation} {record.model_id}", kind=SpanKind.SERVER, start_time=start, attributes=attributes
        )
        if record.error_code:
            span.set_attribute("error.type", record.error_code)
            span.set_status(Status(StatusCode.ERROR, record.error_message or record.error_code))
        span.end(end_time=start + record.latency_ms * 1_000_000)

    def close(self) -> None:
        try:
            self.provider.shutdown()  # sends what is batched
        except Exception:  # a collector gone at shutdown must not stop the server stopping
            log.warning("could not send the last traces", exc_info=True)
