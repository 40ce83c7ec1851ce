"""What the reasoning phase does to answers: the same questions with and without thinking.

Run: .venv/bin/python bench/reasoning_quality.py [--model PATH.gguf] [--threads 2]

Twenty short word problems with a whole-number answer, asked through Converse (the default
sampling both times: Claude allows no other temperature with thinking), once plainly and once
with ``thinking: {type: adaptive}`` (the reasoning phase: the model writes its reasoning first,
then answers with it in context). An answer is right when its text (not the reasoning) contains
the expected number. Printed per mode: right answers, median latency, and
median output tokens (reasoning included, as it is billed).
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from pathlib import Path
from typing import Any

from _server import outcrop
from request_overhead import clients

QUESTIONS = [
    ("Tom has 3 apples and buys 4 more. How many apples does he have?", 7),
    ("A box holds 6 eggs. How many eggs are in 5 boxes?", 30),
    ("Sara had 20 sweets and gave away 8. How many are left?", 12),
    ("What is 15 plus 27?", 42),
    ("A train leaves at 2 pm and arrives at 5 pm. How many hours is the trip?", 3),
    ("There are 4 tables with 4 chairs each. How many chairs are there?", 16),
    ("Half of 50 is how much?", 25),
    ("A pen costs 3 dollars. How much do 7 pens cost?", 21),
    ("What is 9 times 8?", 72),
    ("A farmer has 17 sheep. All but 9 run away. How many are left?", 9),
    ("If you have 100 and spend 35, how much remains?", 65),
    ("How many legs do 3 dogs have in total?", 12),
    ("A week has 7 days. How many days are in 3 weeks?", 21),
    ("What is 144 divided by 12?", 12),
    ("Ann is 10. Her brother is 4 years older. How old is he?", 14),
    ("A class has 12 girls and 13 boys. How many pupils are there?", 25),
    ("What is 1000 minus 1?", 999),
    ("Each bag has 5 marbles. How many marbles in 9 bags?", 45),
    ("A rope of 30 metres is cut into 3 equal parts. How long is each part?", 10),
    ("What is 11 squared?", 121),
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", help="a GGUF to serve instead of the bundled model")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    settings = {"OUTCROP_MODEL_PATH": args.model} if args.model else {}
    with outcrop(args.threads, **settings) as served:
        runtime, _ = clients(served.url)
        results = {mode: run(runtime, mode) for mode in ("plain", "thinking")}
    name = Path(args.model).name if args.model else "bundled SmolLM2-135M"
    print(f"model: {name}, {len(QUESTIONS)} questions")
    for mode, (right, seconds, tokens) in results.items():
        score = f"right {right:2d}/{len(QUESTIONS)}"
        print(f"  {mode:<9} {score}  median {seconds:5.2f} s  median output tokens {tokens:.0f}")


def run(runtime: Any, mode: str) -> tuple[int, float, float]:
    right, times, tokens = 0, [], []
    for question, expected in QUESTIONS:
        extra = (
            {"additionalModelRequestFields": {"thinking": {"type": "adaptive"}}} if mode == "thinking" else {}
        )
        started = time.perf_counter()
        response = runtime.converse(
            modelId="us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            messages=[{"role": "user", "content": [{"text": question + " Answer with the number."}]}],
            inferenceConfig={"maxTokens": 300},  # Claude takes no temperature but 1 with thinking
            **extra,
        )
        times.append(time.perf_counter() - started)
        tokens.append(response["usage"]["outputTokens"])
        text = "".join(b.get("text", "") for b in response["output"]["message"]["content"])
        right += str(expected) in re.findall(r"-?\d+", text.replace(",", ""))
    return right, statistics.median(times), statistics.median(tokens)


if __name__ == "__main__":
    main()
