"""InvokeModel / InvokeModelWithResponseStream for every provider-native body but Anthropic's.

One loop drives every family: the codec (``formats/families.py``) parses the body into the
canonical conversation; the answer runs on the served engine (``engines/tool_run.Answer``:
free text, grammar-constrained tool calls, reasoning split); the codec's renderer writes the
native response body or stream chunks. Embedding models go to the embedding engine instead.
``invoke.py``'s dispatch table maps each provider to ``invoke``, ``stream`` and ``count`` here.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from ...catalog import ModelRef
from ...conversation import Conversation
from ...engines.base import Finished
from ...engines.embeddings import embedding_engine
from ...engines.tool_run import Answer, AnswerEvent
from ...formats import embeddings
from ...formats.codec import Codec, NativeRequest, Renderer
from ...formats.families import PROVIDERS, codec_for
from ...protocol.errors import NotImplementedOperation, ValidationException
from ..registry import Call, Reply, StreamReply
from .answer_stream import answer_chunks, ms, token_headers
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

EMBEDDING_MODEL_HEADER = "x-outcrop-embedding-model"

__all__ = ["PROVIDERS", "count", "invoke", "stream"]


def _is_embedding(ref: ModelRef) -> bool:
    return "EMBEDDING" in ref.output_modalities


def _has_messages(raw: bytes) -> bool:
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return False
    return isinstance(body, dict) and "messages" in body


def _codec(ref: ModelRef, raw: bytes) -> Codec:
    codec = codec_for(ref, has_messages=_has_messages(raw))
    if codec is None:
        raise NotImplementedOperation(
            f"Outcrop does not serve InvokeModel bodies for {ref.model_id} yet; Converse works for every "
            "text model."
        )
    return codec


@dataclass
class _Plan(FittedAnswer):
    codec: Codec
    request: NativeRequest


def _parse(ref: ModelRef, raw: bytes, *, streaming: bool = False) -> tuple[Codec, NativeRequest]:
    if "TEXT" not in ref.output_modalities:  # image, video and speech models
        raise NotImplementedOperation(
            f"Outcrop does not serve {ref.model_id} yet: it serves text and embedding models."
        )
    require_text_model(ref, streaming=streaming)
    codec = _codec(ref, raw)
    return codec, codec.parse(raw, ref)


def _plan(
    call: Call, ref: ModelRef, codec: Codec, request: NativeRequest, conversation: Conversation | None = None
) -> _Plan:
    return _Plan.plan(
        call.services.engine_for(ref),
        conversation or request.conversation,
        reasoning=request.reasoning,
        new_tool_use_id=codec.new_tool_use_id,
        codec=codec,
        request=request,
    )


async def invoke(call: Call, ref: ModelRef) -> Reply:
    started = time.perf_counter()
    raw = call.params.get("body") or b""
    if _is_embedding(ref):
        return await _embed(raw, ref, started)
    guard, raw = invoke_guard(call, raw, streaming=False)
    codec, request = _parse(ref, raw)
    conversation = await guard_invoke_input(guard, request.conversation)
    if conversation is None:  # blocked input: the model never runs
        blocked, done = await _render(codec.renderer(request, ref), 0, replayed(blocked_input_events(guard)))
        body = json.dumps(with_guard_fields(guard, blocked), ensure_ascii=False).encode()
        headers = [*token_headers(done.input_tokens, done.output_tokens, started), *guard_headers(guard)]
        return Reply({"body": body, "contentType": "application/json"}, headers=headers)
    plan = _plan(call, ref, codec, request, conversation)
    plan.answer.start(plan.prompt)
    answer, done = await _answer(plan, ref, plan.answer, guard)
    choices = int(plan.request.options.get("n", 1))
    if choices > 1:  # n: more answers to the same prompt, one after another
        answers = [answer]
        for _ in range(choices - 1):
            again = Answer(plan.engine, plan.fitted.conversation, new_tool_use_id=plan.codec.new_tool_use_id)
            again.start(plan.prompt)
            more, more_done = await _answer(plan, ref, again, guard)
            answers.append(more)
            done = Finished(done.stop_reason, done.input_tokens, done.output_tokens + more_done.output_tokens)
        answer = _merge_choices(answers, done)
    body = json.dumps(with_guard_fields(guard, answer), ensure_ascii=False).encode()
    headers = [
        *token_headers(done.input_tokens, done.output_tokens, started),
        *plan.headers(),
        *guard_headers(guard),
    ]
    return Reply({"body": body, "contentType": "application/json"}, headers=headers)


async def _render(
    renderer: Renderer, prompt_tokens: int, events: AsyncIterator[AnswerEvent]
) -> tuple[dict[str, Any], Finished]:
    renderer.start(prompt_tokens)
    done: Finished | None = None
    async for event in events:
        if isinstance(event, Finished):
            done = event
        else:
            renderer.feed(event)
    assert done is not None
    return renderer.body(done), done


async def _answer(
    plan: _Plan, ref: ModelRef, answer: Answer, guard: InvokeGuard | None
) -> tuple[dict[str, Any], Finished]:
    events = guard_invoke_events(guard, answer, len(plan.prompt.tokens))
    return await _render(plan.codec.renderer(plan.request, ref), len(plan.prompt.tokens), events)


def _merge_choices(answers: list[dict[str, Any]], done: Finished) -> dict[str, Any]:
    """One chat-completions body with every answer's choice, usage summed."""
    out = answers[0]
    out["choices"] = [{**a["choices"][0], "index": i} for i, a in enumerate(answers)]
    if "usage" in out:
        out["usage"]["completion_tokens"] = done.output_tokens
        out["usage"]["total_tokens"] = done.input_tokens + done.output_tokens
    return out


