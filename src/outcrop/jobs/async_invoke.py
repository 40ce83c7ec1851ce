"""StartAsyncInvoke's work: the model's InvokeModel body run through the pipeline as the caller,
its answer written to ``<s3Uri>/<invocation id>/output.json`` beside a ``manifest.json``.

Bedrock takes async invocations only for a few models (Nova Reel, TwelveLabs Marengo, Luma Ray);
Outcrop takes them for every text and embedding model it serves, unless
``jobs.strict_async_models`` asks for AWS's refusal.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import TYPE_CHECKING, Any

from ..auth import Identity
from ..catalog.arns import foundation_model_arn
from ..protocol.errors import BedrockError, ValidationException
from ..store.jobs import ASYNC_INVOKE
from .objects import S3Problem, S3Uri
from .records import AsyncInvoke, job_arn, listing, new_id, now
from .service import identity_doc, identity_of

if TYPE_CHECKING:
    from .service import Jobs

log = logging.getLogger("outcrop.jobs")

# The models AWS documents async invocation for (docs/jobs.md).
AWS_ASYNC_MODELS = (
    "amazon.nova-reel-v1:0",
    "amazon.nova-reel-v1:1",
    "twelvelabs.marengo-embed-2-7-v1:0",
    "twelvelabs.marengo-embed-3-0-v1:0",
    "luma.ray-v2:0",
)
NOT_ASYNC = "The provided model doesn't support async inference."
MAX_FAILURE = 2048


async def start(jobs: Jobs, params: dict[str, Any], identity: Identity) -> str:
    """Check the request as InvokeModel would, keep it, and start it; returns its ARN."""
    token = params.get("clientRequestToken")
    if token:
        earlier = jobs.store.by_token(ASYNC_INVOKE, token)
        if earlier is not None:  # the same request again: the same invocation
            return str(earlier["arn"])
    body = json.dumps(params["modelInput"]).encode()
    ref = await jobs.services.pipeline.check(
        "InvokeModel", {"modelId": params["modelId"], "body": body}, identity
    )
    if jobs.settings.strict_async_models and ref.model_id not in AWS_ASYNC_MODELS:
        raise ValidationException(NOT_ASYNC)
    settings = jobs.services.settings
    invocation_id = new_id()
    at = now()
    record = AsyncInvoke(
        id=invocation_id,
        arn=job_arn(settings.region, settings.account_id, "async-invoke", invocation_id),
        model_id=params["modelId"],
        model_arn=foundation_model_arn(settings.region, ref.model_id),
        model_input=params["modelInput"],
        output_config=params["outputDataConfig"],
        identity=identity_doc(identity),
        submit_time=at,
        last_modified=at,
        token=token,
        tags=list(params.get("tags") or []),
    )
    jobs.store.put(ASYNC_INVOKE, invocation_id, record.to_doc(), token)
    jobs.spawn(invocation_id, run(jobs, record), functools.partial(finish, jobs, record, "Failed"))
    log.info("async invocation %s of %s submitted", invocation_id, record.model_id)
    return record.arn


def resume(jobs: Jobs) -> int:
    """Start again every invocation a stopped or crashed server left InProgress."""
    pending = [AsyncInvoke.from_doc(d) for d in jobs.store.all(ASYNC_INVOKE) if d["status"] == "InProgress"]
    for record in pending:
        jobs.spawn(record.id, run(jobs, record), functools.partial(finish, jobs, record, "Failed"))
    return len(pending)


async def run(jobs: Jobs, record: AsyncInvoke) -> None:
    destination = S3Uri.parse(record.output_config["s3OutputDataConfig"]["s3Uri"])
    folder = destination.join(record.id)
    await jobs.models_ready()
    async with jobs.turn():
        jobs.running[record.id] = f"async invocation of {record.model_id}"
        params = {"modelId": record.model_id, "body": json.dumps(record.model_input).encode(),
                  "contentType": "application/json", "accept": "application/json"}  # fmt: skip
        try:
            objects = await jobs.s3()  # no S3, no point running the model
            answer = await jobs.services.pipeline.call(
                "InvokeModel",
                params,
                identity_of(record.identity),
                source="async-invoke",
                request_id=record.id,
            )
            body = bytes(answer.data["body"])
            await objects.put(destination.bucket, f"{folder}/output.json", body)
            await objects.put(
                destination.bucket, f"{folder}/manifest.json", json.dumps(manifest(record)).encode()
            )
        except BedrockError as exc:
            finish(jobs, record, "Failed", exc.message)
            return
        except S3Problem as exc:
            finish(jobs, record, "Failed", str(exc))
            return
    finish(jobs, record, "Completed", None)


def manifest(record: AsyncInvoke) -> dict[str, Any]:
    """What the folder holds (Bedrock's async models write a manifest.json beside their output)."""
    return {
        "invocationArn": record.arn,
        "modelId": record.model_id,
        "modelArn": record.model_arn,
        "outputs": ["output.json"],
        "submitTime": record.submit_time.isoformat(),
    }


def finish(jobs: Jobs, record: AsyncInvoke, status: str, failure: str | None) -> None:
    at = now()
    record.status, record.end_time, record.last_modified = status, at, at
    record.failure = failure[:MAX_FAILURE] if failure else None
    jobs.store.put(ASYNC_INVOKE, record.id, record.to_doc())
    took = (at - record.submit_time).total_seconds()
    log.info(
        "async invocation %s %s in %.1f s%s",
        record.id,
        status.lower(),
        took,
        f": {failure}" if failure else "",
    )


def get(jobs: Jobs, arn: str) -> AsyncInvoke:
    invocation_id = arn.rsplit("/", 1)[-1]
    doc = jobs.store.get(ASYNC_INVOKE, invocation_id)
    if doc is None or doc["arn"] != arn:
        # GetAsyncInvoke's errors have no ResourceNotFoundException: AWS answers a validation error.
        raise ValidationException(f"Invocation {arn} was not found.")
    return AsyncInvoke.from_doc(doc)


def listed(jobs: Jobs, params: dict[str, Any]) -> list[AsyncInvoke]:
    return listing([AsyncInvoke.from_doc(d) for d in jobs.store.all(ASYNC_INVOKE)], params)
