"""Hostile input, generated from botocore's shapes for every operation (tests/shape_fuzz.py), against
a real server of its own: nothing answers 500 or more but 501 (not served yet), and the server is
healthy and answers real clients afterwards. bench/fuzz.py runs the same at 10,000+ cases."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import Server, make_client, start_server, stop_server
from shape_fuzz import ShapeFuzzer, operations, send

CASES = 2000
CUT_OFF_CASES = 80


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("fuzz"), "fuzz")
    yield srv
    stop_server(srv)


def test_no_hostile_request_is_a_server_error(target: Server) -> None:
    fuzzer = ShapeFuzzer(seed=11)
    statuses: Counter[int] = Counter()
    failures = []
    with httpx.Client(base_url=target.url, timeout=120) as client:
        for case in fuzzer.cases(CASES):
            outcome = send(client, case)
            statuses[outcome.status] += 1
            if outcome.failed:
                failures.append(f"{case.label()} -> {outcome.status} {outcome.error}")
    print(f"{CASES} cases over {len(operations())} operations: {dict(sorted(statuses.items()))}")
    assert not failures, "\n".join(failures[:20])
    assert statuses[200] and statuses[400], "the cases reach both answers and refusals"
    assert target.health()["status"] == "ok"
    runtime = make_client("bedrock-runtime", target.url)
    answer = runtime.converse(
        modelId="amazon.nova-lite-v1:0",
        messages=[{"role": "user", "content": [{"text": "Still there?"}]}],
        inferenceConfig={"maxTokens": 3},
    )
    assert answer["output"]["message"]["content"]


def test_no_cut_off_generation_is_a_server_error(target: Server) -> None:
    """Answers ended by max tokens mid tool call, mid JSON or mid text, every family with tools."""
    failures, statuses = [], Counter[int]()
    with httpx.Client(base_url=target.url, timeout=120) as client:
        for case in ShapeFuzzer(seed=5).cut_off_cases(CUT_OFF_CASES):
            outcome = send(client, case)
            statuses[outcome.status] += 1
            if outcome.failed or outcome.status != 200:
                failures.append(f"{case.label()} -> {outcome.status} {outcome.error}")
    assert not failures, "\n".join(failures[:20])
    assert statuses[200] == CUT_OFF_CASES


def test_a_body_over_the_limit_is_refused_before_it_is_read(target: Server) -> None:
    """A declared 26 MB InvokeModel body (the service model's limit: 25,000,000 bytes) is refused
    with only its first bytes sent, with AWS's message: the server answers without waiting for the
    rest (a raw socket: HTTP clients will not send less than they declare)."""
    with socket.create_connection(("127.0.0.1", target.port), timeout=30) as sock:
        head = (
            "POST /model/amazon.nova-lite-v1:0/invoke HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{target.port}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {26_000_000}\r\n\r\n"
        )
        sock.sendall(head.encode() + b"{" + b" " * 1000)
        answer = sock.recv(65536).decode(errors="replace")
    status_line, _, rest = answer.partition("\r\n")
    assert " 400 " in status_line
    assert (
        "1 validation error detected: Value at 'body' failed to satisfy constraint: Member must have "
        "length less than or equal to 25000000"
    ) in rest


def test_a_chunked_body_stops_being_read_at_the_limit(target: Server, tmp_path: Path) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        block = b" " * (1024 * 1024)
        for _ in range(200):  # 200 MB offered; the server stops at 64 MB
            sent += len(block)
            yield block

    with httpx.Client(base_url=target.url, timeout=60) as client:
        try:
            response = client.post(
                "/model/amazon.nova-lite-v1:0/converse",
                content=chunks(),
                headers={"content-type": "application/json"},
            )
            assert response.status_code == 400
        except httpx.HTTPError:
            pass  # the server may close the connection once it has answered
    assert sent < 200 * 1024 * 1024
