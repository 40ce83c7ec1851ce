"""Batch inference jobs: JSONL records from S3, each run through the pipeline as the job's
creator, output written back to S3 as Bedrock lays it out.

    Submitted → Validating (input listed, records counted) → Scheduled → InProgress
              → Completed | PartiallyCompleted | Failed;  Stopping → Stopped;  Expired

Output under ``<s3Uri>/<job id>/``: ``<input file name>.out`` per input file, one line per record
(``{recordId, modelInput, modelOutput}`` or ``{recordId, modelInput, error: {errorCode,
errorMessage}}``) in input order, and ``manifest.json.out`` with the job's counts. Each record's
output is committed to the store as it is produced; a job resumed after a crash skips the records
it has, and the files are written once at the end from the store.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import logging
import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..auth import Identity
from ..protocol.errors import BedrockError, ConflictException, ResourceNotFoundException, ValidationException
from ..store.jobs import BATCH_JOB, RecordOutput
from .objects import S3Problem, S3Uri
from .records import BatchJob, job_arn, listing, new_id, now
from .service import identity_doc, identity_of

if TYPE_CHECKING:
    from .objects import ObjectStore
    from .service import Jobs

log = logging.getLogger("outcrop.jobs")
DEFAULT_TIMEOUT_HOURS = 24


@dataclass(frozen=True)
class InputRecord:
    file: str  # the input file's name
    line: int  # 0-based line number among the file's non-blank lines
    text: str


async def create(jobs: Jobs, params: dict[str, Any], identity: Identity) -> str:
    token = params.get("clientRequestToken")
    if token:
        earlier = jobs.store.by_token(BATCH_JOB, token)
        if earlier is not None:
            return str(earlier["arn"])
    name = params["jobName"]
    if any(d["name"] == name for d in jobs.store.all(BATCH_JOB)):
        raise ConflictException(f"A model invocation job with the name {name} already exists.")
    timeout = int(params.get("timeoutDurationInHours") or DEFAULT_TIMEOUT_HOURS)
    if not 24 <= timeout <= 168:
        raise ValidationException("timeoutDurationInHours must be between 24 and 168.")
    # An id the catalogue knows; each record's body is checked as it runs.
    jobs.services.catalog.resolve(params["modelId"])
    settings = jobs.services.settings
    job_id = new_id()
    at = now()
    job = BatchJob(
        id=job_id,
        arn=job_arn(settings.region, settings.account_id, "model-invocation-job", job_id),
        name=name,
        model_id=params["modelId"],
        role_arn=params["roleArn"],
        input_config=params["inputDataConfig"],
        output_config=params["outputDataConfig"],
        invocation_type=params.get("modelInvocationType") or "InvokeModel",
        timeout_hours=timeout,
        identity=identity_doc(identity),
        submit_time=at,
        last_modified=at,
        job_expiration=at + dt.timedelta(hours=timeout),
        token=token,
        tags=list(params.get("tags") or []),
        vpc_config=params.get("vpcConfig"),
    )
    jobs.store.put(BATCH_JOB, job_id, job.to_doc(), token)
    jobs.spawn(job_id, run(jobs, job), functools.partial(save, jobs, job, "Failed"))
    log.info("batch job %s (%s) submitted for %s", job_id, name, job.model_id)
    return job.arn


def resume(jobs: Jobs) -> int:
    pending = [BatchJob.from_doc(d) for d in jobs.store.all(BATCH_JOB) if not BatchJob.from_doc(d).finished]
    for job in pending:
        jobs.spawn(job.id, run(jobs, job), functools.partial(save, jobs, job, "Failed"))
    return len(pending)


def find(jobs: Jobs, identifier: str) -> BatchJob:
    job_id = identifier.rsplit("/", 1)[-1]
    doc = jobs.store.get(BATCH_JOB, job_id)
    if doc is None or (identifier.startswith("arn:") and doc["arn"] != identifier):
        raise ResourceNotFoundException(f"The model invocation job {identifier} was not found.")
    return BatchJob.from_doc(doc)


def stop(jobs: Jobs, identifier: str) -> None:
    job = find(jobs, identifier)
    if job.finished or job.status == "Stopping":
        raise ValidationException(f"The job {job.arn} is {job.status} and cannot be stopped.")
    save(jobs, job, "Stopping")


def listed(jobs: Jobs, params: dict[str, Any]) -> list[BatchJob]:
    contains = params.get("nameContains")
    items = [BatchJob.from_doc(d) for d in jobs.store.all(BATCH_JOB)]
    return listing([j for j in items if contains is None or contains in j.name], params)


def save(jobs: Jobs, job: BatchJob, status: str | None = None, message: str | None = None) -> None:
    """Store the job; a stop asked for meanwhile is kept (the runner reads it back)."""
    current = jobs.store.get(BATCH_JOB, job.id)
    running = status is None or status in ("Validating", "Scheduled", "InProgress")
    if current is not None and current["status"] == "Stopping" and running:
        job.status = "Stopping"
    elif status is not None:
        job.status = status
    if message is not None:
        job.message = message
    job.last_modified = now()
    if job.finished and job.end_time is None:
        job.end_time = job.last_modified
    jobs.store.put(BATCH_JOB, job.id, job.to_doc())


async def run(jobs: Jobs, job: BatchJob) -> None:
    try:
        objects = await jobs.s3()
        if job.status in ("Submitted", "Validating"):
            save(jobs, job, "Validating")
        records = await read_input(objects, job)
        limits = jobs.settings
        if not limits.batch_min_records <= len(records) <= limits.batch_max_records:
            raise ValidationException(
                f"The job has {len(records)} records; a job must have between {limits.batch_min_records} and "
                f"{limits.batch_max_records} (jobs.batch_min_records / batch_max_records)."
            )
        job.total = len(records)
        if job.status in ("Validating", "Scheduled"):
            save(jobs, job, "Scheduled")
        await jobs.models_ready()
        if job.status == "Scheduled":
            save(jobs, job, "InProgress")
        kept = jobs.store.records(job.id)
        done = {(r.file, r.line) for r in kept}
        # Counts from the records kept (a crash between keeping a record and saving the job's
        # counts must not leave them one behind).
        job.processed, job.success, job.errors, job.input_tokens, job.output_tokens = 0, 0, 0, 0, 0
        for output in kept:
            count(job, output)
        for record in records:
            if (record.file, record.line) in done:
                continue
            if stopping(jobs, job) or expired(job):
                break
            jobs.running[job.id] = f"batch {job.name}: record {job.processed + 1} of {job.total}"
            output = await run_record(jobs, job, record)
            if jobs.store.add_record(job.id, output):
                count(job, output)
                save(jobs, job)
                tenth = max(1, len(records) // 10)
                if job.processed % tenth == 0 or job.processed == len(records):
                    log.info("batch job %s: %d of %d records done (%d failed)", job.id, job.processed,
                             len(records), job.errors)  # fmt: skip
        final = "Stopped" if stopping(jobs, job) else "Expired" if expired(job) else None
        await write_output(objects, jobs, job)
        if final is None:
            final = "Completed" if job.errors == 0 else "PartiallyCompleted" if job.success else "Failed"
        message = "Every record failed: see the error of each in the output." if final == "Failed" else None
        save(jobs, job, final, message)
        log.info("batch job %s %s: %d records, %d succeeded, %d failed", job.id, final.lower(), job.processed,
                 job.success, job.errors)  # fmt: skip
    except (S3Problem, BedrockError, ValueError) as exc:
        save(jobs, job, "Failed", exc.message if isinstance(exc, BedrockError) else str(exc))
        log.info("batch job %s failed: %s", job.id, job.message)


def stopping(jobs: Jobs, job: BatchJob) -> bool:
    current = jobs.store.get(BATCH_JOB, job.id)
    return current is not None and current["status"] == "Stopping"


def expired(job: BatchJob) -> bool:
    return now() >= job.job_expiration


def count(job: BatchJob, output: RecordOutput) -> None:
    job.processed += 1
    job.success += output.ok
    job.errors += not output.ok
    job.input_tokens += output.input_tokens
    job.output_tokens += output.output_tokens


async def read_input(objects: ObjectStore, job: BatchJob) -> list[InputRecord]:
    """Every record of the job's input: one JSONL file, or each ``.jsonl`` file under a prefix."""
    source = S3Uri.parse(job.input_config["s3InputDataConfig"]["s3Uri"])
    if source.key and not source.key.endswith("/") and await objects.exists(source.bucket, source.key):
        keys = [source.key]
    else:
        prefix = source.key if not source.key or source.key.endswith("/") else source.key + "/"
        keys = [k for k in await objects.keys(source.bucket, prefix) if k.endswith(".jsonl")]
        if not keys:
            raise S3Problem(f"No .jsonl input files were found at {source}.")
    records: list[InputRecord] = []
    for key in keys:
        text = (await objects.get(source.bucket, key)).decode("utf-8", errors="replace")
        lines = [line for line in text.splitlines() if line.strip()]
        records.extend(InputRecord(posixpath.basename(key), n, line) for n, line in enumerate(lines))
    return records


