"""Async invocations and batch inference jobs against a real server and its embedded S3 server
(SeaweedFS), driven by boto3 (bedrock-runtime, bedrock and s3 clients), the AWS CLI and the
JavaScript SDK, with output read back from S3."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import REGION, Server, aws_runner, make_client, start_server, stop_server
from test_js_sdk import js

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
EMBED = "amazon.titan-embed-text-v2:0"


def claude_body(text: str, max_tokens: int = 12) -> dict[str, Any]:
    return {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": text}],
    }


@pytest.fixture(scope="module")
def jobs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("jobs"), "jobs", env={"OUTCROP_EMBEDDED_S3": "1"})
    yield srv
    stop_server(srv)


def s3_endpoint(server: Server, timeout: float = 60) -> str:
    """The embedded S3 server's URL, once health shows it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        endpoint = server.health().get("s3_endpoint")
        if endpoint:
            return str(endpoint)
        time.sleep(0.2)
    raise AssertionError(f"no s3_endpoint in health: {server.health()}")


def s3_client(server: Server) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint(server),
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(s3={"addressing_style": "path"}),
    )


def new_bucket(s3: Any) -> str:
    name = f"outcrop-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def read_json(s3: Any, bucket: str, key: str) -> Any:
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def wait_async(runtime: Any, arn: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = runtime.get_async_invoke(invocationArn=arn)
        if got["status"] != "InProgress":
            return dict(got)
        time.sleep(0.3)
    raise AssertionError(f"{arn} still InProgress")


def wait_job(bedrock: Any, arn: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = bedrock.get_model_invocation_job(jobIdentifier=arn)
        if got["status"] in ("Completed", "PartiallyCompleted", "Failed", "Stopped", "Expired"):
            return dict(got)
        time.sleep(0.3)
    raise AssertionError(f"{arn} did not finish")


def test_async_invoke_writes_the_invoke_model_body_to_s3(jobs_server: Server) -> None:
    runtime = make_client("bedrock-runtime", jobs_server.url)
    s3 = s3_client(jobs_server)
    bucket = new_bucket(s3)
    started = runtime.start_async_invoke(
        modelId=CLAUDE,
        modelInput=claude_body("Name a colour."),
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}/results"}},
        tags=[{"key": "team", "value": "docs"}],
    )
    arn = started["invocationArn"]
    assert arn.startswith(f"arn:aws:bedrock:{REGION}:123456789012:async-invoke/")
    invocation_id = arn.rsplit("/", 1)[1]
    assert len(invocation_id) == 12 and invocation_id.isalnum() and invocation_id.islower()
    done = wait_async(runtime, arn)
    assert done["status"] == "Completed", done
    assert done["modelArn"] == f"arn:aws:bedrock:{REGION}::foundation-model/{CLAUDE}"
    assert done["outputDataConfig"] == {"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}/results"}}
    assert done["submitTime"] <= done["endTime"] and "failureMessage" not in done
    output = read_json(s3, bucket, f"results/{invocation_id}/output.json")
    # The body InvokeModel returns for this model.
    assert output["type"] == "message" and output["role"] == "assistant"
    assert output["content"][0]["type"] == "text" and output["usage"]["output_tokens"] > 0
    manifest = read_json(s3, bucket, f"results/{invocation_id}/manifest.json")
    assert manifest["invocationArn"] == arn and manifest["outputs"] == ["output.json"]


def test_async_invoke_of_an_embedding_model(jobs_server: Server) -> None:
    runtime = make_client("bedrock-runtime", jobs_server.url)
    s3 = s3_client(jobs_server)
    bucket = new_bucket(s3)
    arn = runtime.start_async_invoke(
        modelId=EMBED,
        modelInput={"inputText": "Outcrop runs models locally."},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}"}},
    )["invocationArn"]
    assert wait_async(runtime, arn)["status"] == "Completed"
    output = read_json(s3, bucket, f"{arn.rsplit('/', 1)[1]}/output.json")
    assert len(output["embedding"]) == 1024 and output["inputTextTokenCount"] > 0


