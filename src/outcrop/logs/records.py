"""Bedrock's invocation log record (``schemaType: ModelInvocationLog``, ``schemaVersion: 1.0``),
built from the pipeline's record of one invocation, field for field as AWS writes it:

* ``input``/``output``: content type, the body (``inputBodyJson``/``outputBodyJson``), token counts
  (``inputTokenCount`` excludes cache reads and writes, given as ``cacheReadInputTokenCount`` and
  ``cacheWriteInputTokenCount``);
* Converse: the request without ``modelId`` and the response members; ConverseStream: one
  response assembled from the stream, as AWS logs it; InvokeModel: the model's own bodies;
  InvokeModelWithResponseStream: the list of the model's stream chunks;
* a failed call: ``errorCode`` and no ``output``; a call through a profile: ``inferenceRegion``;
* bodies only with ``textDataDeliveryEnabled`` (images and documents in them only with
  ``imageDataDeliveryEnabled``, embedding vectors only with ``embeddingDataDeliveryEnabled``);
  a body over 100 KB is delivered as its own gzipped object under ``…/<hour>/data/`` and the
  record points at it (``inputBodyS3Path``/``outputBodyS3Path``), as AWS does.
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..invocation.record import InvocationRecord
from .config import LoggingConfig, S3Destination

if TYPE_CHECKING:
    from ..jobs.objects import ObjectStore

LOGGED_OPERATIONS = frozenset({"Converse", "ConverseStream", "InvokeModel", "InvokeModelWithResponseStream"})
INLINE_LIMIT = 100 * 1024  # bytes of JSON a body may have inline


def identity_arn(record: InvocationRecord, settings: Settings) -> str:
    if record.identity.user:
        return f"arn:aws:iam::{settings.account_id}:user/{record.identity.user}"
    return f"arn:aws:iam::{settings.account_id}:root"


def blob(value: Any) -> str:
    """``json.dumps``' fallback: blobs in parsed members (image bytes) as base64, as they travel."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _body(raw: Any) -> Any:
    """An InvokeModel body (bytes) as JSON, or members as they are (blobs are encoded when the
    record is written: ``blob``)."""
    if isinstance(raw, bytes | bytearray):
        try:
            return json.loads(raw)
        except ValueError:
            return {"body": base64.b64encode(raw).decode()}  # not JSON: kept, base64
    return raw


def _without_binary(value: Any) -> Any:
    """Images, documents and videos' bytes taken out (image data delivery is off)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if (
                k in ("image", "document", "video")
                and isinstance(v, dict)
                and isinstance(v.get("source"), dict)
            ):
                v = {**v, "source": {key: val for key, val in v["source"].items() if key != "bytes"}}
            out[k] = _without_binary(v)
        return out
    if isinstance(value, list):
        return [_without_binary(v) for v in value]
    return value


def converse_stream_response(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """ConverseStream's events assembled into the Converse response they add up to."""
    role = "assistant"
    blocks: dict[int, dict[str, Any]] = {}
    out: dict[str, Any] = {}
    for chunk in chunks:
        for kind, payload in chunk.items():
            if kind == "messageStart":
                role = payload.get("role", role)
            elif kind == "contentBlockStart":
                start = payload.get("start", {})
                if "toolUse" in start:
                    blocks[payload["contentBlockIndex"]] = {"toolUse": {**start["toolUse"], "input": ""}}
            elif kind == "contentBlockDelta":
                _add_delta(blocks, payload["contentBlockIndex"], payload.get("delta", {}))
            elif kind == "messageStop":
                out["stopReason"] = payload.get("stopReason")
                if "additionalModelResponseFields" in payload:
                    out["additionalModelResponseFields"] = payload["additionalModelResponseFields"]
            elif kind == "metadata":
                out.update({k: v for k, v in payload.items() if k in ("usage", "metrics", "trace")})
    content = []
    for _, block in sorted(blocks.items()):
        if "toolUse" in block:
            text = block["toolUse"]["input"]
            try:
                block["toolUse"]["input"] = json.loads(text) if text else {}
            except ValueError:
                block["toolUse"]["input"] = text
        content.append(block)
    return {"output": {"message": {"role": role, "content": content}}, **out}


