"""The one invocation pipeline: every runtime operation, async invocation, batch record and console
turn takes this path, whether it came over HTTP or from inside the process.

    resolve → authorize → parse → guard input → plan (bill, window, fit) → admit → engine
            → guard output → render → record

``Pipeline.run`` takes an ``Invocation`` (an operation's input members and who asks) and gives
back exactly what the HTTP API sends before framing: output members and headers, or the event
stream's events. Handlers in ``api/runtime`` only parse, call it, and frame the answer.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..auth import Identity
from ..catalog import ModelRef
from ..catalog.arns import foundation_model_arn
from ..conversation import AnswerEvent, Finished, ReasoningDelta, Started, TextDelta, ToolUseStart
from ..engines.base import Engine
from ..engines.errors import EngineError, EngineLoading
from ..formats.codec import Codec, ParsedRequest, Renderer, metrics_of
from ..formats.families import codec_for
from ..guardrails.session import Guarding
from ..protocol.errors import BedrockError, NotImplementedOperation, ValidationException
from ..protocol.service_model import service_model
from ..protocol.shapes import check_python
from ..protocol.validate import validate
from . import guard as guarding
from .answer import Answer
from .call import Answered, Headers, Invocation, Streamed, StreamEvent
from .embed import embed
from .errors import aws_error
from .hooks import ACTIONS, AccessRequest, AdmissionRequest, Hooks
from .plan import Plan, billed_tokens, plan
from .record import InvocationRecord

if TYPE_CHECKING:
    from ..services import Services

SERVED_MODEL_HEADER = "x-outcrop-served-model"
NOT_A_TEXT_MODEL = (
    "This action doesn't support the model that you provided. Try again with a supported text or chat model."
)
NO_STREAMING = "The model is unsupported for streaming."
DEFAULT_WINDOW = 128_000  # a Bedrock model the catalogue has no window for (docs/catalog.md)


class Pipeline:
    def __init__(self, services: Services, hooks: Hooks | None = None) -> None:
        self.services = services
        self.hooks = hooks or Hooks()

    async def call(
        self,
        operation: str,
        params: dict[str, Any],
        identity: Identity,
        *,
        source: str = "in-process",
        request_id: str | None = None,
    ) -> Answered | Streamed:
        """For callers inside the process: the input members are validated against the service
        model first, exactly as the HTTP layer validates a request."""
        shape = service_model("bedrock-runtime").operation_model(operation).input_shape
        check_python(shape, params)
        validate(shape, params)
        invocation = Invocation(operation, params, identity, source=source)
        if request_id:
            invocation.request_id = request_id
        return await self.run(invocation)

    async def run(self, invocation: Invocation) -> Answered | Streamed:
        return await _Run(self, invocation).execute()


class _Run:
    """One invocation on its way through the steps; it owns the invocation's record."""

    def __init__(self, pipeline: Pipeline, invocation: Invocation) -> None:
        self.services = pipeline.services
        self.hooks = pipeline.hooks
        self.invocation = invocation
        self.started = time.perf_counter()
        self.first_token: int | None = None
        self.record = InvocationRecord(
            request_id=invocation.request_id,
            operation=invocation.operation,
            identity=invocation.identity,
            source=invocation.source,
            model_id=invocation.model_id,
            started_at=dt.datetime.now(dt.UTC),
            request=invocation.params.get("body") if "body" in invocation.params else invocation.params,
        )
        self.recorded = False

    def ms(self) -> int:
        return int((time.perf_counter() - self.started) * 1000)

    # ---- the steps ---------------------------------------------------------------------------

    async def execute(self) -> Answered | Streamed:
        try:
            ref = self.resolve()
            await self.authorize(ref)
            if "EMBEDDING" in ref.output_modalities and self.invocation.operation != "CountTokens":
                answered = await embed(self, ref)
                await self.finish(response=answered.data.get("body"))
                return answered
            if self.invocation.operation == "CountTokens":
                return await self.count(ref)
            return await self.invoke(ref)
        except BedrockError as exc:
            await self.fail(exc)
            raise
        except EngineError as exc:
            error = aws_error(exc)
            await self.fail(error)
            raise error from None

    def resolve(self) -> ModelRef:
        """The Bedrock model (and profile) an id names, and whether this operation can use it."""
        call = self.invocation
        ref = self.services.catalog.resolve(call.model_id)
        self.record.resolved_model_id = ref.model_id
        self.record.profile_arn = ref.profile_arn
        if call.converse or call.operation == "CountTokens":
            if "TEXT" not in ref.output_modalities:
                raise ValidationException(NOT_A_TEXT_MODEL)
        elif "TEXT" not in ref.output_modalities and "EMBEDDING" not in ref.output_modalities:
            raise NotImplementedOperation(
                f"Outcrop does not serve {ref.model_id} yet: it serves text and embedding models."
            )
        if call.streaming and not ref.streaming:
            raise ValidationException(NO_STREAMING)
        return ref

    async def authorize(self, ref: ModelRef) -> None:
        model_arn = foundation_model_arn(self.services.settings.region, ref.model_id)
        resources = (ref.profile_arn, model_arn) if ref.profile_arn else (model_arn,)
        action = ACTIONS[self.invocation.operation]
        await self.hooks.access(
            AccessRequest(self.invocation.identity, self.invocation.operation, action, resources, ref)
        )

    def codec(self, ref: ModelRef, body: bytes, *, converse: bool) -> Codec:
        codec = codec_for(ref, converse=converse, body=body)
        if codec is None:
            raise NotImplementedOperation(
                f"Outcrop does not serve InvokeModel bodies for {ref.model_id} yet; Converse works for every "
                "text model."
            )
        return codec

    def engine(self, ref: ModelRef) -> Engine:
        engine = self.services.engine_for(ref)
        self.record.served_model = engine.name
        if not engine.ready:
            raise EngineLoading("The model is still loading. Try again shortly.")
        return engine

    async def count(self, ref: ModelRef) -> Answered:
        """CountTokens: exactly the input tokens the same request would bill."""
        request = self.invocation.params.get("input") or {}
        if "converse" in request:
            codec = self.codec(ref, b"", converse=True)
            parsed = codec.parse({**request["converse"], "modelId": self.invocation.model_id}, ref)
        elif "invokeModel" in request:
            _, body = guarding.strip_body_config(bytes(request["invokeModel"].get("body") or b""))
            codec = self.codec(ref, body, converse=False)
            parsed = codec.parse(body, ref)
        else:
            raise ValidationException("CountTokens needs an input: converse or invokeModel.")
        answer = self.answer(self.engine(ref), codec, parsed)
        billed, _ = await billed_tokens(answer, parsed.conversation)
        self.record.input_tokens = billed
        data = {"inputTokens": billed}
        await self.finish(response=data)
        return Answered(data)

    def answer(self, engine: Engine, codec: Codec, parsed: ParsedRequest) -> Answer:
        return Answer(
            engine, parsed.conversation, new_tool_use_id=codec.new_tool_use_id, reasoning=parsed.reasoning
        )

    def lookup(self, identifier: str | None, version: str | None, trace: str | None) -> Guarding | None:
        settings = self.services.settings
        return guarding.guarding_for(
            settings.state_dir, settings.region, settings.account_id, identifier, version, trace
        )

    async def invoke(self, ref: ModelRef) -> Answered | Streamed:
        call = self.invocation
        if call.converse:
            guard = guarding.converse_guard(call.params, self.lookup, streaming=call.streaming)
            codec = self.codec(ref, b"", converse=True)
            parsed = codec.parse(call.params, ref, streaming=call.streaming)
        else:
            guard, body = guarding.invoke_guard(call.params, self.lookup, streaming=call.streaming)
            codec = self.codec(ref, body, converse=False)
            parsed = codec.parse(body, ref, streaming=call.streaming)
            if call.streaming and parsed.choices > 1:
                raise ValidationException("n must be 1 when streaming.")
        work = _Work(ref, codec, parsed, guard)
        seen = parsed.conversation
        if guard is not None:
            checked = await guarding.check_input(guard, parsed.conversation, converse=work.converse)
            if checked is None:  # blocked: the model never runs
                return await self.respond(work, work.intervention(_replay(guarding.blocked_input(guard))))
            seen = checked
        engine = self.engine(ref)
        work.answer = answer = self.answer(engine, codec, parsed)
        window = ref.context_window or DEFAULT_WINDOW
        work.planned = planned = await plan(answer, parsed.conversation, seen, engine=engine, window=window)
        self.record.input_tokens = planned.billed
        self.record.tokens_read = planned.tokens_read
        max_tokens = planned.conversation.params.max_tokens
        await self.hooks.admit(
            AdmissionRequest(call.identity, call.operation, ref, engine.name, planned.billed, max_tokens)
        )
        answer.start(planned.prompt, planned.conversation)  # admitted now: a full queue is a plain 429
        return await self.respond(work, self.generated(work, answer))

    def generated(self, work: _Work, answer: Answer) -> AsyncIterator[AnswerEvent]:
        """The answer's events, billed as sent, with the output guardrail applied."""
        assert work.planned is not None
        billed = work.planned.billed
        events = _billed(answer.events(), billed)
        if work.guard is not None:
            events = work.intervention(guarding.check_output(work.guard, events, answer.cancel, billed))
        return events

    # ---- render ------------------------------------------------------------------------------

    async def respond(self, work: _Work, events: AsyncIterator[AnswerEvent]) -> Answered | Streamed:
        headers: Headers = []
        if work.answer is not None and work.planned is not None:
            headers = [(SERVED_MODEL_HEADER, work.answer.engine.name), *work.planned.headers()]
        if self.invocation.streaming:
            data = {} if work.converse else {"contentType": "application/json"}
            return Streamed(self.stream(work, events), data, headers)
        try:
            body, done = await self.collect(work, events)
            if work.parsed.choices > 1:
                body, done = await self.more_choices(work, body, done)
        finally:
            if work.answer is not None:
                work.answer.cancel()
        self.usage(done)
        if work.converse:
            await self.finish(response=body)
            return Answered(body, headers)
        raw = json.dumps(body, ensure_ascii=False).encode()
        headers = [*self.token_headers(done), *headers]
        if work.guard is not None:
            headers.append(guarding.action_header(work.guard))
        await self.finish(response=raw)
        return Answered({"body": raw, "contentType": "application/json"}, headers)

    async def collect(
        self, work: _Work, events: AsyncIterator[AnswerEvent]
    ) -> tuple[dict[str, Any], Finished]:
        """A whole answer as the format's response body."""
        renderer = work.renderer()
        done: Finished | None = None
        async for event in events:
            if isinstance(event, Started):
                renderer.start(event)
            elif isinstance(event, Finished):
                done = event
            else:
                self.saw(event)
                renderer.feed(event)
        assert done is not None
        body = renderer.body(done, self.metrics(done))
        self.guarded(work, renderer, body)
        return body, done

    async def more_choices(
        self, work: _Work, body: dict[str, Any], done: Finished
    ) -> tuple[dict[str, Any], Finished]:
        """``n`` answers to one prompt, one after another, as one body."""
        assert work.answer is not None and work.planned is not None
        bodies = [body]
        for _ in range(work.parsed.choices - 1):
            again = Answer(
                work.answer.engine, work.planned.conversation, new_tool_use_id=work.codec.new_tool_use_id
            )
            again.start(work.planned.prompt)
            try:
                more, more_done = await self.collect(work, self.generated(work, again))
            finally:
                again.cancel()
            bodies.append(more)
            done = dataclasses.replace(done, output_tokens=done.output_tokens + more_done.output_tokens)
        return work.codec.merge_choices(bodies, done), done

    def stream(self, work: _Work, events: AsyncIterator[AnswerEvent]) -> AsyncIterator[StreamEvent]:
        """The answer as the format's stream events, sent as they are rendered."""
        renderer = work.renderer()
        sent: list[dict[str, Any]] = []

        def framed(chunks: list[dict[str, Any]]) -> list[StreamEvent]:
            sent.extend(chunks)
            return [_stream_event(chunk, work.converse) for chunk in chunks]

        async def run() -> AsyncIterator[StreamEvent]:
            done: Finished | None = None
            try:
                async for event in events:
                    if isinstance(event, Started):
                        out = renderer.start(event)
                    elif isinstance(event, Finished):
                        done = event
                        continue
                    else:
                        self.saw(event)
                        out = renderer.feed(event)
                    for item in framed(out):
                        yield item
                assert done is not None
                final = renderer.finish(done, self.metrics(done))
                if final:
                    self.guarded(work, renderer, final[-1])
                for item in framed(final):
                    yield item
                self.usage(done)
                await self.finish(response=sent)
            except BedrockError as exc:
                await self.fail(exc, response=sent)
                raise
            except EngineError as exc:
                error = aws_error(exc)
                await self.fail(error, response=sent)
                raise error from None
            finally:
                if work.answer is not None:
                    work.answer.cancel()
                if not self.recorded:  # the caller went away mid-stream
                    self.record.cancelled = True
                    await self.finish(response=sent)

        return run()

    def guarded(self, work: _Work, renderer: Renderer, target: dict[str, Any]) -> None:
        """A guardrail's action and trace, on the body or the stream's last chunk."""
        if work.guard is None:
            return
        renderer.annotate(target, guarding.response_fields(work.guard, converse=work.converse))
        self.record.guardrail_action = "INTERVENED" if work.guard.guarding.intervened else "NONE"

    # ---- what the record and headers say -----------------------------------------------------

    def saw(self, event: AnswerEvent) -> None:
        if self.first_token is None and isinstance(event, TextDelta | ReasoningDelta | ToolUseStart):
            self.first_token = self.ms()

    def metrics(self, done: Finished) -> dict[str, int]:
        latency = self.ms()
        return metrics_of(done, latency, self.first_token if self.first_token is not None else latency)

    def usage(self, done: Finished) -> None:
        record = self.record
        record.input_tokens = done.input_tokens
        record.output_tokens = done.output_tokens
        record.cache_read_tokens = done.cache_read_tokens
        record.cache_write_tokens = done.cache_write_tokens
        record.stop_reason = done.stop_reason

    def token_headers(self, done: Finished) -> Headers:
        return [
            ("x-amzn-bedrock-input-token-count", str(done.input_tokens)),
            ("x-amzn-bedrock-output-token-count", str(done.output_tokens)),
            ("x-amzn-bedrock-invocation-latency", str(self.ms())),
        ]

    async def finish(self, *, response: Any) -> None:
        if self.recorded:
            return
        self.recorded = True
        self.record.latency_ms = self.ms()
        self.record.first_token_ms = self.first_token
        self.record.response = response
        await self.hooks.completed(self.record)

    async def fail(self, error: BedrockError, response: Any = None) -> None:
        self.record.error_code = error.code
        self.record.error_message = error.message
        await self.finish(response=response)


