"""The conversation in Converse's shapes: messages of content blocks, system blocks, tools, parameters.

Converse requests map onto it directly; every native InvokeModel body format is a codec that
parses into it. Content blocks stay as the dicts the protocol layer produced from Converse's
shapes (``{"text": ...}``, ``{"toolUse": {...}}``, ``{"document": {...}}``, ...), so nothing a
client sent is dropped on the way to the engine.
"""

from __future__ import annotations

import copy
import dataclasses
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

    def copy(self) -> Conversation:
        """A copy whose block lists and blocks can be replaced (masking, fitting) without touching
        the request as sent; the blocks' own contents are shared until replaced."""
        return dataclasses.replace(
            self,
            messages=[Message(m.role, [dict(b) for b in m.content]) for m in self.messages],
            system=[dict(b) for b in self.system],
            tool_config=copy.deepcopy(self.tool_config),
        )
