"""Aggregate generation speed under concurrency, and cached-prefix first-token time, vs the raw engine.

Run: .venv/bin/python bench/concurrency.py [--levels 1,4,8] [--tokens 64] [--threads 2] [--parallel 16]

1. N concurrent ConverseStream requests (N in --levels) of up to --tokens tokens each through
   boto3; aggregate = output tokens / wall time. The raw baseline is llama.cpp's batch API driven
   directly from Python on the same model, thread count and slot count: one context, one sequence
   per stream (at most --parallel at once, like the server), one llama_decode per step for every
   active sequence, greedy sampling, the same number of tokens per stream.
2. Time to first token for a request with a ~2,000-token system prompt: cold (a new prefix) vs
   cached (the same prefix again, new user message).
Medians of --runs runs; ratios are Outcrop / raw (higher is better for throughput).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

BIN = Path(sys.executable).parent
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
TOPICS = ["dragons", "rivers", "castles", "robots", "oceans", "forests", "comets", "cities"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(threads: int, parallel: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "OUTCROP_THREADS": str(threads),
        "OUTCROP_PARALLEL": str(parallel),
        "OUTCROP_EMBEDDED_S3": "0",
    }
    proc = subprocess.Popen(
        [str(BIN / "outcrop"), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_outcrop/health", timeout=1) as response:
                if response.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.05)


def client(url: str) -> Any:
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"max_attempts": 1}, max_pool_connections=32, read_timeout=600),
    )


def stream(runtime: Any, prompt: str, tokens: int, system: str | None = None) -> tuple[float, int]:
    """(first-token seconds, output tokens) of one ConverseStream."""
    started = time.perf_counter()
    extra = {"system": [{"text": system}]} if system else {}
    response = runtime.converse_stream(
        modelId=MODEL,
        messages=[{"role": "user", "content": [{"text": prompt}]}],
        inferenceConfig={"maxTokens": tokens, "temperature": 0},
        **extra,
    )
    first = 0.0
    produced = 0
    for event in response["stream"]:
        if "contentBlockDelta" in event and not first:
            first = time.perf_counter() - started
        if "metadata" in event:
            produced = event["metadata"]["usage"]["outputTokens"]
    return first, produced


def story(i: int, run: int) -> str:
    """A prompt no earlier request shared (beyond the chat template's fixed system prefix), so the
    server's prefix cache gives it no head start over the raw engine."""
    return f"Story {run}-{i}: write a long story about {TOPICS[i % len(TOPICS)]}."


def outcrop_aggregate(runtime: Any, n: int, tokens: int, run: int) -> tuple[float, list[int]]:
    counts = [0] * n

    def worker(i: int) -> None:
        counts[i] = stream(runtime, story(i, run), tokens)[1]

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - started), counts


