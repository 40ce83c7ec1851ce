"""``outcrop jobs``: a running server's async invocations and batch jobs, read through its own API
(as any Bedrock client would), with a progress bar per batch job when following them."""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import Any

import boto3
from botocore.config import Config
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

FINISHED = {"Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired"}


def clients(endpoint: str, region: str) -> tuple[Any, Any]:
    # The caller's AWS credentials if it has any (a server that verifies needs them), else any.
    have = bool(os.environ.get("AWS_ACCESS_KEY_ID")) or bool(boto3.Session().get_credentials())
    extra = {} if have else {"aws_access_key_id": "outcrop", "aws_secret_access_key": "outcrop"}
    common: dict[str, Any] = {
        "endpoint_url": endpoint,
        "region_name": region,
        "config": Config(retries={"max_attempts": 2}),
        **extra,
    }
    return boto3.client("bedrock-runtime", **common), boto3.client("bedrock", **common)


def fetch(runtime: Any, control: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    invocations = [
        s
        for page in runtime.get_paginator("list_async_invokes").paginate()
        for s in page["asyncInvokeSummaries"]
    ]
    batches = [
        s
        for page in control.get_paginator("list_model_invocation_jobs").paginate()
        for s in page["invocationJobSummaries"]
    ]
    return invocations, batches


def _took(item: dict[str, Any]) -> str:
    end = item.get("endTime") or dt.datetime.now(dt.UTC)
    return f"{(end - item['submitTime']).total_seconds():.1f} s"


def table(invocations: list[dict[str, Any]], batches: list[dict[str, Any]]) -> Table:
    out = Table(title="Outcrop jobs", show_lines=False)
    for column in ("kind", "id", "model", "status", "records", "submitted", "took", "message"):
        out.add_column(column)
    for job in batches:
        records = f"{job.get('processedRecordCount', 0)}/{job.get('totalRecordCount', '?')}"
        if job.get("errorRecordCount"):
            records += f" ({job['errorRecordCount']} failed)"
        job_id = job["jobArn"].rsplit("/", 1)[1]
        submitted = job["submitTime"].strftime("%Y-%m-%d %H:%M:%S")
        out.add_row(f"batch {job['jobName']}", job_id, job["modelId"], job["status"], records, submitted,
                    _took(job), job.get("message", ""))  # fmt: skip
    for item in invocations:
        invocation_id = item["invocationArn"].rsplit("/", 1)[1]
        model = item["modelArn"].rsplit("/", 1)[1]
        submitted = item["submitTime"].strftime("%Y-%m-%d %H:%M:%S")
        out.add_row("async", invocation_id, model, item["status"], "", submitted, _took(item),
                    item.get("failureMessage", ""))  # fmt: skip
    return out


def show(endpoint: str, region: str, *, watch: bool) -> int:
    console = Console()
    runtime, control = clients(endpoint, region)
    invocations, batches = fetch(runtime, control)
    if watch:
        follow(console, runtime, control, batches, invocations)
        invocations, batches = fetch(runtime, control)
    if not invocations and not batches:
        console.print("No async invocations or batch jobs yet.")
        return 0
    console.print(table(invocations, batches))
    return 0


def follow(
    console: Console,
    runtime: Any,
    control: Any,
    batches: list[dict[str, Any]],
    invocations: list[dict[str, Any]],
) -> None:
    """A bar per unfinished batch job and a line per running invocation, until they end."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        bars = {
            j["jobArn"]: progress.add_task(
                f"batch {j['jobName']} ({j['status']})", total=j.get("totalRecordCount")
            )
            for j in batches
            if j["status"] not in FINISHED
        }
        waits = {
            i["invocationArn"]: progress.add_task(f"async {i['invocationArn'].rsplit('/', 1)[1]}", total=1)
            for i in invocations
            if i["status"] == "InProgress"
        }
        while bars or waits:
            time.sleep(1)
            for arn, task in list(bars.items()):
                job = control.get_model_invocation_job(jobIdentifier=arn)
                label = f"batch {job['jobName']} ({job['status']})"
                done = job.get("processedRecordCount", 0)
                progress.update(task, completed=done, total=job.get("totalRecordCount"), description=label)
                if job["status"] in FINISHED:
                    bars.pop(arn)
            for arn, task in list(waits.items()):
                if runtime.get_async_invoke(invocationArn=arn)["status"] != "InProgress":
                    progress.update(task, completed=1)
                    waits.pop(arn)
