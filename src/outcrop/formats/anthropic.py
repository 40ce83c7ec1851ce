"""Anthropic Messages on Bedrock (InvokeModel bodies) ⇄ the canonical conversation.

Requests: the body Bedrock takes for Claude (``anthropic_version: bedrock-2023-05-31``, no
``model``, no ``stream``) is checked as Bedrock checks it (``anthropic_schema``, then the
model's own rules with Anthropic's wording) and parsed into Converse-shaped blocks.
Responses: the engine's answer events become Anthropic's message object, or its stream events
(``message_start`` … ``message_stop``), which the API layer wraps in Bedrock ``chunk`` frames.

What a local text model cannot use is accepted and set aside, never refused: images are not
shown to the model (documents reach it as extracted text), ``cache_control`` marks a cache point
whose real reuse of the engine's KV cache is reported in ``usage``; ``metadata``,
``anthropic_beta``, ``output_config`` and ``context_management`` change nothing, and server tools
(web search, code execution) are not offered. See docs/anthropic.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import string
from dataclasses import dataclass, field
from typing import Any

from ..catalog import ModelRef
from ..conversation import (
    AnswerEvent,
    Block,
    Citation,
    CitationDelta,
    Conversation,
    Finished,
    InferenceParams,
    Message,
    ReasoningDelta,
    Started,
    TextDelta,
    ToolInputDelta,
    ToolUseEnd,
    ToolUseStart,
)
from ..protocol.errors import ValidationException
from . import thinking
from .anthropic_schema import check_body
from .codec import Chunk, Metrics, ParsedRequest, Source, TextCodec, cited_pieces, raw_body

ANTHROPIC_VERSION = "bedrock-2023-05-31"
# What clients put in ``anthropic_version``: Bedrock's documented value (Claude Code, boto3
# programs, anthropic SDKs before 2.x), and the first-party API version the anthropic Python
# SDK 2.x sends from AnthropicBedrock (``anthropic._constants.ANTHROPIC_API_VERSION``).
ACCEPTED_VERSIONS = (ANTHROPIC_VERSION, "2026-10-21")
# Claude generations that take temperature or top_p, not both (AWS's Claude 4.5 model cards).
_ONE_SAMPLING_PARAM = re.compile(r"claude-(?:sonnet|opus|haiku)-(?:4-[5-9]|[5-9])|claude-opus-4-1")
_ALPHABET = string.ascii_letters + string.digits

# Anthropic-defined client tools: their input schemas are fixed by Anthropic, not sent.
_BUILTIN_SCHEMAS: dict[str, dict[str, Any]] = {
    "bash": {
        "type": "object",
        "properties": {"command": {"type": "string"}, "restart": {"type": "boolean"}},
    },
    "text_editor": {
        "type": "object",
        "properties": {
            "command": {"type": "string", "enum": ["view", "create", "str_replace", "insert", "undo_edit"]},
            "path": {"type": "string"},
            "file_text": {"type": "string"},
            "old_str": {"type": "string"},
            "new_str": {"type": "string"},
            "insert_line": {"type": "integer"},
            "view_range": {"type": "array", "items": {"type": "integer"}},
        },
        "required": ["command", "path"],
    },
    "computer": {
        "type": "object",
        "properties": {
            "action": {"type": "string"},
            "coordinate": {"type": "array", "items": {"type": "integer"}},
            "text": {"type": "string"},
        },
        "required": ["action"],
    },
}


def _random_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def new_message_id() -> str:
    return _random_id("msg_bdrk_01")


def new_tool_use_id() -> str:
    return _random_id("toolu_bdrk_01")


def model_name(ref: ModelRef) -> str:
    """The ``model`` Claude reports, e.g. ``claude-3-haiku-20240307`` for
    ``anthropic.claude-3-haiku-20240307-v1:0``."""
    name = ref.model_id.split(".", 1)[1] if ref.model_id.startswith("anthropic.") else ref.model_id
    return re.sub(r"-v\d+(:\d+)?(:\d+k)?$", "", name)


@dataclass
class AnthropicRequest:
    conversation: Conversation
    model_name: str
    max_tokens: int
    reasoning: bool  # thinking enabled / adaptive
    betas: list[str] = field(default_factory=list)
    reasoning_budget: int | None = None  # thinking.budget_tokens


# ---- requests -----------------------------------------------------------------------------


def parse_request(raw: bytes, ref: ModelRef) -> AnthropicRequest:
    """Check an InvokeModel body for an Anthropic model and parse it; AWS's errors otherwise."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ValidationException(
            "Malformed input request, please reformat your input and try again."
        ) from None
    name = model_name(ref)
    if isinstance(body, dict):
        version = body.get("anthropic_version")
        if isinstance(version, str) and version not in ACCEPTED_VERSIONS:
            raise ValidationException(f"Invalid API version: {version}")
        if "prompt" in body and "messages" not in body:
            raise ValidationException(
                f'"{name}" is not supported on this API. Please use the Messages API instead.'
            )
    check_body(body)
    _check_rules(body, ref, name)
    conversation = Conversation(
        messages=_messages(body["messages"]),
        system=_system(body.get("system")) + _system_turns(body["messages"]),
        tool_config=_tool_config(body.get("tools"), body.get("tool_choice")),
        params=InferenceParams(
            max_tokens=body["max_tokens"],
            temperature=body.get("temperature"),
            top_p=body.get("top_p"),
            top_k=body.get("top_k"),
            stop_sequences=list(body.get("stop_sequences") or []),
        ),
    )
    return AnthropicRequest(
        conversation=conversation,
        model_name=name,
        max_tokens=body["max_tokens"],
        reasoning=thinking.thinking_on(body.get("thinking")) is not None,
        reasoning_budget=thinking.budget(body.get("thinking")),
        betas=list(body.get("anthropic_beta") or []),
    )


