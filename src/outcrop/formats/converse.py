"""Converse and ConverseStream as a wire format: input → the canonical conversation, answer events
→ Converse's response and stream events.

Parsing adds the checks AWS makes beyond the service model's shapes (role alternation, blank
text, tool blocks without a tool configuration, which ``additionalModelRequestFields`` a model
takes, what each model refuses: ``capabilities.py``), with AWS's messages. Rendering numbers
content blocks as AWS does; Nova's native body has the same shape (``nova.py`` shares it).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..catalog import ModelRef
from ..constrained.json_output import parse_schema, schema_grammar
from ..conversation import Citation, CitationDelta, Conversation, Finished, InferenceParams, Message, Started
from ..protocol.errors import ValidationException
from . import thinking
from .capabilities import check_converse
from .codec import (
    Api,
    Chunk,
    Collector,
    Headers,
    Metrics,
    ParsedRequest,
    Source,
    ToolCallOut,
    WireEvent,
    cited_pieces,
    random_id,
)
from .documents import check_documents
from .images import check_images

# additionalModelRequestFields each provider's models take on Bedrock. Anything else is refused
# the way that model refuses it on Bedrock, rather than silently dropped.
_ACCEPTED_FIELDS = {
    "Anthropic": {"top_k", "thinking", "anthropic_beta", "output_config"},
    "Amazon": {"inferenceConfig", "reasoningConfig"},
}
_GENERIC_FIELDS = {"top_k", "topK"}


@dataclass
class ConverseRequest:
    conversation: Conversation
    reasoning: bool  # the request asked for reasoning (Claude thinking, Nova reasoningConfig)
    reasoning_budget: int | None = None


def converse_request(params: Mapping[str, Any], provider: str, *, vision: bool = False) -> ConverseRequest:
    """``vision``: the served engine can see images (no local engine can yet: docs/vision.md)."""
    messages = [Message(m["role"], list(m.get("content") or [])) for m in params.get("messages") or []]
    check_messages(messages, has_tool_config=params.get("toolConfig") is not None)
    check_documents(messages)
    check_images(messages, vision)
    for i, block in enumerate(params.get("system") or []):
        if "text" in block and not str(block["text"]).strip():
            raise ValidationException(
                f"The text field in the SystemContentBlock object at system.{i} is blank. "
                "Add text to the text field, and try again."
            )
    fields = _model_fields(params.get("additionalModelRequestFields"), provider)
    inference = params.get("inferenceConfig") or {}
    if provider == "Anthropic":
        _check_thinking(fields, inference, params.get("toolConfig"), messages)
    grammar = _output_grammar(params.get("outputConfig"))
    conversation = Conversation(
        messages=messages,
        system=list(params.get("system") or []),
        tool_config=params.get("toolConfig"),
        params=InferenceParams(
            max_tokens=inference.get("maxTokens"),
            temperature=inference.get("temperature"),
            top_p=inference.get("topP"),
            top_k=_top_k(fields),
            stop_sequences=list(inference.get("stopSequences") or []),
            grammar=grammar,
        ),
    )
    return ConverseRequest(
        conversation, _reasoning(fields) and grammar is None, thinking.budget(fields.get("thinking"))
    )


def check_messages(messages: list[Message], *, has_tool_config: bool) -> None:
    if not messages or messages[0].role != "user":
        raise ValidationException(
            "A conversation must start with a user message. Try again with a conversation that starts "
            "with a user message."
        )
    for i, message in enumerate(messages):
        if i and message.role == messages[i - 1].role:
            raise ValidationException(
                "A conversation must alternate between user and assistant roles. Make sure the "
                "conversation alternates between user and assistant roles and try again."
            )
        if not message.content:
            raise ValidationException(
                f"The content field in the Message object at messages.{i} is empty. Add a ContentBlock "
                "object to the content field and try again."
            )
        for j, block in enumerate(message.content):
            if "text" in block and not str(block["text"]).strip():
                raise ValidationException(
                    f"The text field in the ContentBlock object at messages.{i}.content.{j} is blank. "
                    "Add text to the text field, and try again."
                )
            if ("toolUse" in block or "toolResult" in block) and not has_tool_config:
                raise ValidationException(
                    "The toolConfig field must be defined when using toolUse and toolResult content blocks."
                )
        results = sum(1 for b in message.content if "toolResult" in b)
        if results:
            uses = sum(1 for b in messages[i - 1].content if "toolUse" in b) if i else 0
            if results > uses:
                raise ValidationException(
                    f"The number of toolResult blocks at messages.{i}.content exceeds the number of "
                    "toolUse blocks of previous turn."
                )


def _model_fields(fields: Any, provider: str) -> dict[str, Any]:
    if not fields:
        return {}
    if not isinstance(fields, dict):
        raise ValidationException(
            "The model returned the following errors: Malformed input request: #: expected type: "
            "JSONObject, please reformat your input and try again."
        )
    accepted = _ACCEPTED_FIELDS.get(provider, _GENERIC_FIELDS)
    for key in fields:
        if key not in accepted:
            if provider == "Anthropic":
                raise ValidationException(
                    f"The model returned the following errors: {key}: Extra inputs are not permitted"
                )
            raise ValidationException(
                "The model returned the following errors: Malformed input request: "
                f"#: extraneous key [{key}] is not permitted, please reformat your input and try again."
            )
    return fields


_THINKING_KINDS = {"reasoningContent": "thinking", "toolUse": "tool_use", "toolResult": "tool_result"}


def _check_thinking(
    fields: dict[str, Any], inference: Mapping[str, Any], tool_config: Any, messages: list[Message]
) -> None:
    """Claude's thinking rules (formats/thinking.py), refused in Converse's wrapping."""
    choice = (tool_config or {}).get("toolChoice") or {}
    turns = []
    for message in messages:
        kinds, signed = [], []
        for j, block in enumerate(message.content):
            kind = next(iter(block), "")
            reasoning = block.get("reasoningContent") or {}
            if "redactedContent" in reasoning:
                kinds.append("redacted_thinking")
                continue
            kinds.append(_THINKING_KINDS.get(kind, kind))
            if "reasoningText" in reasoning:
                text = reasoning["reasoningText"]
                signed.append((j, str(text.get("text", "")), str(text.get("signature", ""))))
        turns.append(thinking.Turn(message.role, kinds, signed))
    problem = thinking.refusal(
        fields.get("thinking"),
        max_tokens=inference.get("maxTokens"),
        temperature=inference.get("temperature"),
        forced_tool=bool(choice.get("any") is not None or choice.get("tool") is not None),
        turns=turns,
    )
    if problem:
        raise ValidationException(f"The model returned the following errors: {problem}")


def _top_k(fields: dict[str, Any]) -> int | None:
    nested = fields.get("inferenceConfig")
    candidates = [("top_k", fields.get("top_k")), ("topK", fields.get("topK"))]
    if isinstance(nested, dict):
        candidates.append(("inferenceConfig/topK", nested.get("topK")))
    for key, value in candidates:
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValidationException(
                f"The model returned the following errors: Malformed input request: #/{key}: expected "
                f"a non-negative integer, found: {value!r}, please reformat your input and try again."
            )
        return value
    return None


def _output_grammar(config: dict[str, Any] | None) -> str | None:
    """outputConfig.textFormat json_schema → a grammar the whole answer must follow."""
    text_format = (config or {}).get("textFormat")
    if not text_format:
        return None
    schema = parse_schema(text_format["structure"]["jsonSchema"]["schema"])
    return schema_grammar(schema)


def _reasoning(fields: dict[str, Any]) -> bool:
    thinking = fields.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"):
        return True
    config = fields.get("reasoningConfig")
    return isinstance(config, dict) and config.get("type") == "enabled"


# ---- the codec ------------------------------------------------------------------------------

_TOOL_USE_ID_ALPHABET = string.ascii_letters + string.digits + "-_"


class ConverseCodec:
    """Converse's input members in, Converse's output members or stream events out."""

    name = "converse"
    api: Api = "converse"

    def parse(self, source: Source, ref: ModelRef, *, streaming: bool = False) -> ParsedRequest:
        if not isinstance(source, Mapping):
            raise TypeError("the Converse codec reads Converse's input members")
        check_converse(ref, source, streaming=streaming)
        request = converse_request(source, ref.provider)
        return ParsedRequest(
            request.conversation,
            reasoning=request.reasoning,
            reasoning_requested=request.reasoning,
            reasoning_budget=request.reasoning_budget,
        )

    def renderer(self, request: ParsedRequest, ref: ModelRef) -> ConverseRenderer:
        return ConverseRenderer()

    def new_tool_use_id(self) -> str:
        """Bedrock's Converse tool-use ids look like ``tooluse_kZJMlvQmRJ6eAyJE5GIl7Q``."""
        return random_id("tooluse_", 22, _TOOL_USE_ID_ALPHABET)

    def merge_choices(self, bodies: list[dict[str, Any]], done: Finished) -> dict[str, Any]:
        raise NotImplementedError("Converse has one answer")

    def output(self, body: dict[str, Any]) -> dict[str, Any]:
        return body

    def stream_output(self) -> dict[str, Any]:
        return {}

    def stream_event(self, chunk: Chunk) -> WireEvent:
        """ConverseStream sends each event under its own type: ``{"messageStart": {...}}``."""
        ((kind, payload),) = chunk.items()
        return kind, payload

    def headers(self, done: Finished, latency_ms: int, guardrail_action: str | None) -> Headers:
        return []  # usage and latency are in the body


