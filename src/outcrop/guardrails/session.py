"""A guardrail around one model invocation: the input check before the model runs, and the output
check over the answer as it is generated.

Shared by Converse, ConverseStream, InvokeModel and InvokeModelWithResponseStream. The checks are
``apply.apply`` (ApplyGuardrail's evaluation) run in a worker thread; this module decides what is
checked when, and what the client gets instead of blocked or masked text.

Output is checked in one of three ways:

- ``whole`` (non-streaming calls): the complete answer, once;
- ``sync`` (streams, the default): text is held back in batches that end at a sentence boundary
  after ``BATCH_CHARS`` characters (or at the end), each batch checked before it is sent, so
  blocked or unmasked text never reaches the client;
- ``async`` (streams that ask for it): text is sent at once and checked in the same batches
  behind it; a block stops the answer, but what was already sent stays sent (AWS's trade-off,
  which is why masking is not applied in this mode).
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..conversation import AnswerEvent, Finished, Started, TextDelta
from .apply import Verdict, apply

Params = dict[str, Any]
Mode = Literal["whole", "sync", "async"]
BATCH_CHARS = 200
_SENTENCE_END = re.compile(r"[.!?…。]\s*$|\n\s*$")
INTERVENED = "guardrail_intervened"


@dataclass
class Guarding:
    """One guardrail version applied to one invocation, and what it found."""

    guardrail_id: str
    version: str
    document: Params
    trace: str = "disabled"  # enabled | disabled | enabled_full
    input_result: Verdict | None = None
    output_results: list[Verdict] = field(default_factory=list)
    model_output: list[str] = field(default_factory=list)  # the unguarded text, for enabled_full

    @property
    def _scope(self) -> str | None:
        """``enabled_full`` traces list what did not fire too, like ApplyGuardrail's FULL scope."""
        return "FULL" if self.trace == "enabled_full" else None

    @property
    def input_blocked(self) -> bool:
        return self.input_result is not None and self.input_result.blocked

    @property
    def intervened(self) -> bool:
        return any(v is not None and v.intervened for v in [self.input_result, *self.output_results])

    async def check_input(self, content: list[Params]) -> Verdict:
        """ApplyGuardrail's evaluation of the guarded input (``GuardrailContentBlock`` list)."""
        self.input_result = await asyncio.to_thread(apply, self.document, "INPUT", content, self._scope)
        return self.input_result

    async def check_output(self, text: str, references: list[Params] | None = None) -> Verdict:
        content = [*(references or []), {"text": {"text": text, "qualifiers": ["guard_content"]}}]
        if not references:
            content = [{"text": {"text": text}}]
        result = await asyncio.to_thread(apply, self.document, "OUTPUT", content, self._scope)
        self.output_results.append(result)
        self.model_output.append(text)
        return result

    @property
    def blocked_input_message(self) -> str:
        return str(self.document["blockedInputMessaging"])

    @property
    def blocked_output_message(self) -> str:
        return str(self.document["blockedOutputsMessaging"])

    def action_reason(self) -> str:
        for verdict in [*self.output_results[::-1], self.input_result]:
            if verdict is not None and verdict.intervened:
                return verdict.action_reason
        return "No action."

    def converse_trace(self) -> Params:
        """The members Converse adds: ``trace.guardrail`` (nothing when tracing is disabled)."""
        if self.trace == "disabled":
            return {}
        out: Params = {}
        if self.model_output and self.trace == "enabled_full":  # never with plain "enabled": it
            out["modelOutput"] = ["".join(self.model_output)]  # would hand out what was blocked
        if self.input_result is not None:
            out["inputAssessment"] = {self.guardrail_id: self.input_result.assessment}
        if self.output_results:
            out["outputAssessments"] = {self.guardrail_id: [v.assessment for v in self.output_results]}
        out["actionReason"] = self.action_reason()
        return {"trace": {"guardrail": out}}

    def invoke_fields(self) -> Params:
        """The members Bedrock adds to a guarded InvokeModel body (or its last stream chunk)."""
        fields: Params = {"amazon-bedrock-guardrailAction": "INTERVENED" if self.intervened else "NONE"}
        if self.trace == "disabled":
            return fields
        trace: Params = {"actionReason": self.action_reason()}
        if self.input_result is not None:
            trace["input"] = {self.guardrail_id: self.input_result.assessment}
        if self.output_results:
            trace["outputs"] = [{self.guardrail_id: v.assessment} for v in self.output_results]
        if self.trace == "enabled_full" and self.model_output:
            trace["modelOutput"] = ["".join(self.model_output)]
        fields["amazon-bedrock-trace"] = {"guardrail": trace}
        return fields


