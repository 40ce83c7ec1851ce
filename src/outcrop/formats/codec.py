"""The interface every native InvokeModel body family implements, and what they share.

A family is a codec: ``parse`` turns the native request body into the canonical
``Conversation`` (checking it as Bedrock does, with Bedrock's messages), and ``renderer``
returns an object that turns the engine's answer events (text, reasoning, tool calls, then
``Finished``) into the family's response body (``body``) or its stream chunks (``start``,
``feed``, ``finish``; the API layer wraps each chunk dict in a Bedrock ``chunk`` frame).
This mirrors ``formats/anthropic.py`` (``parse_request`` + ``MessageRenderer``), so
``api/runtime/native.py`` drives every family with one loop.
"""

from __future__ import annotations

import secrets
import string
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..catalog import ModelRef
from ..conversation import Conversation
from ..engines.base import Finished, TextDelta
from ..engines.tool_run import AnswerEvent, ReasoningDelta, ToolInputDelta, ToolUseEnd, ToolUseStart

Chunk = dict[str, Any]
METRICS_KEY = "amazon-bedrock-invocationMetrics"
_ALNUM = string.ascii_letters + string.digits


@dataclass
class NativeRequest:
    """A parsed native body: the conversation, and what the response needs to echo."""

    conversation: Conversation
    reasoning: bool = False  # split a leading <think>…</think> into reasoning
    options: dict[str, Any] = field(default_factory=dict)


class Renderer(Protocol):
    def start(self, input_tokens: int) -> list[Chunk]: ...

    def feed(self, event: AnswerEvent) -> list[Chunk]: ...

    def finish(self, done: Finished, metrics: dict[str, int]) -> list[Chunk]: ...

    def body(self, done: Finished) -> dict[str, Any]: ...


class Codec(Protocol):
    name: str

    def parse(self, raw: bytes, ref: ModelRef) -> NativeRequest: ...

    def renderer(self, request: NativeRequest, ref: ModelRef) -> Renderer: ...

    def new_tool_use_id(self) -> str: ...


def random_id(prefix: str, length: int = 24, alphabet: str = _ALNUM) -> str:
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def request_uuid() -> str:
    return str(uuid.uuid4())


def now() -> int:
    return int(time.time())


@dataclass
class ToolCallOut:
    tool_use_id: str
    name: str
    input: dict[str, Any]
    arguments: str  # the JSON text as generated


class Collector:
    """Accumulates an answer (text, reasoning, tool calls) and turns each event into the
    family's chunks through ``on_text`` / ``on_reasoning`` / ``on_tool_*`` hooks, which
    families override; by default events only accumulate."""

    def __init__(self) -> None:
        self.text = ""
        self.reasoning = ""
        self.calls: list[ToolCallOut] = []
        self._open_call: tuple[str, str] | None = None
        self._args = ""
        self.input_tokens = 0

    def start(self, input_tokens: int) -> list[Chunk]:
        self.input_tokens = input_tokens
        return []

    def feed(self, event: AnswerEvent) -> list[Chunk]:
        if isinstance(event, TextDelta):
            self.text += event.text
            return self.on_text(event.text)
        if isinstance(event, ReasoningDelta):
            self.reasoning += event.text
            return self.on_reasoning(event.text)
        if isinstance(event, ToolUseStart):
            self._open_call = (event.tool_use_id, event.name)
            self._args = ""
            return self.on_tool_start(event.tool_use_id, event.name)
        if isinstance(event, ToolInputDelta):
            self._args += event.json
            return self.on_tool_delta(event.json)
        if isinstance(event, ToolUseEnd):
            opened, self._open_call = self._open_call, None
            if event.call is None or opened is None:
                return self.on_tool_end(None)
            call = ToolCallOut(opened[0], event.call.name, event.call.input, self._args)
            self.calls.append(call)
            return self.on_tool_end(call)
        return []

    # hooks ------------------------------------------------------------------------------
    def on_text(self, text: str) -> list[Chunk]:
        return []

    def on_reasoning(self, text: str) -> list[Chunk]:
        return []

    def on_tool_start(self, tool_use_id: str, name: str) -> list[Chunk]:
        return []

    def on_tool_delta(self, json_text: str) -> list[Chunk]:
        return []

    def on_tool_end(self, call: ToolCallOut | None) -> list[Chunk]:
        return []


def metrics_of(done: Finished, latency_ms: int, first_byte_ms: int) -> dict[str, int]:
    return {
        "inputTokenCount": done.input_tokens,
        "outputTokenCount": done.output_tokens,
        "invocationLatency": latency_ms,
        "firstByteLatency": first_byte_ms,
    }