async def run_record(jobs: Jobs, job: BatchJob, record: InputRecord) -> RecordOutput:
    """One record through the pipeline; a record the model cannot answer is an error line."""
    record_id = f"{record.line + 1:011d}"
    model_input: Any = None
    try:
        data = json.loads(record.text)
        if not isinstance(data, dict) or not isinstance(data.get("modelInput"), dict):
            raise ValueError("each line must be a JSON object with a modelInput object")
        record_id = str(data.get("recordId") or record_id)
        model_input = data["modelInput"]
    except (ValueError, RecursionError) as exc:
        line = {"recordId": record_id, "modelInput": model_input, "error": {"errorCode": 400,
                "errorMessage": f"Malformed input record: {exc}"}}  # fmt: skip
        return RecordOutput(record.file, record.line, json.dumps(line), False, 0, 0)
    identity = identity_of(job.identity)
    request_id = f"{job.id}-{record.file}-{record.line}"
    async with jobs.turn():
        try:
            if job.invocation_type == "Converse":
                answer = await jobs.services.pipeline.call(
                    "Converse",
                    {**model_input, "modelId": job.model_id},
                    identity,
                    source="batch",
                    request_id=request_id,
                )
                output: Any = _plain(answer.data)
                usage = output.get("usage") or {}
                tokens = int(usage.get("inputTokens", 0)), int(usage.get("outputTokens", 0))
            else:
                params = {"modelId": job.model_id, "body": json.dumps(model_input).encode(),
                          "contentType": "application/json", "accept": "application/json"}  # fmt: skip
                answer = await jobs.services.pipeline.call(
                    "InvokeModel", params, identity, source="batch", request_id=request_id
                )
                output = json.loads(bytes(answer.data["body"]))
                headers = dict(answer.headers)
                tokens = (int(headers.get("x-amzn-bedrock-input-token-count", 0)),
                          int(headers.get("x-amzn-bedrock-output-token-count", 0)))  # fmt: skip
        except BedrockError as exc:
            line = {"recordId": record_id, "modelInput": model_input,
                    "error": {"errorCode": exc.status, "errorMessage": exc.message}}  # fmt: skip
            return RecordOutput(record.file, record.line, json.dumps(line), False, 0, 0)
        except (TypeError, ValueError) as exc:  # members of the wrong type for the operation
            line = {"recordId": record_id, "modelInput": model_input,
                    "error": {"errorCode": 400, "errorMessage": str(exc)}}  # fmt: skip
            return RecordOutput(record.file, record.line, json.dumps(line), False, 0, 0)
    line = {"recordId": record_id, "modelInput": model_input, "modelOutput": output}
    return RecordOutput(record.file, record.line, json.dumps(line), True, *tokens)


def _plain(value: Any) -> Any:
    """Converse's output members as JSON (its document members are plain already)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


async def write_output(objects: ObjectStore, jobs: Jobs, job: BatchJob) -> None:
    destination = S3Uri.parse(job.output_config["s3OutputDataConfig"]["s3Uri"])
    folder = destination.join(job.id)
    by_file: dict[str, list[str]] = {}
    for output in jobs.store.records(job.id):
        by_file.setdefault(output.file, []).append(output.output)
    for name, lines in by_file.items():
        await objects.put(destination.bucket, f"{folder}/{name}.out", ("\n".join(lines) + "\n").encode(),
                          "application/jsonl")  # fmt: skip
    manifest = {
        "totalRecordCount": job.total or 0,
        "processedRecordCount": job.processed,
        "successRecordCount": job.success,
        "errorRecordCount": job.errors,
        "inputTokenCount": job.input_tokens,
        "outputTokenCount": job.output_tokens,
    }
    await objects.put(destination.bucket, f"{folder}/manifest.json.out", json.dumps(manifest).encode())
