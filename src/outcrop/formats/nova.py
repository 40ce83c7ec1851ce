"""Amazon Nova InvokeModel bodies (``schemaVersion: messages-v1``).

Nova's native body is Converse's shape with JSON-friendly bytes: ``system`` (text blocks),
``messages`` (content blocks: text, image/video/document with base64 ``bytes``, toolUse,
toolResult, reasoningContent), ``inferenceConfig`` (Nova 1 spells ``max_new_tokens``,
``top_p``, ``top_k``; Nova 2 ``maxTokens``, ``topP``, ``topK``; both are read) and
``toolConfig``. Response: ``{"output": {"message": {"role", "content"}}, "stopReason",
"usage"}``; stream chunks are Converse's events as JSON (``messageStart``,
``contentBlockStart``/``Delta``/``Stop``, ``messageStop``, ``metadata``), the last one with
invocation metrics.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from ..catalog import ModelRef
from ..conversation import Block, Conversation, Finished, InferenceParams, Message
from ..protocol.errors import ValidationException
from . import body_schema as s
from .codec import (
    METRICS_KEY,
    Chunk,
    Metrics,
    ParsedRequest,
    Source,
    TextCodec,
    random_id,
    raw_body,
)
from .converse import ConverseShapedRenderer, check_messages

DEFAULT_MAX_TOKENS = 5000  # Nova's documented default (and Nova 1's ceiling)

_TEXT_BLOCK = s.obj({"text": s.STRING}, ("text",))
_MEDIA = s.obj({"format": s.STRING, "source": s.OPEN_OBJECT, "name": s.STRING}, ("format", "source"))
_BLOCK = s.obj(
    {
        "text": s.STRING,
        "image": _MEDIA,
        "video": _MEDIA,
        "document": _MEDIA,
        "audio": _MEDIA,
        "toolUse": s.obj(
            {"toolUseId": s.STRING, "name": s.STRING, "input": s.ANY, "type": s.STRING},
            ("toolUseId", "name", "input"),
        ),
        "toolResult": s.obj(
            {
                "toolUseId": s.STRING,
                "content": {"type": "array", "items": s.OPEN_OBJECT},
                "status": {"type": "string", "enum": ["success", "error"]},
            },
            ("toolUseId", "content"),
        ),
        "reasoningContent": s.obj(
            {"reasoningText": s.obj({"text": s.STRING, "signature": s.STRING}), "redactedContent": s.STRING}
        ),
        "cachePoint": s.OPEN_OBJECT,
        "guardContent": s.obj(
            {"text": s.obj({"text": s.STRING, "qualifiers": s.strings()}), "image": s.OPEN_OBJECT}
        ),
    },
)
_MESSAGE = s.obj(
    {
        "role": {"type": "string", "enum": ["user", "assistant"]},
        "content": {"type": "array", "items": _BLOCK},
    },
    ("role", "content"),
)
SCHEMA = s.obj(
    {
        "schemaVersion": {"type": "string", "enum": ["messages-v1"]},
        "system": {"type": "array", "items": _TEXT_BLOCK},
        "messages": {"type": "array", "items": _MESSAGE},
        "inferenceConfig": s.obj(
            {
                "max_new_tokens": s.integer(1),
                "maxTokens": s.integer(1),
                "temperature": s.number(0, 1),
                "top_p": s.number(0, 1),
                "topP": s.number(0, 1),
                "top_k": s.integer(0, 128),
                "topK": s.integer(0, 128),
                "stopSequences": s.strings(4),
                "reasoningConfig": s.OPEN_OBJECT,
            }
        ),
        "toolConfig": s.obj(
            {"tools": {"type": "array", "items": s.OPEN_OBJECT}, "toolChoice": s.OPEN_OBJECT}, ("tools",)
        ),
        "additionalModelRequestFields": s.OPEN_OBJECT,
        "reasoningConfig": s.OPEN_OBJECT,
    },
    ("messages",),
)


def _bytes(source: Any) -> bytes:
    data = (source or {}).get("bytes") if isinstance(source, dict) else None
    if not isinstance(data, str):
        return b""
    try:
        return base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        return b""


def _block(block: dict[str, Any]) -> Block | None:
    """Nova's JSON content block → the Converse block (bytes decoded from base64)."""
    for media in ("image", "video", "document", "audio"):
        if media in block and isinstance(block[media], dict):
            item = dict(block[media])
            if "bytes" in (item.get("source") or {}):
                item["source"] = {"bytes": _bytes(item.get("source"))}
            return {media: item}
    if "toolResult" in block and isinstance(block["toolResult"], dict):
        result = dict(block["toolResult"])
        result["content"] = [c for c in result.get("content") or [] if isinstance(c, dict)]
        return {"toolResult": result}
    if "cachePoint" in block:
        return None
    return dict(block)


