"""The canonical model: one conversation and one answer-event language for every API.

It imports nothing else from Outcrop: wire formats parse into it and render out of it, engines
generate from it, guardrails and the invocation pipeline pass it along.
"""

from .events import (
    AnswerEvent,
    Citation,
    CitationDelta,
    EngineEvent,
    Finished,
    ReasoningDelta,
    Started,
    TextDelta,
    ToolCall,
    ToolInputDelta,
    ToolUseEnd,
    ToolUseStart,
)
from .model import Block, Conversation, InferenceParams, Message

__all__ = [
    "AnswerEvent",
    "Block",
    "Citation",
    "CitationDelta",
    "Conversation",
    "EngineEvent",
    "Finished",
    "InferenceParams",
    "Message",
    "ReasoningDelta",
    "Started",
    "TextDelta",
    "ToolCall",
    "ToolInputDelta",
    "ToolUseEnd",
    "ToolUseStart",
]
