"""OpenAI Chat Completions bodies: gpt-oss and Bedrock's other OpenAI-compatible models.

OpenAI's gpt-oss, Qwen 3, Google Gemma 3, MiniMax, Moonshot Kimi, NVIDIA Nemotron and
Mistral's newer models (Ministral 3, Magistral, Voxtral, Mistral Large 3) take OpenAI's Chat
Completions request in InvokeModel (``messages``, ``max_completion_tokens``/``max_tokens``,
``temperature``, ``top_p``, ``stop``, ``tools``, ``tool_choice``, ``response_format``) and
answer with a ``chat.completion`` object; the stream is ``chat.completion.chunk`` objects whose
``choices[0].delta`` carries the text or tool-call pieces, the last one the ``finish_reason``,
``usage`` and invocation metrics. gpt-oss reasoning, when the model produces it, is returned
inside ``content`` wrapped in ``<reasoning>…</reasoning>``, as Bedrock does.
"""

from __future__ import annotations

import json
from typing import Any

from ..catalog import ModelRef
from ..conversation import Conversation, Finished, InferenceParams, Message, Started
from ..protocol.errors import ValidationException
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
    now,
    random_id,
    raw_body,
)

DEFAULT_MAX_TOKENS = 1024

MESSAGE = s.obj(
    {
        "role": {"type": "string", "enum": ["system", "developer", "user", "assistant", "tool"]},
        "content": s.ANY,
        "name": s.STRING,
        "tool_calls": {"type": "array"},
        "tool_call_id": s.STRING,
        "reasoning_content": s.ANY,
        "reasoning": s.ANY,
        "refusal": s.ANY,
    },
    ("role",),
)
PROPERTIES: dict[str, s.Schema] = {
    "messages": {"type": "array", "items": MESSAGE, "minItems": 1},
    "model": s.STRING,
    "max_tokens": s.integer(1),
    "max_completion_tokens": s.integer(1),
    "temperature": s.number(0, 2),
    "top_p": s.number(0, 1),
    "top_k": s.integer(-1),
    "stop": {"anyOf": [s.STRING, s.strings(4)]},
    "stream": s.BOOLEAN,
    "stream_options": s.OPEN_OBJECT,
    "n": s.integer(1, 16),
    "seed": s.integer(),
    "tools": {"type": "array", "items": s.OPEN_OBJECT},
    "tool_choice": {"anyOf": [{"type": "string", "enum": ["auto", "none", "required"]}, s.OPEN_OBJECT]},
    "parallel_tool_calls": s.BOOLEAN,
    "response_format": s.OPEN_OBJECT,
    "reasoning_effort": {"type": "string", "enum": ["minimal", "low", "medium", "high"]},
    "frequency_penalty": s.number(-2, 2),
    "presence_penalty": s.number(-2, 2),
    "logprobs": s.BOOLEAN,
    "top_logprobs": s.integer(0, 20),
    "user": s.STRING,
    "metadata": s.OPEN_OBJECT,
}
SCHEMA = s.obj(PROPERTIES, ("messages",))


def finish_reason(done: Finished) -> str:
    return {"max_tokens": "length", "tool_use": "tool_calls"}.get(done.stop_reason, "stop")


def _tool_call(call: ToolCallOut) -> dict[str, Any]:
    # A call cut off by max tokens keeps its arguments as the model wrote them, as OpenAI does.
    arguments = json.dumps(call.input, ensure_ascii=False) if call.complete else call.arguments
    function = {"name": call.name, "arguments": arguments}
    return {"id": call.tool_use_id, "type": "function", "function": function}