@dataclass
class _Work:
    """What an invocation's answer is rendered from, once its request is parsed."""

    ref: ModelRef
    codec: Codec
    parsed: ParsedRequest
    guard: guarding.Guard | None
    answer: Answer | None = None
    planned: Plan | None = None

    @property
    def converse(self) -> bool:
        return self.codec.api == "converse"

    def renderer(self) -> Renderer:
        return self.codec.renderer(self.parsed, self.ref)

    def intervention(self, events: AsyncIterator[AnswerEvent]) -> AsyncIterator[AnswerEvent]:
        """InvokeModel bodies have no guardrail stop reason (Converse keeps its own)."""
        return events if self.converse else guarding.without_intervention_stop(events)


def _stream_event(chunk: dict[str, Any], converse: bool) -> StreamEvent:
    """ConverseStream sends each chunk as its own typed event; InvokeModel's stream wraps the
    chunk's JSON, base64-encoded, in a ``chunk`` event."""
    if converse:
        ((kind, payload),) = chunk.items()
        return StreamEvent(kind, payload)
    data = base64.b64encode(json.dumps(chunk, ensure_ascii=False).encode()).decode()
    return StreamEvent("chunk", {"bytes": data})


async def _replay(events: list[AnswerEvent]) -> AsyncIterator[AnswerEvent]:
    for event in events:
        yield event


async def _billed(events: AsyncIterator[AnswerEvent], billed: int) -> AsyncIterator[AnswerEvent]:
    """Usage as Bedrock bills it: the request as sent, whatever the served model read of it."""
    async for event in events:
        if isinstance(event, Started | Finished):
            event = dataclasses.replace(event, input_tokens=billed)
        yield event