class ConverseShapedRenderer(Collector):
    """Answer events → Converse-shaped events (``messageStart``, ``contentBlockStart``/``Delta``/
    ``Stop``, ``messageStop``, ``metadata``) and message, numbering content blocks as AWS does: a
    new index whenever the kind of block changes; ``contentBlockStart`` only for tool use."""

    def __init__(self) -> None:
        super().__init__()
        self._index = -1
        self._open: str | None = None  # "text" | "reasoning" | "tool"

    def start(self, started: Started) -> list[Chunk]:
        super().start(started)
        return [{"messageStart": {"role": "assistant"}}]

    def _switch(self, kind: str) -> list[Chunk]:
        if self._open == kind:
            return []
        out = self._close()
        self._index += 1
        self._open = kind
        return out

    def _close(self) -> list[Chunk]:
        if self._open is None:
            return []
        out: list[Chunk] = []
        if self._open == "reasoning":  # the block's signature comes last, in a delta of its own
            delta = {"reasoningContent": {"signature": thinking.sign(self.reasoning)}}
            out.append({"contentBlockDelta": {"delta": delta, "contentBlockIndex": self._index}})
        self._open = None
        return [*out, {"contentBlockStop": {"contentBlockIndex": self._index}}]

    def on_text(self, text: str) -> list[Chunk]:
        out = self._switch("text")
        return [*out, {"contentBlockDelta": {"delta": {"text": text}, "contentBlockIndex": self._index}}]

    def on_reasoning(self, text: str) -> list[Chunk]:
        out = self._switch("reasoning")
        delta = {"reasoningContent": {"text": text}}
        return [*out, {"contentBlockDelta": {"delta": delta, "contentBlockIndex": self._index}}]

    def on_citation(self, cited: CitationDelta) -> list[Chunk]:
        """A citation goes out as a delta of the text block that holds its sentence."""
        if self._open != "text":
            return []
        delta = {"citation": converse_citation(cited.citation)}
        return [{"contentBlockDelta": {"delta": delta, "contentBlockIndex": self._index}}]

    def on_tool_start(self, tool_use_id: str, name: str) -> list[Chunk]:
        out = self._close()
        self._index += 1
        self._open = "tool"
        start = {"toolUse": {"toolUseId": tool_use_id, "name": name}}
        return [*out, {"contentBlockStart": {"start": start, "contentBlockIndex": self._index}}]

    def on_tool_delta(self, json_text: str) -> list[Chunk]:
        delta = {"toolUse": {"input": json_text}}
        return [{"contentBlockDelta": {"delta": delta, "contentBlockIndex": self._index}}]

    def on_tool_end(self, call: ToolCallOut | None) -> list[Chunk]:
        return self._close()

    def content(self) -> list[dict[str, Any]]:
        """The assistant message's content blocks: reasoning, text, then tool uses."""
        content: list[dict[str, Any]] = []
        if self.reasoned:
            text = {"text": self.reasoning, "signature": thinking.sign(self.reasoning)}
            content.append({"reasoningContent": {"reasoningText": text}})
        if self.text and self.citations:  # cited sentences become citationsContent blocks
            for piece, cited in cited_pieces(self.text, self.citations):
                if cited is None:
                    content.append({"text": piece})
                else:
                    block = {"content": [{"text": piece}], "citations": [converse_citation(cited.citation)]}
                    content.append({"citationsContent": block})
        elif self.text:
            content.append({"text": self.text})
        for call in self.calls:
            content.append(
                {"toolUse": {"toolUseId": call.tool_use_id, "name": call.name, "input": call.input}}
            )
        return content