def test_async_invoke_is_idempotent_and_checked_up_front(jobs_server: Server) -> None:
    runtime = make_client("bedrock-runtime", jobs_server.url)
    s3 = s3_client(jobs_server)
    bucket = new_bucket(s3)
    request = {
        "modelId": CLAUDE,
        "modelInput": claude_body("Say hi."),
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}/x"}},
        "clientRequestToken": f"token-{uuid.uuid4().hex}",
    }
    first = runtime.start_async_invoke(**request)["invocationArn"]
    assert runtime.start_async_invoke(**request)["invocationArn"] == first
    got = runtime.get_async_invoke(invocationArn=first)
    assert got["clientRequestToken"] == request["clientRequestToken"]
    # The same errors InvokeModel gives for the same body, before anything runs.
    bad = {"anthropic_version": "bedrock-2023-05-31", "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(ClientError) as invoked:
        runtime.invoke_model(modelId=CLAUDE, body=json.dumps(bad))
    with pytest.raises(ClientError) as started:
        runtime.start_async_invoke(**{**request, "modelInput": bad, "clientRequestToken": "other"})
    assert started.value.response["Error"] == invoked.value.response["Error"]
    with pytest.raises(ClientError) as unknown:
        runtime.start_async_invoke(**{**request, "modelId": "acme.nothing-v1", "clientRequestToken": "third"})
    assert unknown.value.response["Error"]["Code"] == "ValidationException"
    missing = f"arn:aws:bedrock:{REGION}:123456789012:async-invoke/abcdefabcdef"
    with pytest.raises(ClientError) as not_found:
        runtime.get_async_invoke(invocationArn=missing)
    assert not_found.value.response["Error"]["Code"] == "ValidationException"
    assert wait_async(runtime, first)["status"] == "Completed"


def test_a_missing_bucket_fails_the_invocation(jobs_server: Server) -> None:
    runtime = make_client("bedrock-runtime", jobs_server.url)
    arn = runtime.start_async_invoke(
        modelId=CLAUDE,
        modelInput=claude_body("Hi"),
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": "s3://no-such-bucket-outcrop/out"}},
    )["invocationArn"]
    done = wait_async(runtime, arn)
    assert done["status"] == "Failed"
    assert "no-such-bucket-outcrop" in done["failureMessage"] and "endTime" in done


def test_list_async_invokes_filters_sorts_and_pages(jobs_server: Server) -> None:
    runtime = make_client("bedrock-runtime", jobs_server.url)
    s3 = s3_client(jobs_server)
    bucket = new_bucket(s3)
    arns = [
        runtime.start_async_invoke(
            modelId=CLAUDE,
            modelInput=claude_body(f"Count to {n}.", 4),
            outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}"}},
        )["invocationArn"]
        for n in range(3)
    ]
    for arn in arns:
        wait_async(runtime, arn)
    pages = runtime.get_paginator("list_async_invokes").paginate(
        sortOrder="Ascending", PaginationConfig={"PageSize": 2}
    )
    listed = [s["invocationArn"] for page in pages for s in page["asyncInvokeSummaries"]]
    assert [a for a in listed if a in arns] == arns  # oldest first, across pages
    newest = runtime.list_async_invokes(maxResults=1)["asyncInvokeSummaries"]
    assert newest[0]["invocationArn"] == arns[-1]  # newest first by default
    failed = runtime.list_async_invokes(statusEquals="Failed")["asyncInvokeSummaries"]
    assert all(s["status"] == "Failed" for s in failed) and not {s["invocationArn"] for s in failed} & set(
        arns
    )
    later = runtime.get_async_invoke(invocationArn=arns[-1])["submitTime"]
    after = runtime.list_async_invokes(submitTimeAfter=later)["asyncInvokeSummaries"]
    assert arns[-1] not in [s["invocationArn"] for s in after]


def put_lines(s3: Any, bucket: str, key: str, lines: list[Any]) -> None:
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    s3.put_object(Bucket=bucket, Key=key, Body=text.encode())


def create_job(bedrock: Any, bucket: str, input_key: str, **extra: Any) -> str:
    return str(
        bedrock.create_model_invocation_job(
            jobName=extra.pop("jobName", f"job-{uuid.uuid4().hex[:10]}"),
            roleArn="arn:aws:iam::123456789012:role/BedrockBatch",
            modelId=extra.pop("modelId", CLAUDE),
            inputDataConfig={"s3InputDataConfig": {"s3Uri": f"s3://{bucket}/{input_key}"}},
            outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}/out/"}},
            **extra,
        )["jobArn"]
    )


