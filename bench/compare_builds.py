"""Two builds of Outcrop side by side, measured interleaved in one run: is a change slower?

Run: .venv/bin/python bench/compare_builds.py --before /path/to/other/venv/bin/outcrop [--rounds 12]

Both servers run at once on the bundled model (each idle while the other is measured); rounds
alternate which goes first, so drift on a shared machine (other jobs, CPU boost) falls on both
alike. Measured per build: Converse with maxTokens 1 and CountTokens (median per-request latency,
one boto3 client, sequential), a 64-token ConverseStream (tokens/s) and the first token after a
new ~2,000-token system prompt (cold prefill). Prints medians and after/before ratios.

A build of an older commit, without rebuilding llama-cpp-python:

    git worktree add /tmp/before <commit>
    python3 -m venv /tmp/before-venv
    echo "$PWD/.venv/lib/python3.11/site-packages" > /tmp/before-venv/lib/python3.11/site-packages/deps.pth
    /tmp/before-venv/bin/pip install --no-deps --no-build-isolation /tmp/before
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": "Hello there"}]}]
WORDS = [
    "shelf",
    "order",
    "refund",
    "novel",
    "author",
    "paperback",
    "delivery",
    "invoice",
    "receipt",
    "stock",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(executable: str, state: Path, threads: int) -> tuple[subprocess.Popen[bytes], Any]:
    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(state),
        "OUTCROP_STATE_DIR": str(state),
        "OUTCROP_THREADS": str(threads),
        "OUTCROP_EMBEDDED_S3": "0",
    }
    proc = subprocess.Popen(
        [executable, "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_outcrop/health", timeout=1) as response:
                if json.load(response)["status"] == "ok":
                    break
        except OSError:
            time.sleep(0.1)
    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"max_attempts": 1}, read_timeout=300),
    )
    return proc, client


def timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def stream_rate(client: Any, text: str) -> float:
    started = time.perf_counter()
    response = client.converse_stream(
        modelId=MODEL,
        messages=[{"role": "user", "content": [{"text": text}]}],
        inferenceConfig={"maxTokens": 64, "temperature": 0.0},
    )
    tokens = 0
    for event in response["stream"]:
        if "metadata" in event:
            tokens = event["metadata"]["usage"]["outputTokens"]
    return tokens / (time.perf_counter() - started)


def cold_first_token(client: Any, system: str) -> float:
    started = time.perf_counter()
    response = client.converse_stream(
        modelId=MODEL,
        system=[{"text": system}],
        messages=MESSAGES,
        inferenceConfig={"maxTokens": 4, "temperature": 0.0},
    )
    first = 0.0
    for event in response["stream"]:
        if not first and "contentBlockDelta" in event:
            first = (time.perf_counter() - started) * 1000
    return first


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", required=True, help="the other build's outcrop executable")
    parser.add_argument("--after", default=str(Path(sys.executable).parent / "outcrop"))
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    rng = random.Random(1)
    system = "You are a support agent for a large bookshop. " + " ".join(
        rng.choice(WORDS) for _ in range(1900)
    )
    names = ("before", "after")
    results: dict[str, dict[str, list[float]]] = {
        n: {"converse": [], "count": [], "stream": [], "cold": []} for n in names
    }
    with tempfile.TemporaryDirectory() as tmp:
        servers = {
            n: start(exe, Path(tmp) / n, args.threads)
            for n, exe in zip(names, (args.before, args.after), strict=True)
        }
        try:
            for _, client in servers.values():
                for _ in range(20):
                    client.converse(modelId=MODEL, messages=MESSAGES, inferenceConfig={"maxTokens": 1})
            for round_ in range(args.rounds):
                for name in names if round_ % 2 == 0 else names[::-1]:
                    client = servers[name][1]
                    out = results[name]
                    for _ in range(25):
                        out["converse"].append(
                            timed(
                                lambda c=client: c.converse(
                                    modelId=MODEL, messages=MESSAGES, inferenceConfig={"maxTokens": 1}
                                )
                            )
                        )
                        out["count"].append(
                            timed(
                                lambda c=client: c.count_tokens(
                                    modelId=MODEL, input={"converse": {"messages": MESSAGES}}
                                )
                            )
                        )
                    out["stream"].append(stream_rate(client, f"[{round_}] Tell me about bookshops."))
                    if round_ < 4:
                        out["cold"].append(cold_first_token(client, f"[{round_}] {system}"))
        finally:
            for proc, _ in servers.values():
                proc.terminate()
    rows = (
        ("Converse, maxTokens 1 (ms)", "converse"),
        ("CountTokens (ms)", "count"),
        ("ConverseStream 64 tokens (tok/s)", "stream"),
        ("cold first token, ~2K-token system (ms)", "cold"),
    )
    print(f"{args.rounds} interleaved rounds, {args.threads} engine threads (medians)")
    print(f"{'':42} {'before':>9} {'after':>9} {'after/before':>13}")
    for label, key in rows:
        before, after = (statistics.median(results[n][key]) for n in names)
        print(f"{label:42} {before:9.2f} {after:9.2f} {after / before:13.3f}")


if __name__ == "__main__":
    main()
