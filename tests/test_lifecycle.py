"""One owner per port, and shutting down cleanly: real servers, real signals, boto3 as the client."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError, EventStreamError

from conftest import BIN, Server, make_client, start_server

MODEL = "amazon.nova-lite-v1:0"
LONG = {
    "modelId": MODEL,
    "messages": [{"role": "user", "content": [{"text": "Write a long story about a dragon."}]}],
    "inferenceConfig": {"maxTokens": 3000, "temperature": 0.0},
}


def test_a_taken_port_is_a_clear_error(server: Server) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [str(BIN / "outcrop"), "serve", "--port", str(server.port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"127.0.0.1:{server.port} is already in use" in done.stderr
    assert time.monotonic() - started < 20, "refused before loading any model"
    assert server.health()["status"] == "ok", "the first server still owns the port"


def stream_until_signalled(
    srv: Server, signals: int, *, after_events: int = 5
) -> tuple[list[str], str | None]:
    """Stream LONG; after a few events send ``signals`` SIGTERMs. The event types seen, and the
    in-stream error code if the stream was ended."""
    runtime = make_client("bedrock-runtime", srv.url)
    response = runtime.converse_stream(**LONG)
    kinds: list[str] = []
    try:
        for event in response["stream"]:
            kinds.extend(event)
            if len(kinds) == after_events:
                for _ in range(signals):
                    srv.process.send_signal(signal.SIGTERM)
                    time.sleep(0.2)
    except EventStreamError as exc:
        return kinds, exc.response["Error"]["Code"]
    return kinds, None


def test_in_flight_streams_finish_and_new_connections_are_refused(tmp_path: Path) -> None:
    srv = start_server(tmp_path, "drain", env={"OUTCROP_SHUTDOWN_GRACE": "120"})
    late: list[Any] = []

    def try_later() -> None:
        time.sleep(1.0)
        try:
            make_client("bedrock-runtime", srv.url).converse(**{**LONG, "inferenceConfig": {"maxTokens": 2}})
            late.append("answered")
        except EndpointConnectionError:
            late.append("refused")

    runtime = make_client("bedrock-runtime", srv.url)
    request = {**LONG, "inferenceConfig": {"maxTokens": 300, "temperature": 0.0}}
    response = runtime.converse_stream(**request)
    kinds: list[str] = []
    later = threading.Thread(target=try_later)
    for event in response["stream"]:
        kinds.extend(event)
        if len(kinds) == 5:
            srv.process.send_signal(signal.SIGTERM)
            later.start()
    later.join()
    assert kinds[-2:] == ["messageStop", "metadata"], "the stream in flight finished normally"
    assert late == ["refused"], "no new connection after the signal"
    assert srv.process.wait(timeout=30) == 0


def test_streams_past_the_grace_period_end_with_an_exception_event(tmp_path: Path) -> None:
    srv = start_server(tmp_path, "grace", env={"OUTCROP_SHUTDOWN_GRACE": "1"})
    started = time.monotonic()
    kinds, code = stream_until_signalled(srv, 1)
    assert code == "serviceUnavailableException" or code == "ServiceUnavailableException"
    assert "messageStop" not in kinds
    assert srv.process.wait(timeout=30) == 0
    assert time.monotonic() - started < 20


def test_a_second_signal_ends_at_once(tmp_path: Path) -> None:
    srv = start_server(tmp_path, "twice", env={"OUTCROP_SHUTDOWN_GRACE": "300"})
    started = time.monotonic()
    _, code = stream_until_signalled(srv, 2)
    assert code is not None and code.lower() == "serviceunavailableexception"
    assert srv.process.wait(timeout=30) == 0
    assert time.monotonic() - started < 20


def signal_once_generating(srv: Server) -> threading.Thread:
    """SIGTERM as soon as the server reports a sequence generating."""

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if srv.health()["models"]["smollm2-135m"]["active_sequences"]:
                srv.process.send_signal(signal.SIGTERM)
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    return watcher


def test_a_waiting_answer_past_the_grace_period_is_a_503(tmp_path: Path) -> None:
    srv = start_server(tmp_path, "plain", env={"OUTCROP_SHUTDOWN_GRACE": "1"})
    # No retry: botocore retries a 503, and the retry would meet the closed port.
    runtime = boto3.client(
        "bedrock-runtime",
        endpoint_url=srv.url,
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
        config=Config(retries={"total_max_attempts": 1}),
    )
    watcher = signal_once_generating(srv)
    with pytest.raises(ClientError) as caught:
        runtime.converse(**LONG)
    watcher.join()
    error = caught.value.response
    assert (error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]) == (
        "ServiceUnavailableException",
        503,
    )
    assert error["Error"]["Message"] == "The server is shutting down."
    assert srv.process.wait(timeout=30) == 0
