"""InvokeModel and InvokeModelWithResponseStream: provider-native bodies, one family at a time.

The model id decides the body format (Bedrock's rule): ``FAMILIES`` maps the catalogue's
provider name to the codec that serves it. A family supplies three coroutines: answer a body,
stream an answer, and count the tokens a body would bill (CountTokens' ``invokeModel`` input).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

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
from ...protocol import eventstream
from ...protocol.errors import NotImplementedOperation
from ..registry import Call, Reply, StreamReply, operation
from . import native
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


def _ms(since: float) -> int:
    return int((time.perf_counter() - since) * 1000)


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


def _token_headers(input_tokens: int, output_tokens: int, started: float) -> list[tuple[str, str]]:
    return [
        ("x-amzn-bedrock-input-token-count", str(input_tokens)),
        ("x-amzn-bedrock-output-token-count", str(output_tokens)),
        ("x-amzn-bedrock-invocation-latency", str(_ms(started))),
    ]


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
        *_token_headers(done.input_tokens, done.output_tokens, started),
        *(plan.headers() if plan else []),
        *guard_headers(guard),
    ]
    body = json.dumps(message, ensure_ascii=False).encode()
    return Reply({"body": body, "contentType": "application/json"}, headers=headers)


def _chunk(event: dict[str, Any]) -> bytes:
    data = base64.b64encode(json.dumps(event, ensure_ascii=False).encode()).decode()
    return eventstream.event("chunk", {"bytes": data}, pad=True)


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
            async for chunk in _anthropic_chunks(renderer, plan.prompt, answer, guard, started):
                yield chunk
        finally:
            plan.answer.cancel()

    return StreamReply(events(), data={"contentType": "application/json"}, headers=plan.headers())


async def _anthropic_chunks(
    renderer: MessageRenderer,
    prompt: Prompt,
    events: AsyncIterator[AnswerEvent],
    guard: InvokeGuard | None,
    started: float,
) -> AsyncIterator[bytes]:
    """Messages stream chunks for an answer's events; a guardrail's action and trace ride on the
    last chunk (``message_stop``), as on Bedrock."""
    first_byte: int | None = None
    done: Finished | None = None
    started_message = False
    async for event in events:
        if not started_message:
            # After the engine's first event: it has admitted the prompt, so message_start's
            # usage can say how much of the cached prefix was really reused.
            yield _chunk(renderer.start(prompt))
            started_message = True
        if isinstance(event, Finished):
            done = event
            continue
        if first_byte is None:
            first_byte = _ms(started)
        for out in renderer.feed(event):
            yield _chunk(out)
    assert done is not None
    metrics = {
        "inputTokenCount": done.input_tokens,
        "outputTokenCount": done.output_tokens,
        "invocationLatency": _ms(started),
        "firstByteLatency": first_byte if first_byte is not None else _ms(started),
    }
    final = renderer.finish(done, metrics)
    with_guard_fields(guard, final[-1])
    for out in final:
        yield _chunk(out)


def _anthropic_count(call: Call, ref: ModelRef, body: bytes) -> int:
    request = _anthropic_request(ref, body)
    return len(_anthropic_plan(call, ref, request, request.conversation).prompt.tokens)


FAMILIES: dict[str, Family] = {
    "Anthropic": Family(invoke=_anthropic_invoke, stream=_anthropic_stream, count=_anthropic_count),
    **{p: Family(invoke=native.invoke, stream=native.stream, count=native.count) for p in native.PROVIDERS},
}
