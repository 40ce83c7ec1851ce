"""``outcrop logs``: the local CloudWatch sink, as a person reads it (or as JSON lines)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO


def sinks(state_dir: str) -> list[Path]:
    root = Path(state_dir).expanduser() / "cloudwatch"
    return sorted(root.rglob("*.jsonl")) if root.exists() else []


def describe(record: dict[str, Any]) -> str:
    """One line: when, who, what, with which model, tokens in and out, and how it ended."""
    who = record.get("identity", {}).get("arn", "").rsplit(":", 1)[-1]
    tokens_in = record.get("input", {}).get("inputTokenCount", 0)
    output = record.get("output")
    outcome = record.get("errorCode") or (f"{output.get('outputTokenCount', 0)} out" if output else "")
    return (
        f"{record.get('timestamp', '')}  {record.get('operation', ''):<30} {record.get('modelId', '')}  "
        f"{who}  {tokens_in} in  {outcome}  {record.get('requestId', '')}"
    )


def show(path: Path, *, lines: int, follow: bool, raw: bool, out: TextIO = sys.stdout) -> None:
    def emit(line: str) -> None:
        line = line.strip()
        if not line:
            return
        if raw:
            print(line, file=out)
            return
        try:
            print(describe(json.loads(line)), file=out)
        except ValueError:
            print(line, file=out)

    with path.open(encoding="utf-8") as fh:
        for line in fh.readlines()[-lines:] if lines else fh.readlines():
            emit(line)
        out.flush()
        while follow:
            line = fh.readline()
            if line:
                emit(line)
                out.flush()
            else:
                time.sleep(0.5)