def output_lines(s3: Any, bucket: str, job_arn: str, name: str) -> list[dict[str, Any]]:
    job_id = job_arn.rsplit("/", 1)[1]
    body = s3.get_object(Bucket=bucket, Key=f"out/{job_id}/{name}.out")["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def test_a_batch_job_runs_every_record_and_writes_bedrocks_layout(jobs_server: Server) -> None:
    bedrock = make_client("bedrock", jobs_server.url)
    s3 = s3_client(jobs_server)
    bucket = new_bucket(s3)
    put_lines(
        s3,
        bucket,
        "in/records.jsonl",
        [
            {"recordId": "r1", "modelInput": claude_body("What is 2 plus 2?")},
            "{not json",
            {
                "recordId": "r3",
                "modelInput": {"anthropic_version": "bedrock-2023-05-31"},
            },  # refused by the model
            {"modelInput": claude_body("Name a fruit.")},  # no recordId: one is given
        ],
    )
    arn = create_job(bedrock, bucket, "in/records.jsonl", tags=[{"key": "team", "value": "ml"}])
    assert arn.startswith(f"arn:aws:bedrock:{REGION}:123456789012:model-invocation-job/")
    done = wait_job(bedrock, arn)
    assert done["status"] == "PartiallyCompleted", done
    assert (done["totalRecordCount"], done["processedRecordCount"]) == (4, 4)
    assert (done["successRecordCount"], done["errorRecordCount"]) == (2, 2)
    assert done["modelInvocationType"] == "InvokeModel" and done["timeoutDurationInHours"] == 24
    lines = output_lines(s3, bucket, arn, "records.jsonl")
    assert len(lines) == 4
    assert lines[0]["recordId"] == "r1" and lines[0]["modelOutput"]["type"] == "message"
    assert lines[0]["modelInput"] == claude_body("What is 2 plus 2?")
    assert lines[1]["error"]["errorCode"] == 400 and "Malformed" in lines[1]["error"]["errorMessage"]
    assert lines[2]["recordId"] == "r3" and lines[2]["error"]["errorCode"] == 400
    assert lines[3]["recordId"] and lines[3]["modelOutput"]["content"]
    manifest = read_json(s3, bucket, f"out/{arn.rsplit('/', 1)[1]}/manifest.json.out")
    assert manifest["totalRecordCount"] == 4 and manifest["successRecordCount"] == 2
    assert manifest["errorRecordCount"] == 2 and manifest["processedRecordCount"] == 4
    outputs = [line["modelOutput"]["usage"] for line in lines if "modelOutput" in line]
    assert manifest["inputTokenCount"] == sum(u["input_tokens"] for u in outputs)
    assert manifest["outputTokenCount"] == sum(u["output_tokens"] for u in outputs)
    with pytest.raises(ClientError) as finished:
        bedrock.stop_model_invocation_job(jobIdentifier=arn)
    assert finished.value.response["Error"]["Code"] == "ValidationException"


def test_a_converse_batch_job_over_a_prefix(jobs_server: Server) -> None:
    bedrock = make_client("bedrock", jobs_server.url)
    s3 = s3_client(jobs_server)
    bucket = new_bucket(s3)
    converse = {
        "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
        "inferenceConfig": {"maxTokens": 8},
    }
    put_lines(s3, bucket, "in/a.jsonl", [{"recordId": "a1", "modelInput": converse}])
    put_lines(s3, bucket, "in/b.jsonl", [{"recordId": "b1", "modelInput": converse}])
    s3.put_object(Bucket=bucket, Key="in/readme.txt", Body=b"not input")
    name = f"conv-{uuid.uuid4().hex[:8]}"
    arn = create_job(bedrock, bucket, "in/", jobName=name, modelInvocationType="Converse")
    done = wait_job(bedrock, arn)
    assert done["status"] == "Completed" and done["totalRecordCount"] == 2
    for file, record in (("a.jsonl", "a1"), ("b.jsonl", "b1")):
        (line,) = output_lines(s3, bucket, arn, file)
        assert line["recordId"] == record
        assert line["modelOutput"]["output"]["message"]["role"] == "assistant"
        assert line["modelOutput"]["stopReason"] in ("end_turn", "max_tokens")
    summaries = bedrock.list_model_invocation_jobs(nameContains=name)["invocationJobSummaries"]
    assert [s["jobArn"] for s in summaries] == [arn]
    with pytest.raises(ClientError) as taken:
        create_job(bedrock, bucket, "in/", jobName=name)
    assert taken.value.response["Error"]["Code"] == "ConflictException"
    with pytest.raises(ClientError) as unknown:
        bedrock.get_model_invocation_job(jobIdentifier="abcdefabcdef")
    assert unknown.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_stopped_job_keeps_what_it_did(jobs_server: Server) -> None:
    bedrock = make_client("bedrock", jobs_server.url)
    s3 = s3_client(jobs_server)
    bucket = new_bucket(s3)
    records = [{"recordId": f"s{n}", "modelInput": claude_body(f"Describe place {n}.", 40)} for n in range(8)]
    put_lines(s3, bucket, "in/stop.jsonl", records)
    arn = create_job(bedrock, bucket, "in/stop.jsonl")
    deadline = time.monotonic() + 120
    while bedrock.get_model_invocation_job(jobIdentifier=arn)["processedRecordCount"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    bedrock.stop_model_invocation_job(jobIdentifier=arn)
    assert bedrock.get_model_invocation_job(jobIdentifier=arn)["status"] in ("Stopping", "Stopped")
    done = wait_job(bedrock, arn)
    assert done["status"] == "Stopped" and 1 <= done["processedRecordCount"] < 8
    lines = output_lines(s3, bucket, arn, "stop.jsonl")
    assert [line["recordId"] for line in lines] == [f"s{n}" for n in range(done["processedRecordCount"])]


def test_a_job_without_input_fails_with_a_reason(jobs_server: Server) -> None:
    bedrock = make_client("bedrock", jobs_server.url)
    s3 = s3_client(jobs_server)
    bucket = new_bucket(s3)
    done = wait_job(bedrock, create_job(bedrock, bucket, "nothing-here/"))
    assert done["status"] == "Failed" and "No .jsonl input files" in done["message"]


def test_the_aws_cli_and_the_javascript_sdk(jobs_server: Server) -> None:
    aws: Callable[..., Any] = aws_runner(jobs_server.url)
    s3_cli = aws_runner(s3_endpoint(jobs_server))
    s3 = s3_client(jobs_server)
    bucket = new_bucket(s3)
    started = aws([
        "bedrock-runtime", "start-async-invoke", "--model-id", CLAUDE,
        "--model-input", json.dumps(claude_body("Hello")),
        "--output-data-config", json.dumps({"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}/cli"}}),
    ])  # fmt: skip
    runtime = make_client("bedrock-runtime", jobs_server.url)
    assert wait_async(runtime, started["invocationArn"])["status"] == "Completed"
    invocation_id = started["invocationArn"].rsplit("/", 1)[1]
    copied = s3_cli(["s3", "cp", f"s3://{bucket}/cli/{invocation_id}/output.json", "-"], check=False)
    assert copied.returncode == 0, copied.stderr
    assert json.loads(copied.stdout)["type"] == "message"
    put_lines(s3, bucket, "cli-in/r.jsonl", [{"recordId": "1", "modelInput": claude_body("Hi")}])
    created = aws([
        "bedrock", "create-model-invocation-job", "--job-name", f"cli-{uuid.uuid4().hex[:8]}",
        "--role-arn", "arn:aws:iam::123456789012:role/Batch", "--model-id", CLAUDE,
        "--input-data-config", json.dumps({"s3InputDataConfig": {"s3Uri": f"s3://{bucket}/cli-in/r.jsonl"}}),
        "--output-data-config", json.dumps({"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}/out/"}}),
    ])  # fmt: skip
    bedrock = make_client("bedrock", jobs_server.url)
    assert wait_job(bedrock, created["jobArn"])["status"] == "Completed"
    # The JavaScript SDK (HTTP/2) starts one and reads it back.
    out = js(
        "start-async-invoke",
        jobs_server,
        {
            "modelId": CLAUDE,
            "modelInput": claude_body("Hi"),
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}/js"}},
        },
    )
    assert "error" not in out, out
    assert wait_async(runtime, out["invocationArn"])["status"] == "Completed"
    got = js("get-async-invoke", jobs_server, {"invocationArn": out["invocationArn"]})
    assert got["status"] == "Completed" and got["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"].endswith(
        "/js"
    )


