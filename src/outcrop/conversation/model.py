"""The one internal language: a conversation in Converse's shapes.

Converse requests map onto it directly; every native InvokeModel body format is a codec that
parses into it and renders the engine's events back out. Content blocks stay as the dicts the
protocol layer produced from Converse's shapes (``{"text": ...}``, ``{"toolUse": {...}}``, ...),
so nothing a client sent is dropped on the way to the engine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

Block = dict[str, Any]


@dataclass
class Message:
    role: str  # "user" | "assistant"
    content: list[Block]


@dataclass
class InferenceParams:
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop_sequences: list[str] = field(default_factory=list)
    # A GBNF grammar the output must follow (tool calls, structured output); None = free text.
    grammar: str | None = None


@dataclass
class Conversation:
    messages: list[Message]
    system: list[Block] = field(default_factory=list)
    tool_config: dict[str, Any] | None = None
    params: InferenceParams = field(default_factory=InferenceParams)


def block_text(block: Block) -> str:
    """The text a text-only model sees for one content block."""
    if "text" in block:
        return str(block["text"])
    if "guardContent" in block:
        return str(block["guardContent"].get("text", {}).get("text", ""))
    if "toolUse" in block:
        # The syntax engines/tools.py asks the model to write calls in.
        use = block["toolUse"]
        call = json.dumps({"name": use.get("name"), "arguments": use.get("input")}, ensure_ascii=False)
        return f"<tool_call>{call}</tool_call>"
    if "toolResult" in block:
        result = block["toolResult"]
        parts = []
        for item in result.get("content", []):
            if "text" in item:
                parts.append(str(item["text"]))
            elif "json" in item:
                parts.append(json.dumps(item["json"], sort_keys=True))
            elif "document" in item:
                from .formats.documents import document_text

                parts.append(document_text(item))
        status = "Error: " if result.get("status") == "error" else ""
        return f"<tool_response>{status}{' '.join(parts)}</tool_response>"
    if "reasoningContent" in block:
        return str(block["reasoningContent"].get("reasoningText", {}).get("text", ""))
    if "document" in block:
        from .formats.documents import document_text  # here: formats imports this module

        return document_text(block)
    return ""
