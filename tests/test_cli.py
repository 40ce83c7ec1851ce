"""The AWS CLI (v1) against Outcrop, and Outcrop's own CLI."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Any

from conftest import BIN


def test_aws_cli_converse(aws_cli: Callable[..., Any]) -> None:
    out = aws_cli(
        [
            "bedrock-runtime",
            "converse",
            "--model-id",
            "anthropic.claude-3-haiku-20240307-v1:0",
            "--messages",
            json.dumps([{"role": "user", "content": [{"text": "Name a planet."}]}]),
            "--inference-config",
            json.dumps({"maxTokens": 16}),
        ]
    )
    assert out["output"]["message"]["content"][0]["text"].strip()
    assert out["usage"]["outputTokens"] <= 16


def test_aws_cli_validation_error(aws_cli: Callable[..., Any]) -> None:
    done = aws_cli(
        [
            "bedrock-runtime",
            "converse",
            "--model-id",
            "anthropic.claude-3-haiku-20240307-v1:0",
            "--messages",
            json.dumps(
                [{"role": "user", "content": [{"text": "a"}]}, {"role": "user", "content": [{"text": "b"}]}]
            ),
        ],
        check=False,
    )
    assert done.returncode != 0
    assert "(ValidationException)" in done.stderr
    assert "must alternate between user and assistant roles" in done.stderr


def test_aws_cli_count_tokens(aws_cli: Callable[..., Any]) -> None:
    out = aws_cli(
        [
            "bedrock-runtime",
            "count-tokens",
            "--model-id",
            "anthropic.claude-3-haiku-20240307-v1:0",
            "--input",
            json.dumps({"converse": {"messages": [{"role": "user", "content": [{"text": "Hello"}]}]}}),
        ]
    )
    assert out["inputTokens"] > 0


def test_outcrop_help_and_models() -> None:
    help_text = subprocess.run(
        [str(BIN / "outcrop"), "serve", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "--port" in help_text and "--config" in help_text
    models = subprocess.run(
        [str(BIN / "outcrop"), "models"], capture_output=True, text=True, check=True
    ).stdout
    assert models.startswith("smollm2-135m (default): ")
    assert models.strip().endswith(".gguf")
