"""Mistral AI InvokeModel bodies: the text-completion form and Mistral Large's chat form.

Text form (Mistral 7B, Mixtral 8x7B, Mistral Large 24.02, Mistral Small 24.02):
``{"prompt": "<s>[INST] … [/INST]", "max_tokens", "stop", "temperature", "top_p", "top_k"}`` →
``{"outputs": [{"text", "stop_reason": "stop"|"length"}]}``; stream chunks have the same shape
and the last one carries the stop reason and invocation metrics.

Chat form (Mistral Large 24.07, Pixtral Large; a body with ``messages``): OpenAI-style
``messages``/``tools``/``tool_choice`` → ``{"choices": [{"index", "message": {"role",
"content", "tool_calls"}, "stop_reason": "stop"|"length"|"tool_calls"}]}``; tool calls carry
Mistral's 9-character ids and JSON-string arguments.
"""

from __future__ import annotations

import json
from typing import Any

from ..catalog import ModelRef
from ..conversation import Conversation, Finished, InferenceParams
from . import body_schema as s
from .chat_messages import messages_from_chat, response_grammar, stop_list, tool_config_from_chat
from .codec import (
    METRICS_KEY,
    Chunk,
    Collector,
    Metrics,
    ParsedRequest,
    Source,
    TextCodec,
    ToolCallOut,
    random_id,
    raw_body,
)
from .prompt_markup import conversation_from_prompt

DEFAULT_MAX_TOKENS = 512
# Models that take the chat form (they also accept a plain prompt).
CHAT_MODELS = ("mistral.mistral-large-2407", "mistral.pixtral-large")

TEXT_SCHEMA = s.obj(
    {
        "prompt": s.STRING,
        "max_tokens": s.integer(1, 8192),
        "stop": s.strings(10),
        "temperature": s.number(0, 1),
        "top_p": s.number(0, 1),
        "top_k": s.integer(0, 200),
    },
    ("prompt",),
)
_MESSAGE = s.obj(
    {
        "role": {"type": "string", "enum": ["system", "user", "assistant", "tool"]},
        "content": s.ANY,
        "tool_calls": {"type": "array"},
        "tool_call_id": s.STRING,
        "name": s.STRING,
        "prefix": s.BOOLEAN,
    },
    ("role",),
)
CHAT_SCHEMA = s.obj(
    {
        "messages": {"type": "array", "items": _MESSAGE, "minItems": 1},
        "tools": {"type": "array", "items": s.OPEN_OBJECT},
        "tool_choice": {"anyOf": [{"type": "string", "enum": ["auto", "any", "none"]}, s.OPEN_OBJECT]},
        "max_tokens": s.integer(1, 128000),
        "temperature": s.number(0, 1),
        "top_p": s.number(0, 1),
        "stop": {"anyOf": [s.STRING, s.strings(10)]},
        "response_format": s.OPEN_OBJECT,
        "random_seed": s.integer(0),
        "safe_prompt": s.BOOLEAN,
    },
    ("messages",),
)


def stop_reason(done: Finished) -> str:
    return {"max_tokens": "length", "tool_use": "tool_calls"}.get(done.stop_reason, "stop")


class MistralTextRenderer(Collector):
    def on_text(self, text: str) -> list[Chunk]:
        return [{"outputs": [{"text": text, "stop_reason": None}]}]

    def finish(self, done: Finished, metrics: Metrics) -> list[Chunk]:
        return [{"outputs": [{"text": "", "stop_reason": stop_reason(done)}], METRICS_KEY: metrics}]

    def body(self, done: Finished, metrics: Metrics) -> dict[str, Any]:
        return {"outputs": [{"text": self.text, "stop_reason": stop_reason(done)}]}


def _tool_call(call: ToolCallOut) -> dict[str, Any]:
    # A call cut off by max_tokens keeps its arguments as the model wrote them (OpenAI-style).
    arguments = json.dumps(call.input, ensure_ascii=False) if call.complete else call.arguments
    return {"id": call.tool_use_id, "function": {"name": call.name, "arguments": arguments}}


class MistralChatRenderer(Collector):
    def _chunk(self, message: dict[str, Any], reason: str | None) -> Chunk:
        return {"choices": [{"index": 0, "message": {"role": "assistant", **message}, "stop_reason": reason}]}

    def on_text(self, text: str) -> list[Chunk]:
        return [self._chunk({"content": text}, None)]

    def on_tool_end(self, call: ToolCallOut | None) -> list[Chunk]:
        if call is None:
            return []
        return [self._chunk({"content": "", "tool_calls": [_tool_call(call)]}, None)]

    def finish(self, done: Finished, metrics: Metrics) -> list[Chunk]:
        chunk = self._chunk({"content": ""}, stop_reason(done))
        chunk[METRICS_KEY] = metrics
        return [chunk]

    def body(self, done: Finished, metrics: Metrics) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.text}
        if self.calls:
            message["tool_calls"] = [_tool_call(c) for c in self.calls]
        return {"choices": [{"index": 0, "message": message, "stop_reason": stop_reason(done)}]}


class MistralCodec(TextCodec):
    name = "mistral"

    def parse(self, source: Source, ref: ModelRef, *, streaming: bool = False) -> ParsedRequest:
        raw = raw_body(source)
        body = s.load_body(raw)
        chat = ref.model_id.startswith(CHAT_MODELS) and isinstance(body, dict) and "messages" in body
        if not chat:
            s.check(body, TEXT_SCHEMA)
            params = InferenceParams(
                max_tokens=body.get("max_tokens", DEFAULT_MAX_TOKENS),
                temperature=body.get("temperature"),
                top_p=body.get("top_p"),
                top_k=body.get("top_k"),
                stop_sequences=list(body.get("stop") or []),
            )
            return ParsedRequest(conversation_from_prompt(body["prompt"], params), options={"chat": False})
        s.check(body, CHAT_SCHEMA)
        system, messages = messages_from_chat(body["messages"])
        if not messages or messages[0].role != "user":
            messages.insert(0, messages_from_chat([{"role": "user", "content": "…"}])[1][0])
        params = InferenceParams(
            max_tokens=body.get("max_tokens", DEFAULT_MAX_TOKENS),
            temperature=body.get("temperature"),
            top_p=body.get("top_p"),
            stop_sequences=stop_list(body.get("stop")),
            grammar=response_grammar(body.get("response_format")),
        )
        conversation = Conversation(
            messages=messages,
            system=system,
            tool_config=tool_config_from_chat(body.get("tools"), body.get("tool_choice")),
            params=params,
        )
        return ParsedRequest(conversation, options={"chat": True})

    def renderer(self, request: ParsedRequest, ref: ModelRef) -> MistralChatRenderer | MistralTextRenderer:
        return MistralChatRenderer() if request.options.get("chat") else MistralTextRenderer()

    def new_tool_use_id(self) -> str:
        return random_id("", 9)