def _check_rules(body: dict[str, Any], ref: ModelRef, name: str) -> None:
    """What the model itself refuses once the schema passed (Anthropic's own wording)."""
    max_tokens = body["max_tokens"]
    if ref.max_output_tokens and max_tokens > ref.max_output_tokens:
        raise ValidationException(
            f"max_tokens: {max_tokens} > {ref.max_output_tokens}, which is the maximum allowed number of "
            f"output tokens for {name}"
        )
    choice = body.get("tool_choice") or {}
    problem = thinking.refusal(
        body.get("thinking"),
        max_tokens=max_tokens,
        temperature=body.get("temperature"),
        forced_tool=bool(body.get("tools")) and choice.get("type") in ("any", "tool"),
        turns=[_turn(m) for m in body["messages"]],
    )
    if problem:
        raise ValidationException(problem)
    if "temperature" in body and "top_p" in body and _ONE_SAMPLING_PARAM.search(name):
        raise ValidationException(
            "`temperature` and `top_p` cannot both be specified for this model. Please use only one."
        )
    _check_content(body["messages"])
    _check_tools(body.get("tools") or [], body.get("tool_choice"))


def _turn(message: dict[str, Any]) -> thinking.Turn:
    blocks = _blocks(message["content"])
    signed = [
        (j, str(b.get("thinking", "")), str(b.get("signature", "")))
        for j, b in enumerate(blocks)
        if b.get("type") == "thinking"
    ]
    return thinking.Turn(message["role"], [str(b.get("type")) for b in blocks], signed)


def _blocks(content: Any) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def _check_content(messages: list[dict[str, Any]]) -> None:
    turns = [m for m in messages if m["role"] != "system"]
    for i, message in enumerate(turns):
        blocks = _blocks(message["content"])
        if not blocks and not (message["role"] == "assistant" and i == len(turns) - 1):
            raise ValidationException(
                f"messages.{i}: all messages must have non-empty content except for the optional final "
                "assistant message"
            )
        for block in blocks:
            if block["type"] == "text" and block["text"] == "":
                raise ValidationException("messages: text content blocks must be non-empty")
            if block["type"] == "text" and not block["text"].strip():
                raise ValidationException("messages: text content blocks must contain non-whitespace text")
    for i, message in enumerate(turns):
        uses = [b["id"] for b in _blocks(message["content"]) if b["type"] == "tool_use"]
        following = _blocks(turns[i + 1]["content"]) if i + 1 < len(turns) else None
        if uses and message["role"] == "assistant" and following is not None:
            answered = {b["tool_use_id"] for b in following if b["type"] == "tool_result"}
            missing = [u for u in uses if u not in answered]
            if missing:
                raise ValidationException(
                    f"messages.{i + 1}: `tool_use` ids were found without `tool_result` blocks immediately "
                    f"after: {', '.join(missing)}. Each `tool_use` block must have a corresponding "
                    "`tool_result` block in the next message."
                )
        previous = (
            {b["id"] for b in _blocks(turns[i - 1]["content"]) if b["type"] == "tool_use"} if i else set()
        )
        for j, block in enumerate(_blocks(message["content"])):
            if block["type"] == "tool_result" and block["tool_use_id"] not in previous:
                raise ValidationException(
                    f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: "
                    f"{block['tool_use_id']}. Each `tool_result` block must have a corresponding `tool_use` "
                    "block in the previous message."
                )