def test_kill_9_loses_no_job(tmp_path: Path) -> None:
    """A batch job killed mid-way (SIGKILL, no clean-up) resumes after a restart on the same state
    directory: every record answered exactly once; an async invocation cut off runs again; the
    embedded S3 server died with Outcrop and comes back on the same endpoint."""
    env = {"OUTCROP_EMBEDDED_S3": "1"}
    first = start_server(tmp_path, "crash", env=env)
    bedrock = make_client("bedrock", first.url)
    s3 = s3_client(first)
    bucket = new_bucket(s3)
    records = [
        {"recordId": f"r{n}", "modelInput": claude_body(f"Tell a story about number {n}.", 40)}
        for n in range(6)
    ]
    put_lines(s3, bucket, "in/many.jsonl", records)
    arn = create_job(bedrock, bucket, "in/many.jsonl")
    deadline = time.monotonic() + 180
    while bedrock.get_model_invocation_job(jobIdentifier=arn)["processedRecordCount"] < 2:
        assert time.monotonic() < deadline, "the job did not progress"
        time.sleep(0.2)
    # An async invocation waiting behind the job (one job invocation runs at a time) is cut off too.
    runtime = make_client("bedrock-runtime", first.url)
    pending = runtime.start_async_invoke(
        modelId=CLAUDE,
        modelInput=claude_body("Name a planet."),
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}/async"}},
    )["invocationArn"]
    assert runtime.get_async_invoke(invocationArn=pending)["status"] == "InProgress"
    weed_pid = int((tmp_path / "crash-state" / "s3" / "weed.pid").read_text())
    s3_endpoint_before = s3_endpoint(first)
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=30)
    deadline = time.monotonic() + 20
    while Path(f"/proc/{weed_pid}").exists() and not _zombie(weed_pid):
        assert time.monotonic() < deadline, "the embedded S3 server outlived a killed Outcrop"
        time.sleep(0.2)
    second = start_server(tmp_path, "crash", env=env)
    try:
        assert s3_endpoint(second) == s3_endpoint_before
        bedrock = make_client("bedrock", second.url)
        done = wait_job(bedrock, arn)
        assert done["status"] == "Completed", done.get("message")
        assert done["processedRecordCount"] == 6 and done["successRecordCount"] == 6
        lines = output_lines(s3_client(second), bucket, arn, "many.jsonl")
        assert [line["recordId"] for line in lines] == [f"r{n}" for n in range(6)]  # none twice, none skipped
        assert "resuming 2 unfinished job" in second.log()
        runtime = make_client("bedrock-runtime", second.url)
        assert wait_async(runtime, pending)["status"] == "Completed"
        output = read_json(s3_client(second), bucket, f"async/{pending.rsplit('/', 1)[1]}/output.json")
        assert output["type"] == "message"
    finally:
        stop_server(second)


