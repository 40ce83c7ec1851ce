"""AI21 Labs Jamba 1.5 InvokeModel bodies: OpenAI-like ``messages`` → ``choices[]``.

Request: ``{"messages", "documents", "tools", "response_format", "n", "max_tokens",
"temperature", "top_p", "stop", "frequency_penalty", "presence_penalty"}``; ``documents``
(``{"content", "metadata": [{"key", "value"}]}``) are given to the model as grounding text.
Response: ``{"id", "choices": [{"index", "message": {"role", "content", "tool_calls"},
"finish_reason"}], "usage", "meta", "model"}``; stream chunks are ``choices[0].delta``
pieces, the last one with ``finish_reason``, usage and invocation metrics.
"""

from __future__ import annotations

from typing import Any

from ..catalog import ModelRef
from ..conversation import Finished
from . import body_schema as s
from .codec import Metrics, ParsedRequest, Source, TextCodec, raw_body, request_uuid
from .openai import MESSAGE, ChatCompletionRenderer, conversation_from_chat, merge_choices

DEFAULT_MAX_TOKENS = 4096
_DOCUMENT = s.obj(
    {"content": s.STRING, "metadata": {"type": "array", "items": s.OPEN_OBJECT}, "id": s.STRING}
)
SCHEMA = s.obj(
    {
        "messages": {"type": "array", "items": MESSAGE, "minItems": 1},
        "documents": {"type": "array", "items": _DOCUMENT},
        "tools": {"type": "array", "items": s.OPEN_OBJECT},
        "tool_choice": s.ANY,
        "response_format": s.OPEN_OBJECT,
        "n": s.integer(1, 16),
        "max_tokens": s.integer(1, 4096),
        "temperature": s.number(0, 2),
        "top_p": s.number(0, 1),
        "stop": {"anyOf": [s.STRING, s.strings()]},
        "frequency_penalty": s.number(),
        "presence_penalty": s.number(),
        "stream": s.BOOLEAN,
    },
    ("messages",),
)


def _documents(documents: list[dict[str, Any]]) -> str:
    lines = ["Documents:"]
    for i, document in enumerate(documents):
        meta = ", ".join(
            f"{m.get('key')}: {m.get('value')}" for m in document.get("metadata") or [] if isinstance(m, dict)
        )
        lines.append(f"[{i}]{' (' + meta + ')' if meta else ''} {document.get('content', '')}")
    return "\n".join(lines)


class JambaRenderer(ChatCompletionRenderer):
    def body(self, done: Finished, metrics: Metrics) -> dict[str, Any]:
        out = super().body(done, metrics)
        out.pop("object")
        out.pop("created")
        out["choices"][0]["logprobs"] = None
        out["meta"] = {"requestDurationMillis": metrics.get("invocationLatency", 0)}
        return out


class JambaCodec(TextCodec):
    name = "ai21-jamba"

    def parse(self, source: Source, ref: ModelRef, *, streaming: bool = False) -> ParsedRequest:
        raw = raw_body(source)
        body = s.load_body(raw)
        s.check(body, SCHEMA)
        conversation = conversation_from_chat(body, body.get("max_tokens"), DEFAULT_MAX_TOKENS)
        if body.get("documents"):
            conversation.system.append({"text": _documents(body["documents"])})
        return ParsedRequest(conversation, choices=int(body.get("n", 1)))

    def renderer(self, request: ParsedRequest, ref: ModelRef) -> JambaRenderer:
        model = ref.model_id.removeprefix("ai21.").removesuffix("-v1:0")
        return JambaRenderer(f"chatcmpl-{request_uuid()}", model)

    def merge_choices(self, bodies: list[dict[str, Any]], done: Finished) -> dict[str, Any]:
        return merge_choices(bodies, done)