def converse_citation(citation: Citation) -> dict[str, Any]:
    location = {"documentIndex": citation.document_index, "start": citation.start, "end": citation.end}
    return {
        "title": citation.title,
        "sourceContent": [{"text": citation.cited}],
        "location": {citation.kind: location},
    }


def converse_usage(done: Finished) -> dict[str, int]:
    """Converse usage. With cache points, inputTokens counts only tokens outside the cached
    prefix, and the prefix is reported as cache reads (reused KV) and writes (computed now)."""
    total = done.input_tokens + done.output_tokens
    cached = done.cache_read_tokens + done.cache_write_tokens
    if not cached:
        return {"inputTokens": done.input_tokens, "outputTokens": done.output_tokens, "totalTokens": total}
    return {
        "inputTokens": done.input_tokens - cached,
        "outputTokens": done.output_tokens,
        "totalTokens": total,
        "cacheReadInputTokens": done.cache_read_tokens,
        "cacheWriteInputTokens": done.cache_write_tokens,
    }


class ConverseRenderer(ConverseShapedRenderer):
    """Converse's output members and ConverseStream's events (each chunk is ``{type: payload}``)."""

    def open(self) -> list[Chunk]:
        return [{"messageStart": {"role": "assistant"}}]  # sent at once, as AWS does

    def start(self, started: Started) -> list[Chunk]:
        self.input_tokens = started.input_tokens
        return []

    def finish(self, done: Finished, metrics: Metrics) -> list[Chunk]:
        out = self._close()
        if self._index < 0:  # nothing generated: AWS still closes an (empty) text block
            out.append({"contentBlockStop": {"contentBlockIndex": 0}})
        metadata = {"usage": converse_usage(done), "metrics": {"latencyMs": metrics["invocationLatency"]}}
        return [*out, {"messageStop": {"stopReason": done.stop_reason}}, {"metadata": metadata}]

    def body(self, done: Finished, metrics: Metrics) -> dict[str, Any]:
        return {
            "output": {"message": {"role": "assistant", "content": self.content()}},
            "stopReason": done.stop_reason,
            "usage": converse_usage(done),
            "metrics": {"latencyMs": metrics["invocationLatency"]},
        }

    def annotate(self, target: Chunk, fields: dict[str, Any]) -> None:
        """A guardrail's trace goes in the response, or in the stream's metadata event."""
        target.get("metadata", target).update(fields)