def _zombie(pid: int) -> bool:
    try:
        return " Z " in Path(f"/proc/{pid}/stat").read_text() or os.waitpid(pid, os.WNOHANG)[0] == pid
    except (OSError, ChildProcessError):
        return True


def test_the_embedded_s3_takes_the_servers_credentials_when_it_verifies(tmp_path: Path) -> None:
    from conftest import ACCESS_KEY, SECRET_KEY

    srv = start_server(
        tmp_path,
        "verify",
        env={
            "OUTCROP_EMBEDDED_S3": "1",
            "OUTCROP_ACCESS_KEY_ID": ACCESS_KEY,
            "OUTCROP_SECRET_ACCESS_KEY": SECRET_KEY,
        },
    )
    try:
        endpoint = s3_endpoint(srv)

        def s3_as(key: str, secret: str) -> Any:
            return boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=key,
                                aws_secret_access_key=secret, config=Config(s3={"addressing_style": "path"}))  # fmt: skip

        with pytest.raises(ClientError):
            s3_as("stranger", "not-a-secret").create_bucket(Bucket="strangers-bucket")
        s3 = s3_as(ACCESS_KEY, SECRET_KEY)
        bucket = new_bucket(s3)
        runtime = make_client("bedrock-runtime", srv.url)  # signed with the same pair
        arn = runtime.start_async_invoke(
            modelId=CLAUDE,
            modelInput=claude_body("Hi"),
            outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}/v"}},
        )["invocationArn"]
        assert wait_async(runtime, arn)["status"] == "Completed"
        assert read_json(s3, bucket, f"v/{arn.rsplit('/', 1)[1]}/output.json")["type"] == "message"
    finally:
        stop_server(srv)


def test_outcrop_jobs_lists_them(jobs_server: Server) -> None:
    """`outcrop jobs` reads a running server's jobs through its API (after the tests above ran some)."""
    from conftest import BIN

    bedrock = make_client("bedrock", jobs_server.url)
    known = bedrock.list_model_invocation_jobs()["invocationJobSummaries"]
    assert known, "the batch tests above left jobs"
    done = subprocess.run(
        [str(BIN / "outcrop"), "jobs", "--endpoint", jobs_server.url, "--watch"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "250"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for job in known:
        assert job["jobArn"].rsplit("/", 1)[1] in done.stdout
    assert "PartiallyCompleted" in done.stdout and "async" in done.stdout
    assert "batch job" in jobs_server.log() and "records done" in jobs_server.log()
