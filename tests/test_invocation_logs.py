"""Model invocation logging, driven as Bedrock users drive it: boto3's
PutModelInvocationLoggingConfiguration, then the records read back from a real S3 server (the
embedded SeaweedFS) under AWS's key layout, from the local CloudWatch sink and through
`outcrop logs`; and nothing lost while S3 is down, across a restart."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import BIN, REGION, Server, make_client, start_server, stop_server, user

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/BedrockInvocationLogs"
GROUP = "/aws/bedrock/invocations"
LOGGED = {"OUTCROP_EMBEDDED_S3": "1", "OUTCROP_INVOCATION_LOG_FLUSH": "0.5"}


def s3_of(server: Server, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not server.health().get("s3_endpoint"):
        assert time.monotonic() < deadline, "the embedded S3 server did not come up"
        time.sleep(0.2)
    return boto3.client(
        "s3", endpoint_url=server.health()["s3_endpoint"], region_name=REGION, aws_access_key_id="test",
        aws_secret_access_key="test", config=Config(s3={"addressing_style": "path"}),
    )  # fmt: skip


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("logs"), "logs", env=LOGGED)
    yield srv
    stop_server(srv)


def delivered(
    s3: Any, bucket: str, prefix: str, want: int, timeout: float = 60
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every log record under the prefix (not large-data objects), by request id, with its key."""
    deadline = time.monotonic() + timeout
    while True:
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                if "/data/" in item["Key"] or not item["Key"].endswith(".json.gz"):
                    continue
                body = gzip.decompress(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
                for line in body.decode().splitlines():
                    record = json.loads(line)
                    assert record["requestId"] not in out, "a record delivered twice"
                    out[record["requestId"]] = (item["Key"], record)
        if len(out) >= want or time.monotonic() > deadline:
            return out
        time.sleep(0.3)


def test_the_configuration_as_the_service_model_says(logged: Server) -> None:
    bedrock = make_client("bedrock", logged.url)
    s3 = s3_of(logged)
    assert "loggingConfig" not in bedrock.get_model_invocation_logging_configuration()
    s3.create_bucket(Bucket="config-logs")
    config = {
        "s3Config": {"bucketName": "config-logs", "keyPrefix": "x"},
        "textDataDeliveryEnabled": True,
        "imageDataDeliveryEnabled": False,
        "embeddingDataDeliveryEnabled": False,
        "videoDataDeliveryEnabled": False,
        "audioDataDeliveryEnabled": False,
    }
    bedrock.put_model_invocation_logging_configuration(loggingConfig=config)
    assert bedrock.get_model_invocation_logging_configuration()["loggingConfig"] == config
    # AWS checks it may write to the bucket before it keeps the configuration.
    assert s3.head_object(Bucket="config-logs", Key="x/amazon-bedrock-logs-permission-check")
    with pytest.raises(ClientError) as missing:
        bedrock.put_model_invocation_logging_configuration(
            loggingConfig={"s3Config": {"bucketName": "no-such-bucket"}}
        )
    assert missing.value.response["Error"]["Code"] == "ValidationException"
    assert missing.value.response["Error"]["Message"].startswith(
        "Failed to validate permissions for bucket: no-such-bucket."
    )
    assert bedrock.get_model_invocation_logging_configuration()["loggingConfig"] == config  # unchanged
    bedrock.delete_model_invocation_logging_configuration()
    assert "loggingConfig" not in bedrock.get_model_invocation_logging_configuration()


def claude_body(text: str, max_tokens: int = 3) -> bytes:
    return json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": max_tokens,
                       "messages": [{"role": "user", "content": text}]}).encode()  # fmt: skip


