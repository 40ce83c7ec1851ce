"""What InvokeModel's Anthropic path and every other family's codec share once a renderer exists:
chunk framing, the stream loop (Bedrock's invocation metrics, a guardrail's action and trace on the
last chunk) and the token-count headers."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from ...engines.base import Finished
from ...engines.tool_run import AnswerEvent
from ...formats.codec import metrics_of
from ...protocol import eventstream
from .guarded import InvokeGuard, with_guard_fields

Chunk = dict[str, Any]


def ms(since: float) -> int:
    return int((time.perf_counter() - since) * 1000)


def token_headers(input_tokens: int, output_tokens: int, started: float) -> list[tuple[str, str]]:
    return [
        ("x-amzn-bedrock-input-token-count", str(input_tokens)),
        ("x-amzn-bedrock-output-token-count", str(output_tokens)),
        ("x-amzn-bedrock-invocation-latency", str(ms(started))),
    ]


def chunk(event: Chunk) -> bytes:
    """One ``chunk`` event of InvokeModelWithResponseStream: the JSON, base64 in ``bytes``."""
    data = base64.b64encode(json.dumps(event, ensure_ascii=False).encode()).decode()
    return eventstream.event("chunk", {"bytes": data}, pad=True)


async def answer_chunks(
    opening: Callable[[], list[Chunk]],
    feed: Callable[[AnswerEvent], list[Chunk]],
    finish: Callable[[Finished, dict[str, int]], list[Chunk]],
    events: AsyncIterator[AnswerEvent],
    guard: InvokeGuard | None,
    started: float,
) -> AsyncIterator[bytes]:
    """A renderer's chunks for an answer's events. ``opening`` runs once the first event is in
    (the engine has admitted the prompt, so usage there can tell cache reads from writes); the
    guardrail's action and trace ride on the last chunk, as on Bedrock."""
    first_byte: int | None = None
    done: Finished | None = None
    opened = False
    async for event in events:
        if not opened:
            for out in opening():
                yield chunk(out)
            opened = True
        if isinstance(event, Finished):
            done = event
            continue
        if first_byte is None:
            first_byte = ms(started)
        for out in feed(event):
            yield chunk(out)
    assert done is not None
    final = finish(done, metrics_of(done, ms(started), first_byte if first_byte is not None else ms(started)))
    if final:
        with_guard_fields(guard, final[-1])
    for out in final:
        yield chunk(out)
