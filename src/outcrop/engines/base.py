"""What every engine offers: render and count a prompt, and stream a generation.

Engines know nothing of HTTP or of Bedrock's formats: they take the canonical conversation and
stream canonical events (``Started``, ``TextDelta``… one ``Finished``), and raise their own
errors (``errors.py``). The invocation pipeline decides what to send them and how to bill it.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass, field

from ..conversation import Conversation, EngineEvent, InferenceParams
from .errors import ContextOverflow


@dataclass
class Prompt:
    """A conversation rendered the way the served model reads it, and its tokens."""

    tokens: list[int]
    text: str
    cache_prefix: int = 0  # tokens before the request's last cache point (0: no cache point)


def ensure_fits(prompt: Prompt, context_length: int) -> None:
    """Refuse a prompt the served window cannot hold with room for one token (the pipeline fits
    requests first; this is the engines' last word)."""
    if len(prompt.tokens) >= context_length:
        raise ContextOverflow(
            f"The prompt has {len(prompt.tokens)} tokens; the context holds {context_length}."
        )


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
    """One served model. ``context_length`` is its window in tokens (known once loaded);
    ``fit_tokens`` is the prompt size a request too big for that window is cut to (None: as much
    of the window as the answer leaves)."""

    name: str
    context_length: int
    model_path: str  # where the model comes from (a GGUF path, a server URL), for logs and health
    threads: int
    fit_tokens: int | None
    stats: dict[str, int]  # completed / cancelled / failed generations, for health
    # Whether a request that asks for reasoning gets a reasoning phase run by Outcrop (the model
    # prefilled with <think>: invocation/answer.py). Remote servers pass their model's own
    # reasoning through instead.
    reasoning_phase: bool = False

    @property
    @abc.abstractmethod
    def ready(self) -> bool: ...

    @abc.abstractmethod
    def load(self, on_stage: Callable[[str], None] | None = None) -> None:
        """Load the model (runs in a worker thread at start-up)."""

    @abc.abstractmethod
    async def prepare(self, conversation: Conversation) -> Prompt:
        """Render with the model's chat template and tokenize (exact counts where the model's
        tokenizer is reachable). Never refuses a long prompt: fitting is the pipeline's job."""

    @abc.abstractmethod
    def submit(
        self, prompt: Prompt, params: InferenceParams, cancel: Cancellation
    ) -> AsyncIterable[EngineEvent]:
        """Admit a generation now (``EngineBusy`` when the queue is full, ``ContextOverflow`` when
        the prompt cannot fit) and stream ``Started``, text deltas, then exactly one ``Finished``."""

    def activity(self) -> dict[str, int]:
        """What the engine is doing now, for ``/_outcrop/health``."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model."""
