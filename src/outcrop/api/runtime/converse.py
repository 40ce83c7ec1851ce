"""Converse and ConverseStream on the served engines."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from ...catalog import ModelRef
from ...engines.base import Cancellation, Finished, TextDelta
from ...formats.converse import conversation_from_converse
from ...protocol import eventstream
from ...protocol.errors import ValidationException
from ..registry import Call, Reply, StreamReply, operation

SERVED_MODEL_HEADER = "x-outcrop-served-model"


def _event(event_type: str, body: dict[str, Any]) -> bytes:
    return eventstream.event(event_type, body, pad=True)


def require_text_model(ref: ModelRef, *, streaming: bool = False) -> None:
    if "TEXT" not in ref.output_modalities:
        raise ValidationException(
            "This action doesn't support the model that you provided. Try again with a supported text "
            "or chat model."
        )
    if streaming and not ref.streaming:
        raise ValidationException("The model is unsupported for streaming.")


def _usage(done: Finished) -> dict[str, int]:
    return {
        "inputTokens": done.input_tokens,
        "outputTokens": done.output_tokens,
        "totalTokens": done.input_tokens + done.output_tokens,
    }


@operation("Converse")
async def converse(call: Call) -> Reply:
    started = time.perf_counter()
    ref = call.services.catalog.resolve(call.params["modelId"])
    require_text_model(ref)
    conversation = conversation_from_converse(call.params)
    engine = call.services.engine_for(ref)
    prompt = engine.prepare(conversation)
    parts: list[str] = []
    done: Finished | None = None
    async for event in engine.submit(prompt, conversation.params, Cancellation()):
        if isinstance(event, TextDelta):
            parts.append(event.text)
        else:
            done = event
    assert done is not None
    text = "".join(parts)
    data: dict[str, Any] = {
        "output": {"message": {"role": "assistant", "content": [{"text": text}] if text else []}},
        "stopReason": done.stop_reason,
        "usage": _usage(done),
        "metrics": {"latencyMs": int((time.perf_counter() - started) * 1000)},
    }
    return Reply(data, headers=[(SERVED_MODEL_HEADER, engine.name)])


@operation("ConverseStream")
async def converse_stream(call: Call) -> StreamReply:
    started = time.perf_counter()
    ref = call.services.catalog.resolve(call.params["modelId"])
    require_text_model(ref, streaming=True)
    conversation = conversation_from_converse(call.params)
    engine = call.services.engine_for(ref)
    prompt = engine.prepare(conversation)
    cancel = Cancellation()
    generation = engine.submit(prompt, conversation.params, cancel)

    async def events() -> AsyncIterator[bytes]:
        try:
            yield _event("messageStart", {"role": "assistant"})
            done: Finished | None = None
            async for event in generation:
                if isinstance(event, TextDelta):
                    yield _event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": event.text}})
                else:
                    done = event
            assert done is not None
            yield _event("contentBlockStop", {"contentBlockIndex": 0})
            yield _event("messageStop", {"stopReason": done.stop_reason})
            yield _event(
                "metadata",
                {
                    "usage": _usage(done),
                    "metrics": {"latencyMs": int((time.perf_counter() - started) * 1000)},
                },
            )
        finally:
            cancel.cancel()

    return StreamReply(events(), headers=[(SERVED_MODEL_HEADER, engine.name)])
