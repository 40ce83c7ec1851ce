"""One InvokeModel answer planned for a served engine: the conversation fitted to the engine's
context, the answer runner, and the prompt it bills. Shared by the Anthropic path and every
other family's codec, so both fit, plan and label responses the same way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

from ...conversation import Conversation
from ...engines.base import Prompt
from ...engines.llamacpp.engine import LlamaCppEngine
from ...engines.openai_compat import OpenAICompatEngine
from ...engines.tool_run import Answer
from ...formats.anthropic_fit import Fitted, fit
from .converse import SERVED_MODEL_HEADER

CONTEXT_FIT_HEADER = "x-outcrop-context-fit"


@dataclass
class FittedAnswer:
    engine: LlamaCppEngine | OpenAICompatEngine
    fitted: Fitted
    answer: Answer
    prompt: Prompt

    @classmethod
    def plan(
        cls,
        engine: LlamaCppEngine | OpenAICompatEngine,
        conversation: Conversation,
        *,
        reasoning: bool,
        new_tool_use_id: Callable[[], str],
        **extra: Any,
    ) -> Self:
        fitted = fit(conversation, engine.prepare, engine.context_length)
        answer = Answer(engine, fitted.conversation, new_tool_use_id=new_tool_use_id, reasoning=reasoning)
        prompt = answer.prompt() if answer.forced else fitted.prompt
        return cls(engine=engine, fitted=fitted, answer=answer, prompt=prompt, **extra)

    def headers(self) -> list[tuple[str, str]]:
        out = [(SERVED_MODEL_HEADER, self.engine.name)]
        if self.fitted.trimmed:
            out.append((CONTEXT_FIT_HEADER, self.fitted.trimmed))
        return out