def _check_tools(tools: list[dict[str, Any]], choice: dict[str, Any] | None) -> None:
    names = [t["name"] for t in tools]
    if len(set(names)) != len(names):
        raise ValidationException("tools: Tool names must be unique.")
    if choice and choice.get("type") in ("any", "tool") and not tools:
        raise ValidationException("tool_choice may only be specified while providing tools.")
    if choice and choice.get("type") == "tool" and choice.get("name") not in names:
        raise ValidationException(
            f"tool_choice.name: Tool '{choice.get('name')}' not found in the provided tools."
        )


def _system(system: Any) -> list[Block]:
    if system is None:
        return []
    if isinstance(system, str):
        return [{"text": system}] if system else []
    return _with_cache_points([(b, {"text": b["text"]} if b.get("text") else None) for b in system])


def _system_turns(messages: list[dict[str, Any]]) -> list[Block]:
    out: list[Block] = []
    for message in messages:
        if message["role"] == "system":
            out += [{"text": b["text"]} for b in _blocks(message["content"]) if b.get("type") == "text"]
    return out


def _messages(messages: list[dict[str, Any]]) -> list[Message]:
    """Anthropic turns → canonical messages; consecutive turns of one role merge, as Claude reads them."""
    out: list[Message] = []
    for message in messages:
        if message["role"] == "system":
            continue
        content = _with_cache_points([(b, _block(b)) for b in _blocks(message["content"])])
        if out and out[-1].role == message["role"]:
            out[-1].content.extend(content)
        else:
            out.append(Message(message["role"], content))
    return out


def _decode(data: Any) -> bytes:
    try:
        return base64.b64decode(str(data), validate=False)
    except (binascii.Error, ValueError):
        return b""


def _block(block: dict[str, Any]) -> Block | None:
    kind = block["type"]
    if kind == "text":
        return {"text": block["text"]}
    if kind == "image":
        source = block.get("source") or {}
        media = str(source.get("media_type", "image/png"))
        return {
            "image": {"format": media.split("/")[-1], "source": {"bytes": _decode(source.get("data", ""))}}
        }
    if kind == "document":
        return _document(block)
    if kind == "tool_use":
        return {"toolUse": {"toolUseId": block["id"], "name": block["name"], "input": block["input"]}}
    if kind == "tool_result":
        result: dict[str, Any] = {
            "toolUseId": block["tool_use_id"],
            "content": _result_content(block.get("content")),
        }
        if block.get("is_error"):
            result["status"] = "error"
        return {"toolResult": result}
    if kind == "thinking":
        return {
            "reasoningContent": {
                "reasoningText": {"text": block["thinking"], "signature": block["signature"]}
            }
        }
    if kind == "redacted_thinking":
        return {"reasoningContent": {"redactedContent": _decode(block["data"])}}
    if kind == "search_result":
        texts = [c.get("text", "") for c in block.get("content") or [] if isinstance(c, dict)]
        return {"text": "\n".join([str(block.get("title", "")), *texts]).strip()} if texts else None
    return None  # server tool blocks: nothing a local model can use


def _document(block: dict[str, Any]) -> Block:
    """A document as Converse holds one (its text read by the model; citable when it asks to be)."""
    source = block.get("source") or {}
    title = str(block.get("title") or "document")
    doc: dict[str, Any] = {"name": title, "format": "txt"}
    if source.get("type") == "text":
        doc["source"] = {"text": str(source.get("data", ""))}
    elif source.get("type") == "content":
        parts = source.get("content")
        items = [{"text": parts}] if isinstance(parts, str) else parts if isinstance(parts, list) else []
        doc["source"] = {"content": [{"text": str(p.get("text", ""))} for p in items if isinstance(p, dict)]}
    else:
        doc["format"] = str(source.get("media_type", "application/pdf")).split("/")[-1]
        doc["source"] = {"bytes": _decode(source.get("data"))}
    if isinstance(block.get("citations"), dict):
        doc["citations"] = {"enabled": bool(block["citations"].get("enabled"))}
    return {"document": doc}


