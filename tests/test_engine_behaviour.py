"""Concurrency, client disconnects and shutdown, observed from outside the server."""

from __future__ import annotations

import json
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from conftest import Server, start_server, user

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


def stream_text(runtime: Any, prompt: str) -> str:
    response = runtime.converse_stream(
        modelId=MODEL, messages=[user(prompt)], inferenceConfig={"maxTokens": 40, "temperature": 0}
    )
    return "".join(
        e["contentBlockDelta"]["delta"]["text"] for e in response["stream"] if "contentBlockDelta" in e
    )


# Questions the small default model answers correctly at temperature 0 (checked by hand).
CAPITALS = {
    "France": "paris",
    "Japan": "tokyo",
    "Germany": "berlin",
    "Egypt": "cairo",
    "Russia": "moscow",
    "England": "london",
}


def test_concurrent_streams_each_get_their_own_complete_answer(runtime: Any) -> None:
    """8 interleaved streams (more than the engine's slots, so some queue and join mid-flight)."""
    countries = [*CAPITALS, "France", "Japan"]
    prompts = [f"What is the capital of {country}?" for country in countries]
    with ThreadPoolExecutor(max_workers=len(prompts)) as pool:
        answers = list(pool.map(lambda p: stream_text(runtime, p), prompts))
    for answer, capital in zip(answers, [CAPITALS[c] for c in countries], strict=True):
        assert capital in answer.lower(), answers
        others = [c for c in CAPITALS.values() if c != capital]
        assert not any(other in answer.lower() for other in others), answers


def test_disconnect_mid_stream_stops_generation(server: Server, runtime: Any) -> None:
    before = server.health()["models"]["smollm2-135m"]["generations"]["cancelled"]
    body = json.dumps(
        {"messages": [user("Write a very long essay about rivers.")], "inferenceConfig": {"maxTokens": 4000}}
    )
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(
        (
            "POST /model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
        ).encode()
    )
    received = b""
    while received.count(b"contentBlockDelta") < 3:
        chunk = sock.recv(4096)
        assert chunk, "server closed the stream early"
        received += chunk
    sock.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if server.health()["models"]["smollm2-135m"]["generations"]["cancelled"] > before:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("generation was not cancelled after the client disconnected")
    # The engine is free again at once: a short request completes quickly.
    started = time.perf_counter()
    assert stream_text(runtime, "Hi")
    assert time.perf_counter() - started < 15


def test_sigterm_shuts_down_cleanly(tmp_path: Path) -> None:
    srv = start_server(tmp_path, "sigterm")
    srv.process.send_signal(signal.SIGTERM)
    assert srv.process.wait(timeout=30) == 0
    assert "Outcrop stopped." in srv.log()
    assert "Traceback" not in srv.log()


def test_grammar_in_one_stream_does_not_leak_into_others(runtime: Any) -> None:
    # maxLength bounds the call, so it always completes within maxTokens (an unbounded string may
    # run until maxTokens is spent, and then there is no toolUse to compare: a flake CI once hit).
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 24}},
        "required": ["city"],
    }
    tool = {"toolSpec": {"name": "find_city", "description": "Find a city", "inputSchema": {"json": schema}}}

    def forced_call(_: int) -> dict[str, Any]:
        response = runtime.converse(
            modelId=MODEL,
            messages=[user("Find Paris.")],
            toolConfig={"tools": [tool], "toolChoice": {"any": {}}},
            inferenceConfig={"maxTokens": 64},
        )
        (use,) = [b["toolUse"] for b in response["output"]["message"]["content"] if "toolUse" in b]
        return dict(use["input"])

    with ThreadPoolExecutor(max_workers=5) as pool:
        calls = [pool.submit(forced_call, i) for i in range(2)]
        texts = [
            pool.submit(stream_text, runtime, f"What is the capital of {c}?")
            for c in ("Japan", "Germany", "Egypt")
        ]
        inputs = [c.result() for c in calls]
        answers = [t.result() for t in texts]
    assert all(isinstance(i.get("city"), str) for i in inputs)
    for answer, capital in zip(answers, ("tokyo", "berlin", "cairo"), strict=True):
        assert capital in answer.lower(), answers
        assert not answer.lstrip().startswith("{"), answers


def test_overload_is_refused_with_throttling(tmp_path: Path) -> None:
    """Beyond the running slots and the bounded queue, requests get AWS's ThrottlingException at
    once instead of waiting without bound."""
    from botocore.exceptions import ClientError

    from conftest import make_client, stop_server

    srv = start_server(tmp_path, "tight", env={"OUTCROP_PARALLEL": "1", "OUTCROP_MAX_QUEUE": "1"})
    try:
        client = make_client("bedrock-runtime", srv.url)

        def call(i: int) -> str:
            try:
                client.converse(
                    modelId=MODEL,
                    messages=[user(f"Write a long essay about topic {i}.")],
                    inferenceConfig={"maxTokens": 200},
                )
                return "ok"
            except ClientError as exc:
                error = exc.response["Error"]
                assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 429
                assert error["Message"] == "Too many requests, please wait before trying again."
                return str(error["Code"])

        with ThreadPoolExecutor(max_workers=5) as pool:
            outcomes = list(pool.map(call, range(5)))
        assert "ok" in outcomes
        assert "ThrottlingException" in outcomes
    finally:
        stop_server(srv)
