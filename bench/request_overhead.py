"""Server-side cost of a Bedrock call when generation is trivial, next to a mock peer.

Run: .venv/bin/python bench/request_overhead.py [--requests 300] [--ministack PATH_TO_ministack]

One boto3 client sends requests one after another (so the number is per-request cost, not
throughput): GetFoundationModel (control plane, no model), Converse with maxTokens 1 (parse,
validate, resolve, chat template, tokenize, one decode step from a cached prefix, serialise) and
CountTokens. With --ministack, the same calls go to MiniStack's deterministic mock Bedrock
(`pip install ministack` in any venv; it answers canned text, no model), started by this script.
Medians of per-request latency and requests/s are printed; the machine is shared, so compare
ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

BIN = Path(sys.executable).parent
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # answering, even if not with 200
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def clients(url: str) -> tuple[Any, Any]:
    common: dict[str, Any] = {
        "endpoint_url": url,
        "region_name": "us-east-1",
        "aws_access_key_id": "bench",
        "aws_secret_access_key": "bench",
        "config": Config(retries={"max_attempts": 1}),
    }
    return boto3.client("bedrock-runtime", **common), boto3.client("bedrock", **common)


def measure(call: Any, n: int) -> tuple[float, float]:
    """(median ms per request, requests/s) over n sequential calls after 10 warm-up calls."""
    for _ in range(10):
        call()
    times = []
    started = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000, n / (time.perf_counter() - started)


def run_all(url: str, n: int, with_count: bool) -> dict[str, tuple[float, float]]:
    runtime, control = clients(url)
    messages = [{"role": "user", "content": [{"text": "Hi"}]}]
    results = {
        "GetFoundationModel": measure(lambda: control.get_foundation_model(modelIdentifier=MODEL), n),
        "Converse, maxTokens 1": measure(
            lambda: runtime.converse(modelId=MODEL, messages=messages, inferenceConfig={"maxTokens": 1}), n
        ),
    }
    if with_count:
        results["CountTokens"] = measure(
            lambda: runtime.count_tokens(modelId=MODEL, input={"converse": {"messages": messages}}), n
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ministack", help="path of a `ministack` executable to compare with")
    args = parser.parse_args()

    port = free_port()
    env = {**os.environ, "OUTCROP_THREADS": str(args.threads), "OUTCROP_EMBEDDED_S3": "0"}
    proc = subprocess.Popen(
        [str(BIN / "outcrop"), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    wait_for(f"http://127.0.0.1:{port}/_outcrop/health")
    time.sleep(1)
    ours = run_all(f"http://127.0.0.1:{port}", args.requests, with_count=True)
    proc.terminate()
    proc.wait()

    theirs: dict[str, tuple[float, float]] = {}
    if args.ministack:
        peer_port = free_port()
        peer = subprocess.Popen(
            [args.ministack],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "GATEWAY_PORT": str(peer_port)},
        )
        wait_for(f"http://127.0.0.1:{peer_port}/")
        time.sleep(1)
        try:
            theirs = run_all(f"http://127.0.0.1:{peer_port}", args.requests, with_count=False)
        finally:
            peer.terminate()
            peer.wait()

    print(f"{args.requests} sequential requests per operation, one boto3 client (medians)")
    print(f"{'operation':<24}{'Outcrop ms':>11}{'req/s':>8}{'MiniStack ms':>14}{'req/s':>8}")
    for name, (ms, rate) in ours.items():
        peer_cells = (
            f"{theirs[name][0]:>14.2f}{theirs[name][1]:>8.0f}" if name in theirs else f"{'-':>14}{'-':>8}"
        )
        print(f"{name:<24}{ms:>11.2f}{rate:>8.0f}{peer_cells}")


if __name__ == "__main__":
    main()