def _result_content(content: Any) -> list[Block]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    out: list[Block] = []
    for item in content:
        if isinstance(item, dict) and item.get("type") == "text":
            out.append({"text": item.get("text", "")})
        elif isinstance(item, dict) and item.get("type") == "image":
            source = item.get("source") or {}
            media = str(source.get("media_type", "image/png"))
            out.append(
                {"image": {"format": media.split("/")[-1], "source": {"bytes": _decode(source.get("data"))}}}
            )
    return out


def _tool_config(tools: list[dict[str, Any]] | None, choice: dict[str, Any] | None) -> dict[str, Any] | None:
    """Client tools → Converse toolSpecs. Deferred tools (``defer_loading``, tool search) are not
    loaded until searched, so they are not offered; server tools cannot run here."""
    specs: list[dict[str, Any]] = []
    for tool in tools or []:
        if tool.get("defer_loading"):
            continue
        kind = str(tool.get("type") or "custom")
        if kind == "custom":
            schema = tool.get("input_schema") or {"type": "object"}
        else:
            family = next((f for f in _BUILTIN_SCHEMAS if kind.startswith(f)), None)
            if family is None:
                continue
            schema = _BUILTIN_SCHEMAS[family]
        spec = {"name": tool["name"], "inputSchema": {"json": schema}}
        if tool.get("description"):
            spec["description"] = tool["description"]
        specs.append({"toolSpec": spec})
        if tool.get("cache_control"):
            specs.append(_CACHE_POINT)
    if not specs:
        return None
    config: dict[str, Any] = {"tools": specs}
    kind = (choice or {}).get("type", "auto")
    if kind == "tool":
        config["toolChoice"] = {"tool": {"name": choice["name"]}} if choice else {"auto": {}}
    else:
        config["toolChoice"] = {kind: {}}
    return config


# ---- responses ----------------------------------------------------------------------------


def usage(input_tokens: int, output_tokens: int, cache_read: int = 0, cache_write: int = 0) -> dict[str, int]:
    """Claude's usage: ``input_tokens`` excludes the cached prefix, reported as cache creation
    (computed now and kept in the engine's KV cache) and cache reads (really reused from it)."""
    return {
        "input_tokens": input_tokens - cache_read - cache_write,
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
        "output_tokens": output_tokens,
    }


def _done_usage(done: Finished) -> dict[str, int]:
    return usage(done.input_tokens, done.output_tokens, done.cache_read_tokens, done.cache_write_tokens)


_CACHE_POINT: Block = {"cachePoint": {"type": "default"}}


def _with_cache_points(pairs: list[tuple[dict[str, Any], Block | None]]) -> list[Block]:
    """Canonical blocks, with a cachePoint after every block that carried ``cache_control``."""
    out: list[Block] = []
    for source, block in pairs:
        if block is not None:
            out.append(block)
        if source.get("cache_control"):
            out.append(_CACHE_POINT)
    return out


class AnthropicCodec(TextCodec):
    """Anthropic Messages bodies, for every Claude model on InvokeModel."""

    name = "anthropic-messages"

    def parse(self, source: Source, ref: ModelRef, *, streaming: bool = False) -> ParsedRequest:
        request = parse_request(raw_body(source), ref)
        return ParsedRequest(
            request.conversation,
            reasoning=request.reasoning,
            reasoning_requested=request.reasoning,
            reasoning_budget=request.reasoning_budget,
            options={"model": request.model_name},
        )

    def renderer(self, request: ParsedRequest, ref: ModelRef) -> MessageRenderer:
        return MessageRenderer(new_message_id(), str(request.options["model"]))

    def new_tool_use_id(self) -> str:
        return new_tool_use_id()


_ANTHROPIC_LOCATIONS = {
    "documentChar": ("char_location", "start_char_index", "end_char_index"),
    "documentPage": ("page_location", "start_page_number", "end_page_number"),
    "documentChunk": ("content_block_location", "start_block_index", "end_block_index"),
}


def anthropic_citation(citation: Citation) -> dict[str, Any]:
    kind, start, end = _ANTHROPIC_LOCATIONS[citation.kind]
    return {
        "type": kind,
        "cited_text": citation.cited,
        "document_index": citation.document_index,
        "document_title": citation.title,
        start: citation.start,
        end: citation.end,
    }


