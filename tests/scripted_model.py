"""A test double for the model (the outside edge of the engine): an ``Engine`` that plays scripted
answers instead of running weights, so the pipeline, codecs and fitter can be tested without a
model loaded. Everything around it (pipeline, codecs, guardrails, the answer planner) is real.

It renders a conversation the way the real engines do (``chat_messages``) and counts one token
per whitespace-separated word plus four per message, so token counts are easy to reason about.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from outcrop.conversation import Conversation, EngineEvent, Finished, InferenceParams, Started, TextDelta
from outcrop.engines.base import Cancellation, Engine, Prompt
from outcrop.engines.chat import chat_messages
from outcrop.engines.errors import ContextOverflow, EngineError

TOKENS_PER_MESSAGE = 4


@dataclass
class Script:
    pieces: list[str]
    stop_reason: str = "end_turn"
    stop_sequence: str | None = None


def render(conversation: Conversation) -> str:
    return "".join(f"<{m['role']}>{m['content']}\n" for m in chat_messages(conversation))


@dataclass
class ScriptedModel(Engine):
    """Plays ``scripts`` in order (then repeats the last); records every prompt and params."""

    scripts: list[Script] = field(default_factory=lambda: [Script(["Hello", " there."])])
    name: str = "smollm2-135m"
    context_length: int = 8192
    fit_tokens: int | None = 2048
    fail_with: EngineError | None = None  # raised by submit, as an engine's own error
    prompts: list[str] = field(default_factory=list)
    params: list[InferenceParams] = field(default_factory=list)
    model_path: str = "scripted"
    threads: int = 0
    stats: dict[str, int] = field(default_factory=lambda: {"completed": 0, "cancelled": 0, "failed": 0})
    on_submit: Callable[[Prompt], None] | None = None
    loading: bool = False  # as an engine whose model has not finished loading

    @property
    def ready(self) -> bool:
        return not self.loading

    def load(self, on_stage: Any = None) -> None:
        return None

    async def prepare(self, conversation: Conversation) -> Prompt:
        text = render(conversation)
        count = len(text.split()) + TOKENS_PER_MESSAGE * len(chat_messages(conversation))
        return Prompt(tokens=list(range(count)), text=text)

    def submit(
        self, prompt: Prompt, params: InferenceParams, cancel: Cancellation
    ) -> AsyncIterator[EngineEvent]:
        if self.fail_with is not None:
            raise self.fail_with
        if len(prompt.tokens) >= self.context_length:
            raise ContextOverflow("too long")
        self.prompts.append(prompt.text)
        self.params.append(params)
        if self.on_submit:
            self.on_submit(prompt)
        script = self.scripts.pop(0) if len(self.scripts) > 1 else self.scripts[0]

        async def play() -> AsyncIterator[EngineEvent]:
            yield Started(len(prompt.tokens))
            produced = 0
            for piece in script.pieces:
                if cancel.cancelled:
                    return
                produced += 1
                yield TextDelta(piece)
            yield Finished(script.stop_reason, len(prompt.tokens), produced, script.stop_sequence)

        return play()
