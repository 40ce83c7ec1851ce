"""The interface every wire format implements, and what the formats share.

A wire format is a codec: ``parse`` turns a request (an InvokeModel body, or Converse's input
members) into the canonical ``Conversation``, checking it as Bedrock does with Bedrock's
messages; ``renderer`` returns an object that turns the answer's events (``Started``, text,
reasoning, tool calls, then ``Finished``) into the format's response body (``body``) or its
stream chunks (``start``, ``feed``, ``finish``). Converse, Anthropic Messages, Nova, Titan, Llama,
Mistral, Cohere, AI21, DeepSeek and OpenAI chat completions are peers behind this interface;
``families.py`` decides which one reads a model's requests, and the invocation pipeline drives
every one of them the same way.
"""

from __future__ import annotations

import base64
import json
import secrets
import string
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..catalog import ModelRef
from ..conversation import (
    AnswerEvent,
    CitationDelta,
    Conversation,
    Finished,
    ReasoningDelta,
    Started,
    TextDelta,
    ToolInputDelta,
    ToolUseEnd,
    ToolUseStart,
)

Chunk = dict[str, Any]
Metrics = dict[str, int]  # Bedrock's amazon-bedrock-invocationMetrics
METRICS_KEY = "amazon-bedrock-invocationMetrics"
# Which runtime API a codec answers: Converse's response and events, or InvokeModel's body/chunks.
Api = Literal["converse", "invoke"]
# What a codec parses: an InvokeModel body (bytes), or Converse's input members.
Source = bytes | Mapping[str, Any]
# One event of an event stream: its type and its JSON payload.
WireEvent = tuple[str, dict[str, Any]]
Headers = list[tuple[str, str]]
# Outcrop's convenience header on non-streaming guarded InvokeModel (AWS says it only in the body).
GUARDRAIL_ACTION_HEADER = "x-amzn-bedrock-guardrailaction"
_ALNUM = string.ascii_letters + string.digits


@dataclass
class ParsedRequest:
    """A parsed request: the conversation, and what its answer needs to know or echo."""

    conversation: Conversation
    reasoning: bool = False  # reasoning goes in reasoning blocks (a leading <think>…</think>)
    # The request turned reasoning on itself (Claude's thinking, reasoningConfig): the answer
    # reasons first even when the model would not, within ``reasoning_budget`` tokens (None: the
    # default).
    reasoning_requested: bool = False
    reasoning_budget: int | None = None
    choices: int = 1  # answers to generate for the same prompt (chat completions' ``n``)
    options: dict[str, Any] = field(default_factory=dict)


class Renderer(Protocol):
    def open(self) -> list[Chunk]:
        """Chunks that go out before the engine answers (nothing in them depends on it)."""

    def start(self, started: Started) -> list[Chunk]: ...

    def feed(self, event: AnswerEvent) -> list[Chunk]: ...

    def finish(self, done: Finished, metrics: Metrics) -> list[Chunk]: ...

    def body(self, done: Finished, metrics: Metrics) -> dict[str, Any]: ...

    def annotate(self, target: Chunk, fields: dict[str, Any]) -> None:
        """Add members (a guardrail's action and trace) to a body or to the last chunk."""


class Codec(Protocol):
    """A wire format. ``api`` says which runtime API's conventions its answers follow: Converse
    (output members, typed stream events, ``guardrail_intervened`` as a stop reason, a guardrail
    trace) or InvokeModel (a body, ``chunk`` events, token-count headers, the guardrail's action
    and trace inside the body)."""

    name: str
    api: Api

    def parse(self, source: Source, ref: ModelRef, *, streaming: bool = False) -> ParsedRequest: ...

    def renderer(self, request: ParsedRequest, ref: ModelRef) -> Renderer: ...

    def new_tool_use_id(self) -> str: ...

    def merge_choices(self, bodies: list[dict[str, Any]], done: Finished) -> dict[str, Any]: ...

    def output(self, body: dict[str, Any]) -> dict[str, Any]:
        """The operation's output members for a rendered body."""

    def stream_output(self) -> dict[str, Any]:
        """The streaming operation's output members besides the stream."""

    def stream_event(self, chunk: Chunk) -> WireEvent:
        """How one rendered chunk travels in the event stream."""

    def headers(self, done: Finished, latency_ms: int, guardrail_action: str | None) -> Headers:
        """Response headers of a non-streaming answer."""


class TextCodec:
    """What every InvokeModel body codec shares: the answer is a JSON body (its chunks, base64 in
    ``chunk`` events), with Bedrock's token-count and latency headers; one choice each."""

    name = "text"
    api: Api = "invoke"

    def new_tool_use_id(self) -> str:
        return random_id("call_")

    def merge_choices(self, bodies: list[dict[str, Any]], done: Finished) -> dict[str, Any]:
        raise NotImplementedError(f"{self.name} bodies have one answer")

    def output(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"body": json.dumps(body, ensure_ascii=False).encode(), "contentType": "application/json"}

    def stream_output(self) -> dict[str, Any]:
        return {"contentType": "application/json"}

    def stream_event(self, chunk: Chunk) -> WireEvent:
        data = base64.b64encode(json.dumps(chunk, ensure_ascii=False).encode()).decode()
        return "chunk", {"bytes": data}

    def headers(self, done: Finished, latency_ms: int, guardrail_action: str | None) -> Headers:
        out = [
            ("x-amzn-bedrock-input-token-count", str(done.input_tokens)),
            ("x-amzn-bedrock-output-token-count", str(done.output_tokens)),
            ("x-amzn-bedrock-invocation-latency", str(latency_ms)),
        ]
        if guardrail_action is not None:
            out.append((GUARDRAIL_ACTION_HEADER, guardrail_action))
        return out