class MessageRenderer:
    """Answer events → Anthropic stream events, while assembling the final message content."""

    def __init__(self, message_id: str, model: str) -> None:
        self.message_id = message_id
        self.model = model
        self.content: list[dict[str, Any]] = []
        self._open: str | None = None  # type of the block being streamed
        self._index = -1
        self._json = ""
        self._citations: list[CitationDelta] = []

    def open(self) -> list[Chunk]:
        return []

    def start(self, started: Started) -> list[Chunk]:
        """message_start, sent once the engine has admitted the prompt (so the cache split is known)."""
        usage_now = usage(started.input_tokens, 1, started.cache_read_tokens, started.cache_write_tokens)
        return [
            {
                "type": "message_start",
                "message": {
                    "id": self.message_id,
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": usage_now,
                },
            }
        ]

    def _begin(self, block: dict[str, Any]) -> list[dict[str, Any]]:
        events = self._close()
        self._index += 1
        self._open = block["type"]
        self.content.append(json.loads(json.dumps(block)))
        events.append({"type": "content_block_start", "index": self._index, "content_block": block})
        return events

    def _close(self) -> list[dict[str, Any]]:
        if self._open is None:
            return []
        events: list[dict[str, Any]] = []
        block = self.content[-1]
        if self._open == "thinking":
            block["signature"] = thinking.sign(block["thinking"])
            events.append(self._delta({"type": "signature_delta", "signature": block["signature"]}))
        events.append({"type": "content_block_stop", "index": self._index})
        self._open = None
        return events

    def _delta(self, delta: dict[str, Any]) -> dict[str, Any]:
        return {"type": "content_block_delta", "index": self._index, "delta": delta}

    def feed(self, event: AnswerEvent) -> list[dict[str, Any]]:
        if isinstance(event, CitationDelta):
            self._citations.append(event)
            if self._open != "text":
                return []
            return [self._delta({"type": "citations_delta", "citation": anthropic_citation(event.citation)})]
        if isinstance(event, TextDelta):
            events = [] if self._open == "text" else self._begin({"type": "text", "text": ""})
            self.content[-1]["text"] += event.text
            return [*events, self._delta({"type": "text_delta", "text": event.text})]
        if isinstance(event, ReasoningDelta):
            events = [] if self._open == "thinking" else self._begin({"type": "thinking", "thinking": ""})
            self.content[-1]["thinking"] += event.text
            return [*events, self._delta({"type": "thinking_delta", "thinking": event.text})]
        if isinstance(event, ToolUseStart):
            self._json = ""
            block = {"type": "tool_use", "id": event.tool_use_id, "name": event.name, "input": {}}
            return [*self._begin(block), self._delta({"type": "input_json_delta", "partial_json": ""})]
        if isinstance(event, ToolInputDelta):
            self._json += event.json
            return [self._delta({"type": "input_json_delta", "partial_json": event.json})]
        if isinstance(event, ToolUseEnd):
            if self._open != "tool_use":
                return []
            # A call cut off by max_tokens stays in the message with its input as far as it went.
            self.content[-1]["input"] = event.call.input if event.call is not None else event.partial
            return self._close()
        return []

    def finish(self, done: Finished, metrics: Metrics) -> list[dict[str, Any]]:
        events = self._close()
        events.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": done.stop_reason, "stop_sequence": done.stop_sequence},
                "usage": _done_usage(done),
            }
        )
        events.append({"type": "message_stop", "amazon-bedrock-invocationMetrics": metrics})
        return events

    def body(self, done: Finished, metrics: Metrics) -> dict[str, Any]:
        self._close()
        return {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": self._cited(self.content) if self._citations else self.content,
            "stop_reason": done.stop_reason,
            "stop_sequence": done.stop_sequence,
            "usage": _done_usage(done),
        }

    def _cited(self, content: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Text blocks cut at their cited sentences, each of which carries its citation."""
        out: list[dict[str, Any]] = []
        for block in content:
            if block["type"] != "text":
                out.append(block)
                continue
            for piece, cited in cited_pieces(block["text"], self._citations):
                if cited is None:
                    out.append({"type": "text", "text": piece})
                else:
                    out.append(
                        {"type": "text", "text": piece, "citations": [anthropic_citation(cited.citation)]}
                    )
        return out

    def annotate(self, target: Chunk, fields: dict[str, Any]) -> None:
        target.update(fields)
