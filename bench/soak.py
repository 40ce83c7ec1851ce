"""Load held: 64 clients at once for minutes, mixed operations, on default settings.

Run: .venv/bin/python bench/soak.py [--clients 64] [--seconds 300] [--warmup 30]

Starts ``outcrop serve`` (bundled model, default settings but for ``--threads``), then each
client loops until time is up, picking Converse, ConverseStream, InvokeModel (a Claude body) or
CountTokens at random. Passes when: no answer is 500 or more; the only errors are
ThrottlingException (the documented answer to a full queue or a long wait); resident memory at the
end is within 10 % of what it was after the warm-up; and ``/_outcrop/health`` is back to no
active or waiting sequence. Prints what it saw, and exits 1 when a condition failed.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
from _server import outcrop
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


def health(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_outcrop/health", timeout=5) as response:
        return dict(json.load(response))


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: collections.Counter[str] = collections.Counter()
        self.errors: collections.Counter[str] = collections.Counter()
        self.latencies: dict[str, list[float]] = collections.defaultdict(list)
        self.tokens = 0

    def add(self, op: str, seconds: float, error: str | None = None, tokens: int = 0) -> None:
        with self.lock:
            self.calls[op] += 1
            self.latencies[op].append(seconds)
            self.tokens += tokens
            if error:
                self.errors[error] += 1


def work(runtime: Any, until: float, tally: Tally, seed: int) -> None:
    rng = random.Random(seed)
    messages = [{"role": "user", "content": [{"text": f"Client {seed}: tell me about the sea, briefly."}]}]
    claude = json.dumps(
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 32,
            "messages": [{"role": "user", "content": "Hello"}],
        }
    )
    while time.monotonic() < until:
        op = rng.choice(["Converse", "ConverseStream", "InvokeModel", "CountTokens"])
        started = time.monotonic()
        tokens = 0
        error = None
        try:
            if op == "Converse":
                out = runtime.converse(
                    modelId=MODEL, messages=messages, inferenceConfig={"maxTokens": rng.randint(16, 64)}
                )
                tokens = out["usage"]["outputTokens"]
            elif op == "ConverseStream":
                out = runtime.converse_stream(
                    modelId=MODEL, messages=messages, inferenceConfig={"maxTokens": 64}
                )
                for event in out["stream"]:
                    if "metadata" in event:
                        tokens = event["metadata"]["usage"]["outputTokens"]
            elif op == "InvokeModel":
                out = runtime.invoke_model(modelId=MODEL, body=claude)
                tokens = json.loads(out["body"].read())["usage"]["output_tokens"]
            else:
                runtime.count_tokens(modelId=MODEL, input={"converse": {"messages": messages}})
        except ClientError as exc:
            status = exc.response["ResponseMetadata"].get("HTTPStatusCode", 0)
            error = f"{exc.response['Error']['Code']} ({status})"
        except EventStreamError as exc:
            error = f"in-stream {exc.response['Error']['Code']}"
        except Exception as exc:  # a connection error is a failure too
            error = f"{type(exc).__name__}"
        tally.add(op, time.monotonic() - started, error, tokens)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--warmup", type=float, default=30)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with outcrop(args.threads) as served:
        pid = served.process.pid
        idle = resident_mb(pid)
        config = Config(
            retries={"total_max_attempts": 1}, max_pool_connections=args.clients, read_timeout=120
        )
        runtime = boto3.client(
            "bedrock-runtime", endpoint_url=served.url, region_name="us-east-1",
            aws_access_key_id="soak", aws_secret_access_key="soak", config=config,
        )  # fmt: skip
        tally = Tally()
        started = time.monotonic()
        until = started + args.seconds
        workers = [
            threading.Thread(target=work, args=(runtime, until, tally, i), daemon=True)
            for i in range(args.clients)
        ]
        for worker in workers:
            worker.start()
        time.sleep(args.warmup)
        warm = resident_mb(pid)
        peak = warm
        while any(w.is_alive() for w in workers):
            time.sleep(2)
            peak = max(peak, resident_mb(pid))
        elapsed = time.monotonic() - started
        end = resident_mb(pid)
        settled = health(served.url)["models"]["smollm2-135m"]
    failures = {k: v for k, v in tally.errors.items() if not k.startswith("ThrottlingException (429)")}
    drift = (end - warm) / warm
    print(f"{args.clients} clients, {elapsed:.0f} s, {args.threads} engine threads")
    print(
        f"calls: {dict(tally.calls)}; generated tokens: {tally.tokens} ({tally.tokens / elapsed:.1f} tok/s)"
    )
    for op, values in sorted(tally.latencies.items()):
        p95 = sorted(values)[int(len(values) * 0.95)]
        print(f"  {op:16} median {statistics.median(values):6.2f} s   p95 {p95:6.2f} s")
    print(f"errors: {dict(tally.errors) or 'none'}")
    print(f"resident MB: idle {idle:.0f}, after warm-up {warm:.0f}, peak {peak:.0f}, end {end:.0f}", end="")
    print(f" ({drift:+.1%})")
    print(
        f"health at the end: active {settled['active_sequences']}, waiting {settled['waiting']}, "
        f"kv {settled['kv_used_tokens']}/{settled['kv_budget_tokens']}, preemptions {settled['preemptions']}"
    )
    ok = not failures and abs(drift) <= 0.10 and settled["active_sequences"] == 0 and settled["waiting"] == 0
    print("PASS" if ok else f"FAIL: {failures or ''}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
