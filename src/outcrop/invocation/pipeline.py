"""The one invocation pipeline: every runtime operation, async invocation, batch record and console
turn takes this path, whether it came over HTTP or from inside the process.

    resolve → authorize → parse → guard input → plan (bill, window, fit) → admit → engine
            → guard output → render → record

``Pipeline.run`` takes an ``Invocation`` (an operation's input members and who asks) and gives
back exactly what the HTTP API sends before framing: output members and headers, or the event
stream's events. Handlers in ``api/runtime`` only parse, call it, and frame the answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from ..auth import Identity
from ..catalog import ModelRef
from ..catalog.arns import foundation_model_arn, resource_arn
from ..conversation import AnswerEvent
from ..engines.base import Engine
from ..engines.errors import LOADING, EngineLoading
from ..formats.codec import Codec
from ..formats.families import codec_for
from ..guardrails.session import Guarding
from ..protocol.errors import (
    NotImplementedOperation,
    ValidationException,
)
from ..protocol.service_model import service_model
from ..protocol.shapes import check_python
from ..protocol.validate import validate
from . import guardrail
from .call import RUNTIME_OPERATIONS, Answered, Invocation, Streamed
from .embed import embed
from .errors import NO_STREAMING, NOT_A_TEXT_MODEL
from .hooks import ACTIONS, AccessRequest, AdmissionRequest, Hooks
from .plan import billed_tokens, plan
from .recorder import Recorder
from .render import Generation, Prepared, answer_events, render_answer, render_stream

if TYPE_CHECKING:
    from ..services import Services


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
        """For callers inside the process: the input members are type-checked and validated against
        the service model first, exactly as the HTTP layer checks a request."""
        if operation not in RUNTIME_OPERATIONS:
            raise ValueError(
                f"{operation} is not a runtime operation the pipeline runs: {RUNTIME_OPERATIONS}"
            )
        shape = service_model("bedrock-runtime").operation_model(operation).input_shape
        check_python(shape, params)
        validate(shape, params)
        invocation = Invocation(operation, params, identity, source=source)
        if request_id:
            invocation.request_id = request_id
        return await self.run(invocation)

    async def check(self, operation: str, params: dict[str, Any], identity: Identity) -> ModelRef:
        """Refuse what running the invocation would refuse before the model runs (the members,
        the model id, access, and a text model's body as its codec reads it), without running or
        recording it: async invocations and batch jobs are checked when they are submitted."""
        shape = service_model("bedrock-runtime").operation_model(operation).input_shape
        check_python(shape, params)
        validate(shape, params)
        invocation = Invocation(operation, params, identity, source="check")
        steps = _Steps(self.services, self.hooks, invocation, Recorder(invocation, self.hooks))
        ref = await steps.resolve()
        await steps.authorize(ref)
        if "EMBEDDING" not in ref.output_modalities:
            steps.parse(ref)
        return ref

    async def run(self, invocation: Invocation) -> Answered | Streamed:
        if invocation.operation not in RUNTIME_OPERATIONS:
            raise ValueError(f"{invocation.operation} is not a runtime operation the pipeline runs")
        recorder = Recorder(invocation, self.hooks)
        async with recorder.failures():
            return await _Steps(self.services, self.hooks, invocation, recorder).run()
        raise AssertionError("unreachable: failures() re-raises")  # for type checkers


class _Steps:
    """The steps for one invocation, in order; what they learn goes to its recorder."""

    def __init__(self, services: Services, hooks: Hooks, invocation: Invocation, recorder: Recorder) -> None:
        self.services = services
        self.hooks = hooks
        self.invocation = invocation
        self.recorder = recorder
        self.record = recorder.record

    async def run(self) -> Answered | Streamed:
        ref = await self.resolve()
        await self.authorize(ref)
        if self.invocation.operation == "CountTokens":
            return await self.count(ref)
        if "EMBEDDING" in ref.output_modalities:
            return await embed(self.invocation, ref, self.recorder, self.hooks)
        return await self.invoke(ref)

    async def resolve(self) -> ModelRef:
        """The Bedrock model (and profile) an id names, and whether this operation can use it. An
        id that names nothing is authorized first, as IAM reads policies before Bedrock reads the
        id: a caller whose policies do not allow it gets 403, not 400."""
        call = self.invocation
        try:
            ref = self.services.catalog.resolve(call.model_id)
        except ValidationException:
            settings = self.services.settings
            unknown = resource_arn(settings.region, settings.account_id, call.model_id)
            await self.hooks.authorize(
                AccessRequest(call.identity, call.operation, ACTIONS[call.operation], (unknown,), None)
            )
            raise
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
        call = self.invocation
        models = ref.model_arns or (foundation_model_arn(self.services.settings.region, ref.model_id),)
        resources = (ref.profile_arn, *models) if ref.profile_arn else models
        await self.hooks.authorize(
            AccessRequest(call.identity, call.operation, ACTIONS[call.operation], resources, ref)
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
            raise EngineLoading(LOADING)
        return engine

    def lookup(self, identifier: str | None, version: str | None, trace: str | None) -> Guarding | None:
        settings = self.services.settings
        return guardrail.guarding_for(
            settings.state_dir, settings.region, settings.account_id, identifier, version, trace
        )

    async def count(self, ref: ModelRef) -> Answered:
        """CountTokens: exactly the input tokens the same request would bill."""
        request = self.invocation.params.get("input") or {}
        if "converse" in request:
            codec = self.codec(ref, b"", converse=True)
            parsed = codec.parse({**request["converse"], "modelId": self.invocation.model_id}, ref)
        elif "invokeModel" in request:
            _, body = guardrail.strip_body_config(bytes(request["invokeModel"].get("body") or b""))
            codec = self.codec(ref, body, converse=False)
            parsed = codec.parse(body, ref)
        else:
            raise ValidationException("CountTokens needs an input: converse or invokeModel.")
        prepared = Prepared(ref, codec, parsed, None)
        billed, _ = await billed_tokens(prepared.answer(self.engine(ref)), parsed.conversation)
        self.record.input_tokens = billed
        data = {"inputTokens": billed}
        await self.recorder.finish(response=data)
        return Answered(data)

    def parse(self, ref: ModelRef) -> Prepared:
        call = self.invocation
        if call.converse:
            guard = guardrail.converse_guard(call.params, self.lookup, streaming=call.streaming)
            codec = self.codec(ref, b"", converse=True)
            parsed = codec.parse(call.params, ref, streaming=call.streaming)
        else:
            guard, body = guardrail.invoke_guard(call.params, self.lookup, streaming=call.streaming)
            codec = self.codec(ref, body, converse=False)
            parsed = codec.parse(body, ref, streaming=call.streaming)
            if call.streaming and parsed.choices > 1:
                raise ValidationException("n must be 1 when streaming.")
        return Prepared(ref, codec, parsed, guard)

    async def invoke(self, ref: ModelRef) -> Answered | Streamed:
        call = self.invocation
        prepared = self.parse(ref)
        seen = prepared.parsed.conversation
        if prepared.guardrail is not None:
            checked = await guardrail.check_input(prepared.guardrail, seen, converse=prepared.converse)
            if checked is None:  # blocked: the model never runs, the blocked message is the answer
                return await self.render(
                    prepared, prepared.finishing(guardrail.blocked_input(prepared.guardrail)), None
                )
            seen = checked
        engine = self.engine(ref)
        answer = prepared.answer(engine)
        planned = await plan(
            answer, prepared.parsed.conversation, seen, engine=engine, window=ref.context_window
        )
        self.record.input_tokens = planned.billed
        self.record.tokens_read = planned.tokens_read
        max_tokens = planned.conversation.params.max_tokens
        await self.hooks.admit(
            AdmissionRequest(
                call.request_id, call.source, call.identity, call.operation, ref, engine.name,
                planned.billed, max_tokens,
            )
        )  # fmt: skip
        answer.start(planned.prompt, planned.conversation)  # admitted now: a full queue is a plain 429
        events = answer_events(prepared, answer, planned.billed)
        return await self.render(prepared, events, Generation(answer, planned))

    async def render(
        self, prepared: Prepared, events: AsyncIterator[AnswerEvent], generation: Generation | None
    ) -> Answered | Streamed:
        if self.invocation.streaming:
            return render_stream(self.recorder, prepared, events, generation)
        return await render_answer(self.recorder, prepared, events, generation)
