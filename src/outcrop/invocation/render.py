"""The render step: an answer's events through the request's codec, as a whole response or as the
event stream's events, with the guardrail's members and the record kept on the way.

What differs between Converse and InvokeModel (output members, how a chunk travels, headers, the
guardrail's members) is the codec's to say; this module only drives it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..catalog import ModelRef
from ..conversation import AnswerEvent, Conversation, Finished, Started
from ..engines.base import Engine
from ..formats.codec import Codec, Headers, ParsedRequest, Renderer
from . import cite, guardrail
from .answer import Answer
from .call import Answered, Streamed, StreamEvent
from .plan import Plan
from .recorder import Recorder

SERVED_MODEL_HEADER = "x-outcrop-served-model"


@dataclass
class Prepared:
    """A request parsed by its codec, with the model it names and the guardrail it applies."""

    ref: ModelRef
    codec: Codec
    parsed: ParsedRequest
    guardrail: guardrail.AppliedGuardrail | None

    @property
    def converse(self) -> bool:
        return self.codec.api == "converse"

    def renderer(self) -> Renderer:
        return self.codec.renderer(self.parsed, self.ref)

    def answer(self, engine: Engine, conversation: Conversation | None = None) -> Answer:
        """An answer to this request on ``engine`` (to ``conversation``, when it was fitted)."""
        return Answer(
            engine,
            conversation or self.parsed.conversation,
            new_tool_use_id=self.codec.new_tool_use_id,
            reasoning=self.parsed.reasoning,
            reasoning_phase=self.parsed.reasoning_requested,
            reasoning_budget=self.parsed.reasoning_budget,
        )

    def finishing(self, events: AsyncIterator[AnswerEvent]) -> AsyncIterator[AnswerEvent]:
        """InvokeModel bodies have no guardrail stop reason (Converse keeps its own)."""
        if self.guardrail is None or self.converse:
            return events
        return guardrail.without_intervention_stop(events)


@dataclass
class Generation:
    """An answer the engine is producing for a request, and the plan it was admitted with."""

    answer: Answer
    plan: Plan

    def headers(self) -> Headers:
        return [(SERVED_MODEL_HEADER, self.answer.engine.name), *self.plan.headers()]


def answer_events(prepared: Prepared, answer: Answer, billed: int) -> AsyncIterator[AnswerEvent]:
    """An admitted answer's events, billed as sent, with the output guardrail applied."""
    events = _billed(answer.events(), billed)
    if prepared.guardrail is not None:
        events = guardrail.check_output(prepared.guardrail, events, answer.cancel, billed)
    if cite.wants_citations(prepared.parsed.conversation):
        events = cite.with_citations(events, prepared.parsed.conversation)
    return prepared.finishing(events)


async def render_answer(
    recorder: Recorder, prepared: Prepared, events: AsyncIterator[AnswerEvent], generation: Generation | None
) -> Answered:
    """The whole answer as the operation's output members and headers."""
    renderer = prepared.renderer()
    try:
        body, done = await _collect(recorder, renderer, events)
        if generation is not None and prepared.parsed.choices > 1:
            body, done = await _more_choices(recorder, prepared, generation, body, done)
    finally:
        if generation is not None:
            generation.answer.cancel()
    action = _annotate(recorder, prepared, renderer, body)
    recorder.usage(done)
    data = prepared.codec.output(body)
    headers = [
        *prepared.codec.headers(done, recorder.ms(), action),
        *(generation.headers() if generation else []),
        *recorder.cost_headers(),
    ]
    await recorder.finish(response=data.get("body", data))
    return Answered(data, headers)


async def _collect(
    recorder: Recorder, renderer: Renderer, events: AsyncIterator[AnswerEvent]
) -> tuple[dict[str, Any], Finished]:
    done: Finished | None = None
    async with _closing(events) as stream:
        async for event in stream:
            if isinstance(event, Started):
                renderer.start(event)
            elif isinstance(event, Finished):
                done = event
            else:
                recorder.saw(event)
                renderer.feed(event)
    assert done is not None, "an answer ends with Finished"
    return renderer.body(done, recorder.metrics(done)), done


