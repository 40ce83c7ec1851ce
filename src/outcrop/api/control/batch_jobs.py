"""CreateModelInvocationJob, GetModelInvocationJob, ListModelInvocationJobs,
StopModelInvocationJob (jobs/batch.py does the work)."""

from __future__ import annotations

from ...catalog.pagination import paged_reply
from ...jobs import batch
from ..registry import Call, Reply, operation


@operation("CreateModelInvocationJob")
async def create_job(call: Call) -> Reply:
    return Reply({"jobArn": await batch.create(call.services.jobs, call.params, call.identity)})


@operation("GetModelInvocationJob")
async def get_job(call: Call) -> Reply:
    return Reply(batch.find(call.services.jobs, call.params["jobIdentifier"]).summary())


@operation("ListModelInvocationJobs")
async def list_jobs(call: Call) -> Reply:
    items = [j.summary() for j in batch.listed(call.services.jobs, call.params)]
    return Reply(paged_reply(items, call.params, "invocationJobSummaries"))


@operation("StopModelInvocationJob")
async def stop_job(call: Call) -> Reply:
    batch.stop(call.services.jobs, call.params["jobIdentifier"])
    return Reply({})