def _ready(batch: str) -> bool:
    return len(batch) >= BATCH_CHARS and bool(_SENTENCE_END.search(batch))


async def guard_output(
    guarding: Guarding,
    events: AsyncIterator[AnswerEvent],
    mode: Mode,
    cancel: Callable[[], None],
    references: list[Params] | None = None,
    input_tokens: int = 0,
) -> AsyncIterator[AnswerEvent]:
    """The answer's events with the guardrail applied to its text (see the module docstring).

    On a block the generation is cancelled, the blocked message is sent as text (unless
    ``async`` mode already sent text, when nothing more is sent) and the answer finishes with
    stop reason ``guardrail_intervened``; masked text replaces the original in ``whole`` and
    ``sync`` modes. Reasoning and tool-use events pass through unchecked. In ``async`` mode a
    batch is checked in the background while the stream goes on (one check at a time; text that
    arrives meanwhile joins the next one).
    """
    held: list[AnswerEvent] = []  # events not yet sent (whole/sync)
    batch = ""  # text not yet checked
    intervened = False
    behind: asyncio.Task[tuple[bool, str | None]] | None = None  # async mode's running check

    async def check() -> tuple[bool, str | None]:
        """(blocked, masked text or None) for the pending batch."""
        nonlocal batch, intervened
        text, batch = batch, ""
        if not text:
            return False, None
        verdict = await guarding.check_output(text, references)
        if not verdict.intervened:
            return False, None
        intervened = True
        if verdict.blocked:
            return True, None
        return False, "".join(verdict.outputs)

    def release(masked: str | None) -> list[AnswerEvent]:
        nonlocal held
        out, held = held, []
        if masked is None:
            return out
        replaced: list[AnswerEvent] = []
        placed = False
        for event in out:
            if isinstance(event, TextDelta):
                if not placed:
                    replaced.append(TextDelta(masked))
                    placed = True
            else:
                replaced.append(event)
        return replaced

    sent_text = False
    produced = 0
    admitted = Started(input_tokens)

    def stopped() -> Finished:
        return Finished(
            INTERVENED, input_tokens, produced, None, admitted.cache_read_tokens, admitted.cache_write_tokens
        )

    try:
        async for event in events:
            if isinstance(event, Started):  # the engine's admission carries no text: never held back
                admitted = event
                yield event
                continue
            produced += 0 if isinstance(event, Finished) else 1
            if isinstance(event, Finished):
                blocked = False
                if behind is not None:
                    blocked, _ = await behind
                    behind = None
                if not blocked:
                    blocked, masked = await check()
                if blocked:
                    held = []
                    if not (mode == "async" and sent_text):
                        yield TextDelta(guarding.blocked_output_message)
                else:
                    for out in release(masked if mode != "async" else None):
                        yield out
                yield dataclasses.replace(event, stop_reason=INTERVENED) if intervened else event
                return
            if isinstance(event, TextDelta):
                batch += event.text
            if mode == "async":
                if behind is not None and behind.done():
                    blocked, _ = behind.result()
                    behind = None
                    if blocked:  # what was sent stays sent; nothing more is
                        cancel()
                        yield stopped()
                        return
                sent_text = sent_text or isinstance(event, TextDelta)
                yield event
                if behind is None and _ready(batch):
                    behind = asyncio.create_task(check())
                continue
            held.append(event)
            if mode == "sync" and _ready(batch):
                blocked, masked = await check()
                if blocked:
                    cancel()
                    held = []
                    yield TextDelta(guarding.blocked_output_message)
                    yield stopped()
                    return
                for out in release(masked):
                    yield out
    finally:
        if behind is not None and not behind.done():
            behind.cancel()