async def stream(call: Call, ref: ModelRef) -> StreamReply:
    started = time.perf_counter()
    if _is_embedding(ref):
        raise ValidationException("The model is unsupported for streaming.")
    guard, raw = invoke_guard(call, call.params.get("body") or b"", streaming=True)
    codec, request = _parse(ref, raw, streaming=True)
    if int(request.options.get("n", 1)) > 1:
        raise ValidationException("n must be 1 when streaming.")
    conversation = await guard_invoke_input(guard, request.conversation)
    if conversation is None:
        blocked = _stream_events(
            codec.renderer(request, ref), 0, replayed(blocked_input_events(guard)), guard, started
        )
        return StreamReply(blocked, data={"contentType": "application/json"})
    plan = _plan(call, ref, codec, request, conversation)
    plan.answer.start(plan.prompt)  # admitted now: a full queue is a plain 429, not a broken stream
    renderer = plan.codec.renderer(plan.request, ref)
    guarded = guard_invoke_events(guard, plan.answer, len(plan.prompt.tokens))

    async def events() -> AsyncIterator[bytes]:
        try:
            async for frame in _stream_events(renderer, len(plan.prompt.tokens), guarded, guard, started):
                yield frame
        finally:
            plan.answer.cancel()

    return StreamReply(events(), data={"contentType": "application/json"}, headers=plan.headers())


def _stream_events(
    renderer: Renderer,
    prompt_tokens: int,
    events: AsyncIterator[AnswerEvent],
    guard: InvokeGuard | None,
    started: float,
) -> AsyncIterator[bytes]:
    return answer_chunks(
        lambda: renderer.start(prompt_tokens), renderer.feed, renderer.finish, events, guard, started
    )


def count(call: Call, ref: ModelRef, raw: bytes) -> int:
    """CountTokens for a native body: the input tokens InvokeModel would bill for it."""
    codec, request = _parse(ref, raw)
    return len(_plan(call, ref, codec, request).prompt.tokens)


async def _embed(raw: bytes, ref: ModelRef, started: float) -> Reply:
    engine = embedding_engine()
    request = embeddings.parse(
        raw, ref, engine.token_counts, lambda text, n, keep_end: engine.truncate(text, n, keep_end=keep_end)
    )
    embedded = await engine.embed(request.texts, request.dimensions)
    body = json.dumps(embeddings.render(request, embedded)).encode()
    tokens = sum(request.options.get("token_counts") or embedded.token_counts)
    headers = [
        ("x-amzn-bedrock-input-token-count", str(tokens)),
        ("x-amzn-bedrock-invocation-latency", str(ms(started))),
        (EMBEDDING_MODEL_HEADER, engine.name),
    ]
    return Reply({"body": body, "contentType": "application/json"}, headers=headers)