def test_every_logged_operation_reaches_s3_and_the_local_sink(logged: Server) -> None:
    bedrock, runtime = make_client("bedrock", logged.url), make_client("bedrock-runtime", logged.url)
    s3 = s3_of(logged)
    s3.create_bucket(Bucket="invocation-logs")
    s3.create_bucket(Bucket="large-data")
    bedrock.put_model_invocation_logging_configuration(
        loggingConfig={
            "s3Config": {"bucketName": "invocation-logs", "keyPrefix": "bedrock/logs"},
            "cloudWatchConfig": {"logGroupName": GROUP, "roleArn": ROLE,
                                 "largeDataDeliveryS3Config": {"bucketName": "large-data"}},
            "textDataDeliveryEnabled": True,
        }
    )  # fmt: skip
    ids: dict[str, str] = {}
    answer = runtime.converse(
        modelId=f"us.{HAIKU}", messages=[user("Name a colour.")], inferenceConfig={"maxTokens": 6}
    )
    ids["converse"] = answer["ResponseMetadata"]["RequestId"]
    stream = runtime.converse_stream(modelId=HAIKU, messages=[user("Hi")], inferenceConfig={"maxTokens": 5})
    ids["converse_stream"] = stream["ResponseMetadata"]["RequestId"]
    streamed = "".join(
        e["contentBlockDelta"]["delta"].get("text", "") for e in stream["stream"] if "contentBlockDelta" in e
    )
    invoked = runtime.invoke_model(modelId=HAIKU, body=claude_body("Hi"))
    ids["invoke"] = invoked["ResponseMetadata"]["RequestId"]
    invoked_body = json.loads(invoked["body"].read())
    chunks = runtime.invoke_model_with_response_stream(modelId=HAIKU, body=claude_body("Hi"))
    ids["invoke_stream"] = chunks["ResponseMetadata"]["RequestId"]
    for _ in chunks["body"]:
        pass
    runtime.count_tokens(modelId=HAIKU, input={"converse": {"messages": [user("Hi")]}})  # not logged
    with pytest.raises(ClientError) as failed:
        runtime.converse(modelId=HAIKU, messages=[{"role": "assistant", "content": [{"text": "x"}]}])
    ids["failed"] = failed.value.response["ResponseMetadata"]["RequestId"]
    big = "word " * 25_000  # 125 KB: over the 100 KB a record holds inline
    large = runtime.converse(modelId=HAIKU, messages=[user(big)], inferenceConfig={"maxTokens": 1})
    ids["large"] = large["ResponseMetadata"]["RequestId"]

    records = delivered(s3, "invocation-logs", "bedrock/logs/", len(ids))
    assert set(records) == set(ids.values())
    key, converse = records[ids["converse"]]
    assert re.fullmatch(
        rf"bedrock/logs/AWSLogs/{ACCOUNT}/BedrockModelInvocationLogs/{REGION}/\d{{4}}/\d{{2}}/\d{{2}}/\d{{2}}/"
        r"\d{8}T\d{6}Z_[0-9a-f]{16}\.json\.gz",
        key,
    )
    assert converse["schemaType"] == "ModelInvocationLog" and converse["schemaVersion"] == "1.0"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", converse["timestamp"])
    assert converse["accountId"] == ACCOUNT and converse["region"] == REGION
    assert converse["identity"] == {"arn": f"arn:aws:iam::{ACCOUNT}:root"}
    assert converse["operation"] == "Converse" and converse["modelId"] == f"us.{HAIKU}"
    assert converse["inferenceRegion"] == REGION
    assert converse["input"]["inputBodyJson"]["messages"] == [user("Name a colour.")]
    assert "modelId" not in converse["input"]["inputBodyJson"]
    assert converse["input"]["inputTokenCount"] == answer["usage"]["inputTokens"]
    assert converse["output"]["outputBodyJson"]["output"] == answer["output"]
    assert converse["output"]["outputTokenCount"] == answer["usage"]["outputTokens"]
    cost = answer["ResponseMetadata"]["HTTPHeaders"]["x-outcrop-estimated-cost-usd"]
    assert converse["outcrop"]["estimatedCostUsd"] == pytest.approx(float(cost))
    assert converse["outcrop"]["servedModel"] == "smollm2-135m"

    stream_record = records[ids["converse_stream"]][1]
    assert stream_record["output"]["outputBodyJson"]["output"]["message"]["content"][0]["text"] == streamed
    assert stream_record["output"]["outputBodyJson"]["stopReason"]
    invoke_record = records[ids["invoke"]][1]
    assert invoke_record["input"]["inputBodyJson"]["anthropic_version"] == "bedrock-2023-05-31"
    assert invoke_record["output"]["outputBodyJson"] == invoked_body
    chunk_list = records[ids["invoke_stream"]][1]["output"]["outputBodyJson"]
    assert isinstance(chunk_list, list) and chunk_list[0]["type"] == "message_start"
    failure = records[ids["failed"]][1]
    assert failure["errorCode"] == "ValidationException" and "output" not in failure

    large_record = records[ids["large"]][1]
    path = large_record["input"]["inputBodyS3Path"]
    assert "inputBodyJson" not in large_record["input"]
    assert path.startswith("s3://invocation-logs/bedrock/logs/AWSLogs/") and path.endswith(
        f"/data/{ids['large']}_input.json.gz"
    )
    bucket, data_key = path[5:].split("/", 1)
    assert json.loads(gzip.decompress(s3.get_object(Bucket=bucket, Key=data_key)["Body"].read()))[
        "messages"
    ] == [user(big)]

    # The CloudWatch sink: the same records, one JSON line each; its large body went to large-data.
    sink = logged.log_path.parent / "logs-state" / "cloudwatch" / "aws" / "bedrock" / "invocations.jsonl"
    deadline = time.monotonic() + 30
    while True:
        lines = [json.loads(line) for line in sink.read_text().splitlines()] if sink.exists() else []
        if {r["requestId"] for r in lines} >= set(ids.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert {r["requestId"] for r in lines} == set(ids.values())
    sunk = next(r for r in lines if r["requestId"] == ids["large"])
    assert sunk["input"]["inputBodyS3Path"].startswith("s3://large-data/AWSLogs/")
    shown = subprocess.run(
        [str(BIN / "outcrop"), "logs", "-n", "0"], capture_output=True, text=True, timeout=30,
        env={**os.environ, "OUTCROP_STATE_DIR": str(logged.log_path.parent / "logs-state")},
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    with urllib.request.urlopen(f"{logged.url}/metrics", timeout=10) as response:
        metrics = response.read().decode()
    assert re.search(r"^bedrock_ModelInvocationLogsS3DeliverySuccess_total ([1-9]\d*)\.0$", metrics, re.M)
    assert re.search(r"^bedrock_ModelInvocationLogsCloudWatchDeliverySuccess_total [1-9]", metrics, re.M)
    assert ids["converse"] in shown.stdout and "ValidationException" in shown.stdout
    assert "Converse" in shown.stdout and f"us.{HAIKU}" in shown.stdout

    # Without text data delivery, records carry no bodies.
    bedrock.put_model_invocation_logging_configuration(
        loggingConfig={"s3Config": {"bucketName": "invocation-logs", "keyPrefix": "metadata-only"}}
    )
    plain = runtime.converse(modelId=HAIKU, messages=[user("Hi")], inferenceConfig={"maxTokens": 2})
    record = delivered(s3, "invocation-logs", "metadata-only/AWSLogs/", 1)[
        plain["ResponseMetadata"]["RequestId"]
    ][1]
    assert "inputBodyJson" not in record["input"] and "outputBodyJson" not in record["output"]
    assert record["output"]["outputTokenCount"] == plain["usage"]["outputTokens"]
    bedrock.delete_model_invocation_logging_configuration()


def test_nothing_is_lost_while_s3_is_down_and_across_a_restart(tmp_path: Path) -> None:
    first = start_server(tmp_path, "durable", env=LOGGED)
    try:
        s3 = s3_of(first)
        s3.create_bucket(Bucket="durable-logs")
        make_client("bedrock", first.url).put_model_invocation_logging_configuration(
            loggingConfig={"s3Config": {"bucketName": "durable-logs"}, "textDataDeliveryEnabled": True}
        )
        runtime = make_client("bedrock-runtime", first.url)

        def call() -> str:
            answer = runtime.converse(modelId=HAIKU, messages=[user("Hi")], inferenceConfig={"maxTokens": 2})
            return str(answer["ResponseMetadata"]["RequestId"])

        ids = [call()]
        assert set(delivered(s3, "durable-logs", "AWSLogs/", 1)) == set(ids)
        weed = int((tmp_path / "durable-state" / "s3" / "weed.pid").read_text())
        os.kill(weed, signal.SIGKILL)  # S3 goes away; invocations go on
        ids += [call(), call()]
        deadline = time.monotonic() + 30
        while True:  # spooled, and a delivery tried and failed
            state = first.health()["invocation_logs"]
            if state.get("waiting", {}).get("s3", 0) >= 2 and "not delivered yet" in state.get("problem", ""):
                break
            assert time.monotonic() < deadline, state
            time.sleep(0.2)
    finally:
        stop_server(first)
    second = start_server(tmp_path, "durable", env=LOGGED)  # the embedded S3 comes back with it
    try:
        records = delivered(s3_of(second), "durable-logs", "AWSLogs/", 3)
        assert set(records) == set(ids)  # each once: none lost, none twice
        assert (
            "waiting" not in second.health()["invocation_logs"]
            or not second.health()["invocation_logs"]["waiting"]
        )
    finally:
        stop_server(second)
