"""What an answer is made of, as it streams: the events every engine, guardrail and renderer share.

An engine produces ``Started``, ``TextDelta``… and one ``Finished``; the answer planner turns
generated tool-call and ``<think>`` syntax into ``ToolUseStart``/``ToolInputDelta``/``ToolUseEnd``
and ``ReasoningDelta``; each wire format renders them its own way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Started:
    """The engine admitted the prompt (the embedded engine says so with the first token, once the
    prompt is prefilled). Of its cache-point prefix: tokens reused from the engine's KV cache
    (reads) and computed now and kept there (writes); both 0 without a cache point."""

    input_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass
class TextDelta:
    text: str


@dataclass
class ReasoningDelta:
    text: str


@dataclass
class Citation:
    """Where a sentence of the answer comes from: a document of the request (numbered among all
    its documents) and a span of it, located as Converse locates it (``kind``: documentChar,
    documentPage or documentChunk; ``start``/``end`` in characters, pages or chunks)."""

    document_index: int
    title: str
    kind: str
    start: int
    end: int
    cited: str  # the span's text, exactly as it is in the document


@dataclass
class CitationDelta:
    """``sentence``, the last one of the text sent so far, is supported by ``citation``."""

    citation: Citation
    sentence: str


@dataclass
class ToolUseStart:
    tool_use_id: str
    name: str


@dataclass
class ToolInputDelta:
    json: str


@dataclass
class ToolCall:
    name: str
    input: dict[str, Any]
    problems: list[str] = field(default_factory=list)  # schema rules the generated input broke


@dataclass
class ToolUseEnd:
    call: ToolCall | None  # None: generation stopped before the call was complete
    # When cut off: the input as far as it was generated (open strings, lists and objects
    # closed, an unfinished member dropped), which Bedrock returns as the tool use's input.
    partial: dict[str, Any] = field(default_factory=dict)


@dataclass
class Finished:
    stop_reason: str  # end_turn | max_tokens | stop_sequence | tool_use | guardrail_intervened
    input_tokens: int
    output_tokens: int
    stop_sequence: str | None = None
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


# What an engine streams for one generation.
EngineEvent = Started | TextDelta | Finished
# What an answer streams to its renderer.
AnswerEvent = (
    Started
    | TextDelta
    | ReasoningDelta
    | CitationDelta
    | ToolUseStart
    | ToolInputDelta
    | ToolUseEnd
    | Finished
)
