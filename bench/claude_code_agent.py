"""Claude Code as an agent, served by a local model through Outcrop: it is asked to run a shell
command with its Bash tool, and the command's effect on disk is checked.

Run: .venv/bin/python bench/claude_code_agent.py --model PATH.gguf [--threads 2]

Needs Claude Code from ``scripts/install.sh --test`` (tests/js) and a model that can call tools
(the bundled 135M model cannot): Qwen2.5-Coder-0.5B-Instruct, for measurement only, as
``bench/tool_call_rate.py`` says how to get it. Claude Code runs as its users run it against
Bedrock (``CLAUDE_CODE_USE_BEDROCK=1``, ``ANTHROPIC_BEDROCK_BASE_URL``), with telemetry, error
reporting and updates off and any proxied traffic sent to a dead port. By default it runs lean
(``--tools Bash`` and a one-line ``--system-prompt``: what makes a CPU model usable as an agent);
``--full`` keeps Claude Code's own ~20K-token prompt and 24 tools (tens of minutes of prefill on
2 cores). Printed: the wall time, the turns Claude Code took, usage, and whether the file the
command writes exists with the right text.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from _server import outcrop

CLAUDE = Path(__file__).parent.parent / "tests" / "js" / "node_modules" / ".bin" / "claude"
# A model id without thinking: Claude Code then sends no thinking block and max_tokens 4096.
MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
PROOF = "agent-proof.txt"
PROMPT = f"Use the Bash tool to run this exact command: echo outcrop-agent-ok > {PROOF}"
# Lean mode: only the Bash tool and a short system prompt, instead of Claude Code's ~20K tokens of
# system prompt and 24 tool schemas, which a 2-core CPU prefills at ~10-60 tokens/s (measured:
# 17K tokens in 33 minutes, the deeper the slower).
SYSTEM = "You are a coding agent in the current directory. To run a shell command, call the Bash tool."
LEAN = ["--tools", "Bash", "--system-prompt", SYSTEM]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds for the whole run")
    parser.add_argument("--full", action="store_true", help="Claude Code's own system prompt and every tool")
    args = parser.parse_args()
    if not CLAUDE.exists():
        raise SystemExit("Claude Code is not installed: run scripts/install.sh --test")
    with outcrop(args.threads, OUTCROP_MODEL_PATH=args.model) as served, tempfile.TemporaryDirectory() as tmp:
        home, work = Path(tmp) / "home", Path(tmp) / "work"
        home.mkdir()
        work.mkdir()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "CLAUDE_CODE_USE_BEDROCK": "1",
            "ANTHROPIC_BEDROCK_BASE_URL": served.url,
            "CLAUDE_CODE_SKIP_BEDROCK_AUTH": "1",
            "AWS_REGION": "us-east-1",
            "ANTHROPIC_MODEL": MODEL,
            "ANTHROPIC_SMALL_FAST_MODEL": MODEL,
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "DISABLE_AUTOUPDATER": "1",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "HTTP_PROXY": "http://127.0.0.1:9",
            "NO_PROXY": "127.0.0.1,localhost",
            "API_TIMEOUT_MS": str(int(args.timeout * 1000)),
            "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "512",
        }
        command = [
            str(CLAUDE), "-p", PROMPT, "--output-format", "json", "--allowedTools", "Bash",
            "--max-turns", "4", *([] if args.full else LEAN),
        ]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(
            command, cwd=work, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=args.timeout,
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        proof = work / PROOF
        written = proof.read_text().strip() if proof.exists() else None
        try:
            result = json.loads(done.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            result = {"raw": done.stdout[-2000:], "stderr": done.stderr[-2000:]}
    print(f"model: {Path(args.model).name}, threads {args.threads}")
    print(f"claude exit {done.returncode} in {elapsed:.0f} s; turns: {result.get('num_turns')}; "
          f"result: {str(result.get('result', result))[:300]!r}")  # fmt: skip
    for name, usage in (result.get("modelUsage") or {}).items():
        print(f"usage {name}: {json.dumps(usage)}")
    verdict = "the agent ran the command" if written == "outcrop-agent-ok" else "NOT RUN"
    print(f"{PROOF}: {written!r} -> {verdict}")


if __name__ == "__main__":
    main()