def token_headers(input_tokens: int, latency_ms: int) -> Headers:
    """Bedrock's headers on an embedding model's InvokeModel answer (no output tokens)."""
    return [
        ("x-amzn-bedrock-input-token-count", str(input_tokens)),
        ("x-amzn-bedrock-invocation-latency", str(latency_ms)),
    ]


def random_id(prefix: str, length: int = 24, alphabet: str = _ALNUM) -> str:
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def request_uuid() -> str:
    return str(uuid.uuid4())


def now() -> int:
    return int(time.time())


def raw_body(source: Source) -> bytes:
    """An InvokeModel codec's source: the body bytes."""
    if not isinstance(source, bytes | bytearray):
        raise TypeError("an InvokeModel codec reads a body")
    return bytes(source)


@dataclass
class ToolCallOut:
    tool_use_id: str
    name: str
    input: dict[str, Any]
    arguments: str  # the JSON text as generated
    complete: bool = True  # False: cut off by max tokens (input is what was parsed of it)


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
        self.citations: list[CitationDelta] = []  # cited sentences of ``text``, in order
        self.reasoned = False  # a reasoning block was opened (even one left empty)

    def open(self) -> list[Chunk]:
        return []

    def start(self, started: Started) -> list[Chunk]:
        self.input_tokens = started.input_tokens
        return []

    def feed(self, event: AnswerEvent) -> list[Chunk]:
        if isinstance(event, TextDelta):
            self.text += event.text
            return self.on_text(event.text)
        if isinstance(event, ReasoningDelta):
            self.reasoned = True
            self.reasoning += event.text
            return self.on_reasoning(event.text)
        if isinstance(event, CitationDelta):
            self.citations.append(event)
            return self.on_citation(event)
        if isinstance(event, ToolUseStart):
            self._open_call = (event.tool_use_id, event.name)
            self._args = ""
            return self.on_tool_start(event.tool_use_id, event.name)
        if isinstance(event, ToolInputDelta):
            self._args += event.json
            return self.on_tool_delta(event.json)
        if isinstance(event, ToolUseEnd):
            opened, self._open_call = self._open_call, None
            if opened is None:
                return self.on_tool_end(None)
            if event.call is None:  # cut off: returned as far as it went, as Bedrock does
                call = ToolCallOut(opened[0], opened[1], event.partial, self._args, complete=False)
            else:
                call = ToolCallOut(opened[0], event.call.name, event.call.input, self._args)
            self.calls.append(call)
            return self.on_tool_end(call)
        return []

    def annotate(self, target: Chunk, fields: dict[str, Any]) -> None:
        target.update(fields)

    # hooks ------------------------------------------------------------------------------
    def on_text(self, text: str) -> list[Chunk]:
        return []

    def on_reasoning(self, text: str) -> list[Chunk]:
        return []

    def on_citation(self, cited: CitationDelta) -> list[Chunk]:
        return []

    def on_tool_start(self, tool_use_id: str, name: str) -> list[Chunk]:
        return []

    def on_tool_delta(self, json_text: str) -> list[Chunk]:
        return []

    def on_tool_end(self, call: ToolCallOut | None) -> list[Chunk]:
        return []


def cited_pieces(text: str, citations: list[CitationDelta]) -> list[tuple[str, CitationDelta | None]]:
    """``text`` cut into its cited sentences and the text between them, in order."""
    pieces: list[tuple[str, CitationDelta | None]] = []
    at = 0
    for cited in citations:
        i = text.find(cited.sentence, at)
        if i < 0:
            continue
        if i > at:
            pieces.append((text[at:i], None))
        pieces.append((cited.sentence, cited))
        at = i + len(cited.sentence)
    if at < len(text):
        pieces.append((text[at:], None))
    merged: list[tuple[str, CitationDelta | None]] = []
    blank = ""  # blank text joins a neighbour: an empty text block is refused when sent back
    for piece, source in pieces:
        if source is None and not piece.strip():
            if merged:
                merged[-1] = (merged[-1][0] + piece, merged[-1][1])
            else:
                blank += piece
            continue
        merged.append((blank + piece, source))
        blank = ""
    if blank:  # the text was blank throughout
        merged.append((blank, None))
    return merged


def metrics_of(done: Finished, latency_ms: int, first_byte_ms: int) -> Metrics:
    return {
        "inputTokenCount": done.input_tokens,
        "outputTokenCount": done.output_tokens,
        "invocationLatency": latency_ms,
        "firstByteLatency": first_byte_ms,
    }
