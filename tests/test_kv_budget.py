"""Memory bounded by a KV budget, not by slots: real servers, real streams through boto3."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import Server, start_server, stop_server

MODEL = "amazon.nova-lite-v1:0"


def client(server: Server, **retries: int) -> Any:
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
        config=Config(
            retries=retries or {"total_max_attempts": 1}, max_pool_connections=64, read_timeout=300
        ),
    )


def streams(server: Server, count: int, tokens: int) -> tuple[list[int], list[str]]:
    """``count`` ConverseStreams at once; the output tokens of each, and the errors."""
    runtime = client(server)
    done: list[int] = []
    errors: list[str] = []

    def one(i: int) -> None:
        try:
            response = runtime.converse_stream(
                modelId=MODEL,
                messages=[
                    {
                        "role": "user",
                        "content": [{"text": f"[{i}] Tell me a long story about the number {i}."}],
                    }
                ],
                inferenceConfig={"maxTokens": tokens, "temperature": 0.0},
            )
            usage = [e["metadata"]["usage"] for e in response["stream"] if "metadata" in e]
            done.append(usage[0]["outputTokens"])
        except ClientError as exc:
            errors.append(exc.response["Error"]["Code"])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return done, errors


def engine(server: Server) -> dict[str, Any]:
    return dict(server.health()["models"]["smollm2-135m"])


def resident_mb(server: Server) -> float:
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_idle_default_server_stays_under_400_mb(tmp_path: Path) -> None:
    srv = start_server(tmp_path, "idle")
    try:
        assert resident_mb(srv) <= 400
        usage = engine(srv)
        assert usage["kv_budget_tokens"] == usage["context_length"] == 8192
    finally:
        stop_server(srv)


def test_sixteen_streams_at_once_run_together(server: Server) -> None:
    outputs, errors = streams(server, 16, 24)
    assert errors == [] and len(outputs) == 16 and all(n > 0 for n in outputs)
    usage = engine(server)
    assert usage["active_sequences"] == 0 and usage["waiting"] == 0
    assert usage["kv_used_tokens"] <= usage["kv_budget_tokens"]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A 512-token window in a 1024-token cache: two full windows, shared by every stream."""
    srv = start_server(
        tmp_path_factory.mktemp("small-kv"),
        "small-kv",
        env={"OUTCROP_CONTEXT_LENGTH": "512", "OUTCROP_KV_TOKENS": "1024"},
    )
    yield srv
    stop_server(srv)


def test_streams_beyond_the_cache_wait_and_finish(small: Server) -> None:
    before = engine(small)["preemptions"]
    outputs, errors = streams(small, 8, 120)
    assert errors == [] and len(outputs) == 8
    usage = engine(small)
    assert usage["preemptions"] > before, "8 x 160 tokens do not fit 1,024 cells at once"
    assert usage["active_sequences"] == 0 and usage["kv_used_tokens"] <= 1024


def test_one_long_request_can_use_the_whole_window(small: Server) -> None:
    streams(small, 4, 20)  # leave prefixes cached in idle slots
    runtime = client(small)
    text = " ".join(f"item{i}" for i in range(136))  # ~435 tokens with the template: most of the window
    response = runtime.converse(
        modelId=MODEL,
        messages=[{"role": "user", "content": [{"text": text}]}],
        inferenceConfig={"maxTokens": 8},
    )
    assert "x-outcrop-context-fit" not in response["ResponseMetadata"]["HTTPHeaders"]
    assert 420 < response["usage"]["inputTokens"] <= 504


def test_waiting_too_long_is_throttled_not_timed_out(tmp_path: Path) -> None:
    srv = start_server(
        tmp_path,
        "one-slot",
        env={"OUTCROP_PARALLEL": "1", "OUTCROP_QUEUE_TIMEOUT": "1", "OUTCROP_THREADS": "1"},
    )
    try:
        runtime = client(srv)
        long = threading.Thread(
            target=lambda: runtime.converse(
                modelId=MODEL,
                messages=[{"role": "user", "content": [{"text": "Write a long story about a dragon."}]}],
                inferenceConfig={"maxTokens": 400, "temperature": 0.0},
            )
        )
        long.start()
        deadline = time.monotonic() + 60
        while not engine(srv)["active_sequences"] and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(ClientError) as caught:
            runtime.converse(
                modelId=MODEL,
                messages=[{"role": "user", "content": [{"text": "hi"}]}],
                inferenceConfig={"maxTokens": 2},
            )
        error = caught.value.response
        assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (
            "ThrottlingException",
            429,
        )
        long.join()
    finally:
        stop_server(srv)


def test_a_hundred_clients_that_leave_mid_stream_free_their_sequences(tmp_path: Path) -> None:
    """Each starts a 2,000-token stream and hangs up at its first bytes. Those beyond the line
    (16 generating, 64 waiting) get ThrottlingException; every other one is freed, and nothing
    generates on for a client that left."""
    srv = start_server(tmp_path, "leavers")
    body = {
        "messages": [{"role": "user", "content": [{"text": "Write a long story about a lighthouse."}]}],
        "inferenceConfig": {"maxTokens": 2000, "temperature": 0.0},
    }
    statuses: list[int] = []

    def leave_after_first_bytes() -> None:
        with (
            httpx.Client(base_url=srv.url, timeout=120) as http,
            http.stream("POST", f"/model/{MODEL}/converse-stream", json=body) as response,
        ):
            statuses.append(response.status_code)
            for _ in response.iter_raw():
                break  # the first bytes are in: hang up mid-stream

    try:
        threads = [threading.Thread(target=leave_after_first_bytes) for _ in range(100)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            usage = engine(srv)
            if usage["active_sequences"] == 0 and usage["waiting"] == 0:
                break
            time.sleep(0.2)
        assert (usage["active_sequences"], usage["waiting"]) == (0, 0)
        assert set(statuses) <= {200, 429} and len(statuses) == 100
        generations = usage["generations"]
        assert generations["completed"] == 0, "nothing generated on for a client that left"
        assert generations["cancelled"] == statuses.count(200)
        runtime = client(srv)
        answer = runtime.converse(
            modelId=MODEL,
            messages=[{"role": "user", "content": [{"text": "hi"}]}],
            inferenceConfig={"maxTokens": 2},
        )
        assert answer["output"]["message"]["content"]
    finally:
        stop_server(srv)
