"""Converse, ConverseStream, InvokeModel, InvokeModelWithResponseStream and CountTokens: each is one
call into the invocation pipeline, whose answer is framed for the wire here."""

from __future__ import annotations

from collections.abc import AsyncIterator

from ...invocation import Answered, Invocation, Streamed, StreamEvent
from ...protocol import eventstream
from ..registry import Call, Reply, StreamReply, operation


@operation("Converse")
@operation("ConverseStream")
@operation("InvokeModel")
@operation("InvokeModelWithResponseStream")
@operation("CountTokens")
async def invoke(call: Call) -> Reply | StreamReply:
    invocation = Invocation(call.operation, call.params, call.identity, request_id=call.request_id)
    answer = await call.services.pipeline.run(invocation)
    if isinstance(answer, Answered):
        return Reply(answer.data, headers=answer.headers)
    return StreamReply(_frames(answer), data=answer.data, headers=answer.headers)


async def _frames(answer: Streamed) -> AsyncIterator[bytes]:
    events: AsyncIterator[StreamEvent] = answer.events
    try:
        async for event in events:
            yield eventstream.event(event.type, event.payload, pad=True)
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
