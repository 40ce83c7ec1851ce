"""What every engine offers: prepare a prompt (exact token count), stream a generation.

Engines know nothing of HTTP or of Bedrock's formats; the API layer turns their events into
Converse events, Anthropic events, and so on.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from ..conversation import Conversation, InferenceParams


@dataclass
class Prompt:
    """A conversation rendered with the model's chat template and tokenized."""

    tokens: list[int]
    text: str
    cache_prefix: int = 0  # tokens before the request's last cache point (0: no cache point)
    # Set by the engine when it admits the prompt (before any event reaches the caller): how much
    # of the cache-point prefix it reused from its KV cache, and how much it computed and kept.
    cache_read: int = 0
    cache_write: int = 0


@dataclass
class TextDelta:
    text: str


@dataclass
class Finished:
    stop_reason: str  # end_turn | max_tokens | stop_sequence
    input_tokens: int
    output_tokens: int
    stop_sequence: str | None = None
    # Of the prompt's cache-point prefix: tokens reused from the engine's KV cache, and tokens
    # computed now and kept there (both 0 when the request had no cache point).
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


Event = TextDelta | Finished


@dataclass
class Cancellation:
    """Set when the client went away: the engine stops generating for it at the next token."""

    event: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        self.event.set()

    @property
    def cancelled(self) -> bool:
        return self.event.is_set()


class Engine(abc.ABC):
    name: str
    context_length: int

    @property
    @abc.abstractmethod
    def ready(self) -> bool: ...

    @abc.abstractmethod
    def prepare(self, conversation: Conversation) -> Prompt:
        """Render and tokenize; raises ValidationException when it cannot fit the context."""

    @abc.abstractmethod
    def generate(self, prompt: Prompt, params: InferenceParams, cancel: Cancellation) -> AsyncIterator[Event]:
        """Stream text deltas as they are produced, then exactly one Finished."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model."""
