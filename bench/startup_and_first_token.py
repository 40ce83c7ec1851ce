"""Start-up time, and first-token / total time of a short ConverseStream, against the raw engine.

Run: .venv/bin/python bench/startup_and_first_token.py [--runs 5] [--threads 2]

For each run it starts `outcrop serve` and times it to a healthy /_outcrop/health, sends a warm-up
request, then times a short ConverseStream through boto3 twice (first contentBlockDelta, last
event): "cold" is a new user message, "warm" the same request again (its prompt KV is reused).
The same prompts, model, thread count and greedy sampling go through llama-cpp-python directly
in this process, with the server stopped, for the raw-engine baseline. Medians and ratios are
printed; the machine is shared and noisy, so compare ratios, not absolute numbers.
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

import boto3
from botocore.config import Config

BIN = Path(sys.executable).parent
PROMPT = "What is the capital of France?"
WARM_UP = "Hello!"
MAX_TOKENS = 32
SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"  # the GGUF template's default

Timing = tuple[float, float]  # (first token, total) in seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(threads: int) -> tuple[subprocess.Popen[bytes], int, float]:
    port = free_port()
    env = {**os.environ, "OUTCROP_THREADS": str(threads), "OUTCROP_EMBEDDED_S3": "0"}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(BIN / "outcrop"), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_outcrop/health", timeout=1) as r:
                if r.status == 200:
                    return proc, port, time.perf_counter() - started
        except OSError:
            time.sleep(0.01)


def outcrop_stream(client: object, prompt: str) -> Timing:
    started = time.perf_counter()
    response = client.converse_stream(  # type: ignore[attr-defined]
        modelId="anthropic.claude-3-haiku-20240307-v1:0",
        messages=[{"role": "user", "content": [{"text": prompt}]}],
        inferenceConfig={"maxTokens": MAX_TOKENS, "temperature": 0},
    )
    first = None
    for event in response["stream"]:
        if "contentBlockDelta" in event and first is None:
            first = time.perf_counter() - started
    return first or 0.0, time.perf_counter() - started


def raw_engine(threads: int, runs: int) -> dict[str, list[Timing]]:
    """The same prompts through llama-cpp-python directly, in the order the server gets them."""
    from llama_cpp import Llama, llama_vocab_is_eog

    from outcrop.engines.llamacpp.model_files import bundled_model_path

    llm = Llama(
        model_path=bundled_model_path(), n_ctx=0, n_threads=threads, n_threads_batch=threads, verbose=False
    )

    def render(prompt: str) -> list[int]:
        text = (
            f"<|im_start|>system\n{SYSTEM}<|im_end|>\n"
            f"<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"
        )
        return list(llm.tokenize(text.encode(), add_bos=False, special=True))

    def once(tokens: list[int]) -> Timing:
        started = time.perf_counter()
        first = None
        sampled = llm.generate(tokens, temp=0, top_k=40, top_p=0.9, repeat_penalty=1.1, reset=True)
        for count, tok in enumerate(sampled, start=1):
            if first is None:
                first = time.perf_counter() - started
            if llama_vocab_is_eog(llm._model.vocab, tok):
                break
            llm.detokenize([tok])
            if count >= MAX_TOKENS:
                break
        return first or 0.0, time.perf_counter() - started

    results: dict[str, list[Timing]] = {"cold": [], "warm": []}
    for _ in range(runs):
        once(render(WARM_UP))
        results["cold"].append(once(render(PROMPT)))
        results["warm"].append(once(render(PROMPT)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    startups: list[float] = []
    served: dict[str, list[Timing]] = {"cold": [], "warm": []}
    for _ in range(args.runs):
        proc, port, startup = start(args.threads)
        startups.append(startup)
        client = boto3.client(
            "bedrock-runtime",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            config=Config(retries={"max_attempts": 1}),
        )
        outcrop_stream(client, WARM_UP)  # first-use allocations, as in a server already in service
        served["cold"].append(outcrop_stream(client, PROMPT))  # new user message, shared system prefix
        served["warm"].append(outcrop_stream(client, PROMPT))  # the same request again
        proc.terminate()
        proc.wait()
    raw = raw_engine(args.threads, args.runs)

    def ms(values: list[float]) -> float:
        return statistics.median(values) * 1000

    print(f"threads={args.threads} runs={args.runs} prompt={PROMPT!r} max_tokens={MAX_TOKENS} (greedy)")
    print(f"outcrop serve -> healthy: median {ms(startups):.0f} ms")
    print(f"{'':<18}{'Outcrop':>12}{'raw engine':>14}{'difference':>14}{'raw/Outcrop':>13}")
    for kind in ("cold", "warm"):
        for index, label in ((0, "first token"), (1, "total")):
            ours = ms([r[index] for r in served[kind]])
            base = ms([r[index] for r in raw[kind]])
            cells = f"{ours:>9.1f} ms{base:>11.1f} ms{ours - base:>+11.1f} ms{base / ours:>13.2f}"
            row = f"{kind} {label:<13}{cells}"
            print(row)


if __name__ == "__main__":
    main()