def _add_delta(blocks: dict[int, dict[str, Any]], index: int, delta: dict[str, Any]) -> None:
    block = blocks.setdefault(index, {})
    if "text" in delta:
        block["text"] = block.get("text", "") + delta["text"]
    elif "toolUse" in delta:
        block.setdefault("toolUse", {"input": ""})
        block["toolUse"]["input"] += delta["toolUse"].get("input", "")
    elif "reasoningContent" in delta:
        reasoning = block.setdefault("reasoningContent", {"reasoningText": {"text": ""}})
        part = delta["reasoningContent"]
        if "text" in part:
            reasoning["reasoningText"]["text"] += part["text"]
        if "signature" in part:
            reasoning["reasoningText"]["signature"] = part["signature"]
        if "redactedContent" in part:
            reasoning["redactedContent"] = part["redactedContent"]
    elif "citation" in delta:
        block.setdefault("citationsContent", {"citations": []})["citations"].append(delta["citation"])


def _is_embedding(body: Any) -> bool:
    return isinstance(body, dict) and (
        "embedding" in body or "embeddings" in body or "embeddingsByType" in body
    )


def log_record(record: InvocationRecord, settings: Settings, config: LoggingConfig) -> dict[str, Any]:
    out: dict[str, Any] = {
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": record.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "accountId": settings.account_id,
        "identity": {"arn": identity_arn(record, settings)},
        "region": settings.region,
        "requestId": record.request_id,
        "operation": record.operation,
        "modelId": record.model_id,
    }
    request = _body(record.request)
    if isinstance(request, dict) and record.operation in ("Converse", "ConverseStream"):
        request = {k: v for k, v in request.items() if k != "modelId"}
    source: dict[str, Any] = {
        "inputContentType": "application/json",
        "inputTokenCount": record.input_tokens,
        "cacheReadInputTokenCount": record.cache_read_tokens,
        "cacheWriteInputTokenCount": record.cache_write_tokens,
    }
    if config.text:
        source["inputBodyJson"] = request if config.image else _without_binary(request)
    out["input"] = source
    if record.error_code:
        out["errorCode"] = record.error_code
    else:
        response: Any = record.response
        if record.operation == "ConverseStream":
            response = converse_stream_response(response or [])
        elif record.operation == "InvokeModelWithResponseStream":
            response = [_body(chunk) for chunk in response or []]
        else:
            response = _body(response)
        result: dict[str, Any] = {
            "outputContentType": "application/json",
            "outputTokenCount": record.output_tokens,
        }
        if config.text and (config.embedding or not _is_embedding(response)):
            result["outputBodyJson"] = response
        out["output"] = result
    if record.profile_arn:
        out["inferenceRegion"] = settings.region  # the served model answers here, whatever the profile
    # Outcrop's own additions, under one key no Bedrock field uses.
    extra: dict[str, Any] = {"servedModel": record.served_model, "latencyMs": record.latency_ms}
    if record.estimated_cost_usd is not None:
        extra["estimatedCostUsd"] = round(record.estimated_cost_usd, 10)
    out["outcrop"] = extra
    return out


async def split_large(
    record: dict[str, Any], objects: ObjectStore, to: S3Destination, account: str, region: str, hour: str
) -> dict[str, Any]:
    """A body over the inline limit moved to its own object under ``…/<hour>/data/``; the record
    then names it (``inputBodyS3Path``/``outputBodyS3Path``) instead of holding it."""
    out = record
    for part, body_key, path_key, suffix in (
        ("input", "inputBodyJson", "inputBodyS3Path", "input"),
        ("output", "outputBodyJson", "outputBodyS3Path", "output"),
    ):
        section = record.get(part)
        if not isinstance(section, dict) or body_key not in section:
            continue
        data = json.dumps(section[body_key], separators=(",", ":"), default=blob).encode()
        if len(data) <= INLINE_LIMIT:
            continue
        key = to.key(
            "AWSLogs", account, "BedrockModelInvocationLogs", region, hour, "data",
            f"{record['requestId']}_{suffix}.json.gz",
        )  # fmt: skip
        await objects.put(to.bucket, key, gzip.compress(data), "application/x-gzip")
        moved = {k: v for k, v in section.items() if k != body_key}
        moved[path_key] = f"s3://{to.bucket}/{key}"
        out = {**out, part: moved}
    return out
