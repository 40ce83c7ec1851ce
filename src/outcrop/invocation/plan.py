"""Plan: what a request bills, whether the Bedrock model would take it, and what the served model
reads. One rule for every API and family:

* usage, CountTokens, quotas and invocation records count the request as the client sent it (as
  Bedrock bills it), with the served model's tokenizer;
* a request longer than the Bedrock model's own context window gets AWS's "Input is too long for
  requested model.";
* a request that fits that window but not the served model's is fitted (``fit.py``), and the
  ``x-outcrop-context-fit`` header says how many tokens the model actually read.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..conversation import Conversation
from ..engines.base import Engine, Prompt
from ..protocol.errors import ValidationException
from .answer import Answer
from .errors import TOO_LONG
from .fit import CannotFit, Fitted, fit

CONTEXT_FIT_HEADER = "x-outcrop-context-fit"
DEFAULT_WINDOW = 128_000  # a Bedrock model the catalogue has no window for (docs/catalog.md)


async def billed_tokens(answer: Answer, conversation: Conversation) -> tuple[int, Prompt]:
    """The input tokens of the request as sent: its prompt as this answer would send it (a forced
    tool call's opening included), before any guardrail masking or fitting."""
    prompt = await answer.prompt(conversation)
    return len(prompt.tokens), prompt


@dataclass
class Plan:
    billed: int  # input tokens as sent
    fitted: Fitted  # what the served model reads

    @property
    def prompt(self) -> Prompt:
        return self.fitted.prompt

    @property
    def conversation(self) -> Conversation:
        return self.fitted.conversation

    @property
    def tokens_read(self) -> int | None:
        return len(self.fitted.prompt.tokens) if self.fitted.altered else None

    def headers(self) -> list[tuple[str, str]]:
        if not self.fitted.altered:
            return []
        note = f"{len(self.prompt.tokens)} of {self.billed} tokens read; " + ", ".join(self.fitted.steps)
        return [(CONTEXT_FIT_HEADER, note)]


async def plan(
    answer: Answer,
    sent: Conversation,
    seen: Conversation,
    *,
    engine: Engine,
    window: int | None,
) -> Plan:
    """``sent``: the request as parsed; ``seen``: what the model may read of it (a guardrail's
    masking applied); ``window``: the Bedrock model's context window."""
    billed, prompt = await billed_tokens(answer, sent)
    if billed > (window or DEFAULT_WINDOW):
        raise ValidationException(TOO_LONG)
    try:
        fitted = await fit(
            seen,
            answer.prompt,
            context_length=engine.context_length,
            fit_tokens=engine.fit_tokens,
            prompt=prompt if seen is sent else None,
        )
    except CannotFit:
        raise ValidationException(TOO_LONG) from None
    return Plan(billed, fitted)
