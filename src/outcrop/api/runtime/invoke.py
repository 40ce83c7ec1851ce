"""InvokeModel and InvokeModelWithResponseStream: provider-native bodies, one family at a time.

The model id decides the body format (Bedrock's rule): ``FAMILIES`` maps the catalogue's
provider name to the codec that serves it. A family supplies three coroutines: answer a body,
stream an answer, and count the tokens a body would bill (CountTokens' ``invokeModel`` input).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from ...catalog import ModelRef
from ...conversation import Conversation
from ...engines.base import Finished, Prompt
from ...engines.tool_run import AnswerEvent
from ...formats.anthropic import (
    AnthropicRequest,
    MessageRenderer,
    new_message_id,
    new_tool_use_id,
    parse_request,
)
from ...protocol.errors import NotImplementedOperation
from ..registry import Call, Reply, StreamReply, operation
from . import native
from .answer_stream import answer_chunks, token_headers
from .converse import require_text_model
from .fitted import FittedAnswer
from .guarded import (
    InvokeGuard,
    blocked_input_events,
    guard_headers,
    guard_invoke_events,
    guard_invoke_input,
    invoke_guard,
    replayed,
    with_guard_fields,
)


@dataclass(frozen=True)
class Family:
    invoke: Callable[[Call, ModelRef], Awaitable[Reply]]
    stream: Callable[[Call, ModelRef], Awaitable[StreamReply]]
    count: Callable[[Call, ModelRef, bytes], int]


def _family(ref: ModelRef) -> Family:
    family = FAMILIES.get(ref.provider)
    if family is None:
        raise NotImplementedOperation(
            f"Outcrop does not serve InvokeModel bodies for {ref.provider} models yet; Converse works for "
            "every text model."
        )
    return family


@operation("InvokeModel")
async def invoke_model(call: Call) -> Reply:
    ref = call.services.catalog.resolve(call.params["modelId"])
    return await _family(ref).invoke(call, ref)


@operation("InvokeModelWithResponseStream")
async def invoke_model_with_response_stream(call: Call) -> StreamReply:
    ref = call.services.catalog.resolve(call.params["modelId"])
    return await _family(ref).stream(call, ref)


def count_invoke_body(call: Call, ref: ModelRef, body: bytes) -> int:
    """CountTokens for an InvokeModel body: exactly the input tokens InvokeModel would bill."""
    return _family(ref).count(call, ref, body)


# ---- Anthropic (Claude) ----------------------------------------------------------------------


@dataclass
class _Plan(FittedAnswer):
    request: AnthropicRequest


def _anthropic_request(ref: ModelRef, raw: bytes, *, streaming: bool = False) -> AnthropicRequest:
    require_text_model(ref, streaming=streaming)
    return parse_request(raw, ref)


def _anthropic_plan(
    call: Call, ref: ModelRef, request: AnthropicRequest, conversation: Conversation
) -> _Plan:
    return _Plan.plan(
        call.services.engine_for(ref),
        conversation,
        reasoning=request.reasoning,
        new_tool_use_id=new_tool_use_id,
        request=request,
    )


async def _anthropic_invoke(call: Call, ref: ModelRef) -> Reply:
    started = time.perf_counter()
    guard, raw = invoke_guard(call, call.params.get("body") or b"", streaming=False)
    request = _anthropic_request(ref, raw)
    conversation = await guard_invoke_input(guard, request.conversation)
    renderer = MessageRenderer(new_message_id(), request.model_name)
    plan: _Plan | None = None
    if conversation is None:  # blocked input: the model never runs
        events = replayed(blocked_input_events(guard))
    else:
        plan = _anthropic_plan(call, ref, request, conversation)
        plan.answer.start(plan.prompt)
        events = guard_invoke_events(guard, plan.answer, len(plan.prompt.tokens))
    done: Finished | None = None
    async for event in events:
        if isinstance(event, Finished):
            done = event
        else:
            renderer.feed(event)
    assert done is not None
    message = with_guard_fields(guard, renderer.message(done))
    headers = [
        *token_headers(done.input_tokens, done.output_tokens, started),
        *(plan.headers() if plan else []),
        *guard_headers(guard),
    ]
    body = json.dumps(message, ensure_ascii=False).encode()
    return Reply({"body": body, "contentType": "application/json"}, headers=headers)


async def _anthropic_stream(call: Call, ref: ModelRef) -> StreamReply:
    started = time.perf_counter()
    guard, raw = invoke_guard(call, call.params.get("body") or b"", streaming=True)
    request = _anthropic_request(ref, raw, streaming=True)
    conversation = await guard_invoke_input(guard, request.conversation)
    renderer = MessageRenderer(new_message_id(), request.model_name)
    if conversation is None:  # blocked input: the blocked message is the whole stream
        blocked = replayed(blocked_input_events(guard))
        chunks = _anthropic_chunks(renderer, Prompt(tokens=[], text=""), blocked, guard, started)
        return StreamReply(chunks, data={"contentType": "application/json"})
    plan = _anthropic_plan(call, ref, request, conversation)
    plan.answer.start(plan.prompt)  # admitted now: a full queue is a plain 429, not a broken stream
    answer = guard_invoke_events(guard, plan.answer, len(plan.prompt.tokens))

    async def events() -> AsyncIterator[bytes]:
        try:
            async for frame in _anthropic_chunks(renderer, plan.prompt, answer, guard, started):
                yield frame
        finally:
            plan.answer.cancel()

    return StreamReply(events(), data={"contentType": "application/json"}, headers=plan.headers())


def _anthropic_chunks(
    renderer: MessageRenderer,
    prompt: Prompt,
    events: AsyncIterator[AnswerEvent],
    guard: InvokeGuard | None,
    started: float,
) -> AsyncIterator[bytes]:
    """Messages stream chunks; message_start goes out after the engine's first event, when its
    usage can say how much of the cached prefix was really reused."""
    return answer_chunks(
        lambda: [renderer.start(prompt)], renderer.feed, renderer.finish, events, guard, started
    )


def _anthropic_count(call: Call, ref: ModelRef, body: bytes) -> int:
    request = _anthropic_request(ref, body)
    return len(_anthropic_plan(call, ref, request, request.conversation).prompt.tokens)


FAMILIES: dict[str, Family] = {
    "Anthropic": Family(invoke=_anthropic_invoke, stream=_anthropic_stream, count=_anthropic_count),
    **{p: Family(invoke=native.invoke, stream=native.stream, count=native.count) for p in native.PROVIDERS},
}
