"""Hostile requests from botocore's shapes, at scale: no answer of 500 or more but 501.

Run: .venv/bin/python bench/fuzz.py [--cases 10000] [--seed 1] [--cut-off 500]

Starts its own ``outcrop serve`` on the bundled model, sends the cases tests/shape_fuzz.py makes
(every operation of bedrock-runtime and bedrock: wrong types, missing and unknown members, huge
strings, bad UTF-8, garbage and deeply nested bodies, odd path labels), then checks the server is
still healthy and answers a real Converse. Prints the answers by status and every failure; exits
1 if there was any.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import sys
import time
import urllib.request
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _server import outcrop

from shape_fuzz import ShapeFuzzer, operations, send


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_outcrop/health", timeout=5) as response:
            return bool(json.load(response)["status"] == "ok")
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--cut-off", type=int, default=500, help="valid requests cut short by max tokens (tool calls, text)"
    )
    args = parser.parse_args()
    with outcrop(threads=1) as served:
        statuses: collections.Counter[int] = collections.Counter()
        failures: collections.Counter[str] = collections.Counter()
        started = time.monotonic()
        with httpx.Client(base_url=served.url, timeout=120) as client:
            fuzzer = ShapeFuzzer(args.seed)
            for case in itertools.chain(fuzzer.cases(args.cases), fuzzer.cut_off_cases(args.cut_off)):
                outcome = send(client, case)
                statuses[outcome.status] += 1
                if outcome.failed:
                    failures[f"{case.operation}/{case.kind} -> {outcome.status} {outcome.error}"] += 1
            answer = client.post(
                "/model/amazon.nova-lite-v1:0/converse",
                json={
                    "messages": [{"role": "user", "content": [{"text": "Still there?"}]}],
                    "inferenceConfig": {"maxTokens": 3},
                },
            )
        elapsed = time.monotonic() - started
        alive = healthy(served.url) and answer.status_code == 200
    print(
        f"{args.cases} cases over {len(operations())} operations and {args.cut_off} cut-off generations"
        f" in {elapsed:.0f} s (seed {args.seed})"
    )
    print(
        "answers by status:",
        dict(sorted(statuses.items())),
        "(0: the server closed a connection it had answered)",
    )
    print(f"failures: {sum(failures.values())}; healthy and answering afterwards: {alive}")
    for label, count in failures.most_common(20):
        print(f"  {count} x {label}")
    sys.exit(1 if failures or not alive else 0)


if __name__ == "__main__":
    main()
