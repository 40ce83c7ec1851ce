"""The AWS SDK for JavaScript v3, unmodified: its runtime client speaks only HTTP/2 (h2c here)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import ACCESS_KEY, SECRET_KEY, Server

JS_DIR = Path(__file__).parent / "js"
MODEL = "us.anthropic.claude-3-haiku-20240307-v1:0"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (JS_DIR / "node_modules").is_dir(),
    reason="node and tests/js/node_modules are needed (scripts/install.sh --test installs them)",
)


def js(
    command: str, server: Server, payload: dict[str, Any], env: dict[str, str] | None = None
) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(JS_DIR / "bedrock.mjs"), command, server.url, json.dumps(payload)],
        capture_output=True,
        text=True,
        timeout=300,
        env={
            "PATH": (shutil.which("node") and str(Path(shutil.which("node") or "").parent)) or "",
            **(env or {}),
        },
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def converse_input(text: str, max_tokens: int) -> dict[str, Any]:
    return {
        "modelId": MODEL,
        "messages": [{"role": "user", "content": [{"text": text}]}],
        "inferenceConfig": {"maxTokens": max_tokens},
    }


def test_converse(server: Server) -> None:
    out = js("converse", server, converse_input("What is the capital of France?", 20))
    assert "error" not in out, out
    assert out["output"]["message"]["content"][0]["text"].strip()
    assert out["usage"]["totalTokens"] == out["usage"]["inputTokens"] + out["usage"]["outputTokens"]


def test_converse_stream_token_by_token(server: Server) -> None:
    out = js("converse-stream", server, converse_input("Tell me a story about a cat.", 40))
    assert "error" not in out, out
    names = [e["name"] for e in out["events"]]
    assert names[0] == "messageStart"
    assert names[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    deltas = [e for e in out["events"] if e["name"] == "contentBlockDelta"]
    assert len(deltas) >= 5
    assert out["events"][-1]["body"]["usage"]["outputTokens"] <= 40


def test_validation_error_reaches_js_as_validation_exception(server: Server) -> None:
    payload = converse_input("hi", 5)
    payload["messages"].append({"role": "user", "content": [{"text": "again"}]})
    out = js("converse", server, payload)
    assert out["error"] == "ValidationException"
    assert out["status"] == 400
    assert out["message"].startswith("A conversation must alternate between user and assistant roles.")
    assert out["requestId"]


def test_unknown_model(server: Server) -> None:
    payload = converse_input("hi", 5)
    payload["modelId"] = "nobody.nothing-v1:0"
    out = js("converse", server, payload)
    assert (out["error"], out["status"], out["message"]) == (
        "ValidationException",
        400,
        "The provided model identifier is invalid.",
    )


def test_count_tokens(server: Server) -> None:
    out = js(
        "count-tokens",
        server,
        {"modelId": MODEL, "input": {"converse": {"messages": converse_input("Hello", 1)["messages"]}}},
    )
    assert out["inputTokens"] > 0


def test_control_plane_over_http1(server: Server) -> None:
    out = js("list-foundation-models", server, {"byProvider": "Anthropic"})
    assert out["modelSummaries"]
    assert all(m["providerName"] == "Anthropic" for m in out["modelSummaries"])


def test_signed_requests_against_verifying_server(auth_server: Server) -> None:
    env = {"TEST_ACCESS_KEY": ACCESS_KEY, "TEST_SECRET_KEY": SECRET_KEY}
    out = js("converse-stream", auth_server, converse_input("Hi", 5), env)
    assert "error" not in out, out
    bad = js("converse", auth_server, converse_input("Hi", 5), {**env, "TEST_SECRET_KEY": "wrong"})
    assert (bad["error"], bad["status"]) == ("InvalidSignatureException", 403)