def stop_reason(done: Finished) -> str:
    return done.stop_reason


def _usage(done: Finished) -> dict[str, int]:
    return {
        "inputTokens": done.input_tokens,
        "outputTokens": done.output_tokens,
        "totalTokens": done.input_tokens + done.output_tokens,
        "cacheReadInputTokenCount": 0,
        "cacheWriteInputTokenCount": 0,
    }


class NovaRenderer(ConverseShapedRenderer):
    def finish(self, done: Finished, metrics: Metrics) -> list[Chunk]:
        return [
            *self._close(),
            {"messageStop": {"stopReason": stop_reason(done)}},
            {"metadata": {"usage": _usage(done), "metrics": {}, "trace": {}}, METRICS_KEY: metrics},
        ]

    def body(self, done: Finished, metrics: Metrics) -> dict[str, Any]:
        return {
            "output": {"message": {"content": self.content(), "role": "assistant"}},
            "stopReason": stop_reason(done),
            "usage": _usage(done),
        }


def _first(config: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in config:
            return config[key]
    return None


class NovaCodec(TextCodec):
    name = "amazon-nova"

    def parse(self, source: Source, ref: ModelRef, *, streaming: bool = False) -> ParsedRequest:
        raw = raw_body(source)
        body = s.load_body(raw)
        s.check(body, SCHEMA)
        messages = [
            Message(m["role"], [b for b in (_block(x) for x in m["content"]) if b is not None])
            for m in body["messages"]
        ]
        check_messages(messages, has_tool_config=body.get("toolConfig") is not None)
        config = body.get("inferenceConfig") or {}
        tool_config = body.get("toolConfig")
        if tool_config is not None:
            for tool in tool_config["tools"]:
                schema = ((tool.get("toolSpec") or {}).get("inputSchema") or {}).get("json")
                if isinstance(schema, str):  # some clients send the schema as a JSON string
                    try:
                        tool["toolSpec"]["inputSchema"]["json"] = json.loads(schema)
                    except (json.JSONDecodeError, RecursionError):
                        raise ValidationException(
                            "Malformed input request: #/toolConfig: invalid tool input schema, please "
                            "reformat your input and try again."
                        ) from None
        reasoning = body.get("reasoningConfig") or config.get("reasoningConfig") or {}
        params = InferenceParams(
            max_tokens=_first(config, "maxTokens", "max_new_tokens") or DEFAULT_MAX_TOKENS,
            temperature=config.get("temperature"),
            top_p=_first(config, "topP", "top_p"),
            top_k=_first(config, "topK", "top_k"),
            stop_sequences=list(config.get("stopSequences") or []),
        )
        conversation = Conversation(
            messages=messages,
            system=[{"text": b["text"]} for b in body.get("system") or []],
            tool_config=tool_config,
            params=params,
        )
        asked = reasoning.get("type") == "enabled"
        return ParsedRequest(conversation, reasoning=asked, reasoning_requested=asked)

    def renderer(self, request: ParsedRequest, ref: ModelRef) -> NovaRenderer:
        return NovaRenderer()

    def new_tool_use_id(self) -> str:
        return random_id("tooluse_", 22)