class ChatCompletionRenderer(Collector):
    """``chat.completion`` bodies and ``chat.completion.chunk`` stream chunks."""

    def __init__(self, completion_id: str, model: str, *, reasoning_tags: bool = False) -> None:
        super().__init__()
        self.completion_id = completion_id
        self.model = model
        self.created = now()
        self.reasoning_tags = reasoning_tags
        self._in_reasoning = False
        self._tool_index = -1

    def _chunk(self, delta: dict[str, Any], reason: str | None = None) -> Chunk:
        return {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": reason}],
        }

    def start(self, started: Started) -> list[Chunk]:
        super().start(started)
        return [self._chunk({"role": "assistant", "content": ""})]

    def _end_reasoning(self) -> list[Chunk]:
        if not self._in_reasoning:
            return []
        self._in_reasoning = False
        return [self._chunk({"content": "</reasoning>"})] if self.reasoning_tags else []

    def on_reasoning(self, text: str) -> list[Chunk]:
        if self.reasoning_tags:
            opener = "" if self._in_reasoning else "<reasoning>"
            self._in_reasoning = True
            return [self._chunk({"content": opener + text})]
        self._in_reasoning = True
        return [self._chunk({"reasoning_content": text})]

    def on_text(self, text: str) -> list[Chunk]:
        return [*self._end_reasoning(), self._chunk({"content": text})]

    def on_tool_start(self, tool_use_id: str, name: str) -> list[Chunk]:
        self._tool_index += 1
        call = {
            "index": self._tool_index,
            "id": tool_use_id,
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        return [*self._end_reasoning(), self._chunk({"tool_calls": [call]})]

    def on_tool_delta(self, json_text: str) -> list[Chunk]:
        call = {"index": self._tool_index, "function": {"arguments": json_text}}
        return [self._chunk({"tool_calls": [call]})]

    def usage(self, done: Finished) -> dict[str, int]:
        return {
            "prompt_tokens": done.input_tokens,
            "completion_tokens": done.output_tokens,
            "total_tokens": done.input_tokens + done.output_tokens,
        }

    def finish(self, done: Finished, metrics: Metrics) -> list[Chunk]:
        chunk = self._chunk({}, finish_reason(done))
        chunk["usage"] = self.usage(done)
        chunk[METRICS_KEY] = metrics
        return [*self._end_reasoning(), chunk]

    def message(self) -> dict[str, Any]:
        content = self.text
        message: dict[str, Any] = {"role": "assistant"}
        if self.reasoning and self.reasoning_tags:
            content = f"<reasoning>{self.reasoning}</reasoning>{content}"
        elif self.reasoning:
            message["reasoning_content"] = self.reasoning
        message["content"] = content if content or not self.calls else None
        if self.calls:
            message["tool_calls"] = [_tool_call(c) for c in self.calls]
        return message

    def body(self, done: Finished, metrics: Metrics) -> dict[str, Any]:
        return {
            "id": self.completion_id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": self.message(), "finish_reason": finish_reason(done)}],
            "usage": self.usage(done),
        }


def conversation_from_chat(body: dict[str, Any], max_tokens: int | None, default_max: int) -> Conversation:
    system, messages = messages_from_chat(body["messages"])
    if not messages:
        raise ValidationException("The messages list must contain at least one user message.")
    if messages[0].role != "user":
        messages.insert(0, Message("user", [{"text": "…"}]))
    return Conversation(
        messages=messages,
        system=system,
        tool_config=tool_config_from_chat(body.get("tools"), body.get("tool_choice")),
        params=InferenceParams(
            max_tokens=max_tokens or default_max,
            temperature=body.get("temperature"),
            top_p=body.get("top_p"),
            top_k=body.get("top_k") if (body.get("top_k") or 0) > 0 else None,
            stop_sequences=stop_list(body.get("stop")),
            grammar=response_grammar(body.get("response_format")),
        ),
    )


class ChatCompletionsCodec(TextCodec):
    name = "openai-chat"

    def parse(self, source: Source, ref: ModelRef, *, streaming: bool = False) -> ParsedRequest:
        raw = raw_body(source)
        body = s.load_body(raw)
        s.check(body, SCHEMA)
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        conversation = conversation_from_chat(body, max_tokens, DEFAULT_MAX_TOKENS)
        reasoning = ref.provider in ("OpenAI", "Qwen")
        return ParsedRequest(conversation, reasoning=reasoning, choices=int(body.get("n", 1)))

    def renderer(self, request: ParsedRequest, ref: ModelRef) -> ChatCompletionRenderer:
        return ChatCompletionRenderer(
            random_id("chatcmpl-", 32), ref.model_id, reasoning_tags=ref.provider == "OpenAI"
        )

    def new_tool_use_id(self) -> str:
        return random_id("chatcmpl-tool-", 32)

    def merge_choices(self, bodies: list[dict[str, Any]], done: Finished) -> dict[str, Any]:
        return merge_choices(bodies, done)


def merge_choices(bodies: list[dict[str, Any]], done: Finished) -> dict[str, Any]:
    """``n`` answers to one prompt as one body: every answer's choice, usage summed."""
    out = bodies[0]
    out["choices"] = [{**b["choices"][0], "index": i} for i, b in enumerate(bodies)]
    if "usage" in out:
        out["usage"]["completion_tokens"] = done.output_tokens
        out["usage"]["total_tokens"] = done.input_tokens + done.output_tokens
    return out