async def _more_choices(
    recorder: Recorder, prepared: Prepared, generation: Generation, body: dict[str, Any], done: Finished
) -> tuple[dict[str, Any], Finished]:
    """``n`` answers to one prompt, one after another, merged into one body."""
    bodies = [body]
    plan = generation.plan
    for _ in range(prepared.parsed.choices - 1):
        again = prepared.answer(generation.answer.engine, plan.conversation)
        again.start(plan.prompt)
        try:
            more, more_done = await _collect(
                recorder, prepared.renderer(), answer_events(prepared, again, plan.billed)
            )
        finally:
            again.cancel()
        bodies.append(more)
        done = dataclasses.replace(done, output_tokens=done.output_tokens + more_done.output_tokens)
    return prepared.codec.merge_choices(bodies, done), done


def _annotate(
    recorder: Recorder, prepared: Prepared, renderer: Renderer, target: dict[str, Any]
) -> str | None:
    """A guardrail's members on the body or the stream's last chunk; its action, if it applied."""
    if prepared.guardrail is None:
        return None
    renderer.annotate(target, guardrail.response_fields(prepared.guardrail, converse=prepared.converse))
    action = guardrail.action(prepared.guardrail)
    recorder.record.guardrail_action = action
    return action


def render_stream(
    recorder: Recorder, prepared: Prepared, events: AsyncIterator[AnswerEvent], generation: Generation | None
) -> Streamed:
    """The answer as the event stream's events, each sent as soon as it is rendered."""
    renderer = prepared.renderer()
    sent: list[dict[str, Any]] = []  # the chunks, for the record

    def wire(chunks: list[dict[str, Any]]) -> list[StreamEvent]:
        sent.extend(chunks)
        return [StreamEvent(*prepared.codec.stream_event(chunk)) for chunk in chunks]

    async def run() -> AsyncIterator[StreamEvent]:
        delivered = False  # the last event has been handed to the caller
        try:
            async with recorder.failures(sent):
                for item in wire(renderer.open()):
                    yield item
                done: Finished | None = None
                async with _closing(events) as stream:
                    async for event in stream:
                        if isinstance(event, Started):
                            out = renderer.start(event)
                        elif isinstance(event, Finished):
                            done = event
                            continue
                        else:
                            recorder.saw(event)
                            out = renderer.feed(event)
                        for item in wire(out):
                            yield item
                assert done is not None, "an answer ends with Finished"
                final = renderer.finish(done, recorder.metrics(done))
                if final:
                    _annotate(recorder, prepared, renderer, final[-1])
                recorder.usage(done)
                last = wire(final)
                for i, item in enumerate(last):
                    delivered = i == len(last) - 1
                    yield item
                delivered = True
                await recorder.finish(response=sent)
        finally:
            if generation is not None:
                generation.answer.cancel()
            if not recorder.finished:  # the caller stopped reading before the end
                await recorder.finish(response=sent, cancelled=not delivered)

    async def never_read() -> None:
        if generation is not None:
            generation.answer.cancel()
        await recorder.finish(response=sent, cancelled=True)

    return Streamed(
        InvocationStream(run(), never_read),
        prepared.codec.stream_output(),
        generation.headers() if generation else [],
    )


class InvocationStream:
    """A stream's events. Closing it, even before reading any, cancels the generation and records
    the invocation (an async generator that never started would run no cleanup of its own)."""

    def __init__(self, events: AsyncIterator[StreamEvent], never_read: Callable[[], Awaitable[None]]) -> None:
        self._events = events
        self._never_read = never_read
        self._read = False

    def __aiter__(self) -> InvocationStream:
        return self

    async def __anext__(self) -> StreamEvent:
        self._read = True
        return await anext(self._events)

    async def aclose(self) -> None:
        if not self._read:
            self._read = True
            await self._never_read()
        aclose = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()


@contextlib.asynccontextmanager
async def _closing(events: AsyncIterator[AnswerEvent]) -> AsyncIterator[AsyncIterator[AnswerEvent]]:
    """The chain of answer generators closed as soon as rendering stops (not when collected), so
    the engine's generation and a remote's connection are released at once."""
    try:
        yield events
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


async def _billed(events: AsyncIterator[AnswerEvent], billed: int) -> AsyncIterator[AnswerEvent]:
    """Usage as Bedrock bills it: the request as sent, whatever the served model read of it."""
    async for event in events:
        if isinstance(event, Started | Finished):
            event = dataclasses.replace(event, input_tokens=billed)
        yield event