class RawEngine:
    """llama.cpp's batch API driven directly: the baseline Outcrop's scheduler is measured against."""

    def __init__(self, threads: int, parallel: int) -> None:
        import llama_cpp as L
        from llama_cpp import Llama

        from outcrop.engines.llamacpp.model_files import bundled_model_path

        self.L = L
        self.llm = Llama(model_path=bundled_model_path(), n_ctx=256, n_threads=1, verbose=False)
        params = L.llama_context_default_params()
        params.n_ctx = 8192 * min(parallel, 8)  # the raw baseline: room for every stream it runs
        params.n_batch = params.n_ubatch = 512
        params.n_seq_max = parallel
        params.n_threads = params.n_threads_batch = threads
        params.kv_unified = True
        self.ctx = L.llama_init_from_model(self.llm.model, params)
        self.batch = L.llama_batch_init(512, 0, parallel)
        self.parallel = parallel
        self.vocab = L.llama_model_get_vocab(self.llm.model)

    def prompt(self, text: str) -> list[int]:
        chat = (
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
            f"<|im_end|>\n<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n"
        )
        return list(self.llm.tokenize(chat.encode(), add_bos=False, special=True))

    def run(self, prompts: list[list[int]], lengths: list[int]) -> float:
        """Generate lengths[i] tokens for each prompt, at most ``parallel`` at once; tokens/s."""
        L, batch = self.L, self.batch
        memory = L.llama_get_memory(self.ctx)
        L.llama_memory_clear(memory, True)
        samplers = []
        waiting = list(range(len(prompts)))
        active: dict[int, dict[str, Any]] = {}
        free = list(range(self.parallel))
        started = time.perf_counter()
        while waiting or active:
            while waiting and free:
                i = waiting.pop(0)
                seq = free.pop(0)
                L.llama_memory_seq_rm(memory, seq, -1, -1)
                smpl = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params())
                L.llama_sampler_chain_add(smpl, L.llama_sampler_init_greedy())
                samplers.append(smpl)
                active[i] = {
                    "seq": seq,
                    "pos": 0,
                    "pending": prompts[i],
                    "next": None,
                    "left": lengths[i],
                    "smpl": smpl,
                }
            batch.n_tokens = 0
            rows: dict[int, int] = {}

            def add(
                token: int, state: dict[str, Any], logits: bool, i: int, rows: dict[int, int] = rows
            ) -> None:
                k = batch.n_tokens
                batch.token[k], batch.pos[k], batch.n_seq_id[k] = token, state["pos"], 1
                batch.seq_id[k][0], batch.logits[k] = state["seq"], logits
                batch.n_tokens += 1
                state["pos"] += 1
                if logits:
                    rows[i] = k

            for i, state in active.items():
                if state["next"] is not None:
                    add(state["next"], state, True, i)
            budget = 512 - batch.n_tokens
            for i, state in active.items():
                if state["pending"] and budget > 0:
                    chunk, state["pending"] = state["pending"][:budget], state["pending"][budget:]
                    for j, token in enumerate(chunk):
                        add(token, state, not state["pending"] and j == len(chunk) - 1, i)
                    budget -= len(chunk)
            assert L.llama_decode(self.ctx, batch) == 0
            for i, k in rows.items():
                state = active[i]
                state["next"] = L.llama_sampler_sample(state["smpl"], self.ctx, k)
                self.llm.detokenize([state["next"]])
                state["left"] -= 1
                if state["left"] <= 0:
                    free.append(state["seq"])
                    del active[i]
        elapsed = time.perf_counter() - started
        for smpl in samplers:
            L.llama_sampler_free(smpl)
        return sum(lengths) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--levels", default="1,4,8")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parallel", type=int, default=16)  # the server's default
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]

    proc, url = start(args.threads, args.parallel)
    runtime = client(url)
    stream(runtime, "Hello", 8)  # warm-up
    ours: dict[int, list[float]] = {n: [] for n in levels}
    produced: dict[int, list[int]] = {}
    for run in range(args.runs):
        for n in levels:
            rate, counts = outcrop_aggregate(runtime, n, args.tokens, run)
            ours[n].append(rate)
            produced[n] = counts
    system = "You are a support agent for a large bookshop. " + " ".join(
        f"Policy {i}: customers may return books within {i + 14} days with a receipt." for i in range(120)
    )
    cold, cached = [], []
    for run in range(args.runs):
        cold.append(stream(runtime, "Hi", 4, system=f"[{run}] {system}")[0])
        cached.append(stream(runtime, "Hello again", 4, system=f"[{run}] {system}")[0])
    proc.terminate()
    proc.wait()

    raw = RawEngine(args.threads, args.parallel)
    theirs: dict[int, list[float]] = {n: [] for n in levels}
    for run in range(args.runs):
        for n in levels:
            prompts = [raw.prompt(story(i, run)) for i in range(n)]
            theirs[n].append(raw.run(prompts, [max(c, 1) for c in produced[n]]))

    print(f"threads={args.threads} parallel={args.parallel} tokens<={args.tokens} runs={args.runs} (medians)")
    print(f"{'streams':>8}{'Outcrop tok/s':>15}{'raw tok/s':>12}{'ratio':>8}")
    for n in levels:
        a, b = statistics.median(ours[n]), statistics.median(theirs[n])
        print(f"{n:>8}{a:>15.1f}{b:>12.1f}{a / b:>8.2f}")
    c, w = statistics.median(cold) * 1000, statistics.median(cached) * 1000
    prompt_tokens = len(raw.prompt(system))
    print(
        f"first token, ~{prompt_tokens}-token system prompt: "
        f"cold {c:.0f} ms, cached {w:.0f} ms, {c / w:.1f}x faster"
    )


if __name__ == "__main__":
    main()
