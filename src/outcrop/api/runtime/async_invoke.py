"""StartAsyncInvoke, GetAsyncInvoke, ListAsyncInvokes (jobs/async_invoke.py does the work)."""

from __future__ import annotations

from ...catalog.pagination import paged_reply
from ...jobs import async_invoke
from ..registry import Call, Reply, operation


@operation("StartAsyncInvoke")
async def start_async_invoke(call: Call) -> Reply:
    arn = await async_invoke.start(call.services.jobs, call.params, call.identity)
    return Reply({"invocationArn": arn})


@operation("GetAsyncInvoke")
async def get_async_invoke(call: Call) -> Reply:
    return Reply(async_invoke.get(call.services.jobs, call.params["invocationArn"]).summary())


@operation("ListAsyncInvokes")
async def list_async_invokes(call: Call) -> Reply:
    items = [i.summary() for i in async_invoke.listed(call.services.jobs, call.params)]
    return Reply(paged_reply(items, call.params, "asyncInvokeSummaries"))
