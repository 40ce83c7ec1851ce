"""Remote engines: Bedrock model ids answered by a real OpenAI-compatible server.

The remote is llama-cpp-python's own server (``python -m llama_cpp.server``) on the bundled
SmolLM2, started here on loopback; Outcrop routes Bedrock ids to it through a config file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EventStreamError

from conftest import Server, free_port, make_client, start_server, stop_server, user
from outcrop.config import ConfigError, load_settings
from outcrop.engines.llamacpp.model_files import bundled_model_path

LIVE = "meta.llama3-8b-instruct-v1:0"  # -> the remote
DEAD = "mistral.mistral-7b-instruct-v0:2"  # -> a closed loopback port
SLOW = "mistral.mistral-large-2402-v1:0"  # -> the remote, with a timeout nothing can meet
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"  # -> the remote (a model with tool use)


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on the bundled model."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("remote") / "llama_server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", bundled_model_path(),
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "1"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/v1/models", timeout=2):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"llama_cpp.server did not start:\n{log_path.read_text()}") from None
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture(scope="module")
def outcrop(remote: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("outcrop-remote")
    config = tmp / "outcrop.toml"
    config.write_text(
        f"""
default_model = "remote-smollm"
[[models]]
name = "remote-smollm"
engine = "openai"
url = "{remote}/v1"
context_length = 2048
timeout_seconds = 60
[[models]]
name = "dead"
engine = "openai"
url = "http://127.0.0.1:{free_port()}"
remote_model = "anything"
context_length = 2048
[[models]]
name = "slow"
engine = "openai"
url = "{remote}"
context_length = 2048
timeout_seconds = 0.001
[routes]
"{LIVE}" = "remote-smollm"
"{DEAD}" = "dead"
"{SLOW}" = "slow"
"anthropic.claude-3-haiku-*" = "remote-smollm"
"""
    )
    srv = start_server(tmp, "remote", args=["--config", str(config)])
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def client(outcrop: Server) -> Any:
    return make_client("bedrock-runtime", outcrop.url)


def _ask(text: str) -> dict[str, Any]:
    return {"messages": [user(text)], "inferenceConfig": {"maxTokens": 12, "temperature": 0}}


def test_converse_answers_through_the_remote(client: Any, outcrop: Server, remote: str) -> None:
    reply = client.converse(modelId=LIVE, **_ask("What is the capital of France?"))
    assert reply["ResponseMetadata"]["HTTPHeaders"]["x-outcrop-served-model"] == "remote-smollm"
    assert reply["output"]["message"]["content"][0]["text"].strip()
    usage = reply["usage"]
    assert usage["inputTokens"] > 5 and 0 < usage["outputTokens"] <= 12
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert reply["stopReason"] in ("end_turn", "max_tokens")
    health = outcrop.health()["models"]["remote-smollm"]
    assert health["model_path"] == remote and health["generations"]["completed"] >= 1


def test_converse_stream_arrives_token_by_token(client: Any) -> None:
    ask = _ask("Write one sentence about the sea.")
    whole = client.converse(modelId=LIVE, **ask)
    response = client.converse_stream(modelId=LIVE, **ask)
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-outcrop-served-model"] == "remote-smollm"
    deltas = []
    stop = usage = None
    for event in response["stream"]:
        if "contentBlockDelta" in event:
            deltas.append(event["contentBlockDelta"]["delta"]["text"])
        elif "messageStop" in event:
            stop = event["messageStop"]["stopReason"]
        elif "metadata" in event:
            usage = event["metadata"]["usage"]
    assert len(deltas) >= 3, deltas
    assert stop == whole["stopReason"]
    assert usage is not None and usage["outputTokens"] > 0
    assert usage["inputTokens"] == whole["usage"]["inputTokens"]  # same prompt, same count
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert "".join(deltas).strip()


def test_stop_sequences_are_matched_over_the_remote_stream(client: Any) -> None:
    free = client.converse(modelId=LIVE, **_ask("Count from 1 to 10, separated by commas."))
    text = free["output"]["message"]["content"][0]["text"]
    words = text.split()
    if len(words) < 3:
        pytest.skip(f"answer too short to pick a stop sequence: {text!r}")
    stop = words[2]
    ask = _ask("Count from 1 to 10, separated by commas.")
    ask["inferenceConfig"]["stopSequences"] = [stop]
    reply = client.converse(modelId=LIVE, **ask)
    assert reply["stopReason"] == "stop_sequence"
    assert stop not in reply["output"]["message"]["content"][0]["text"]


def test_dead_backend_is_service_unavailable(client: Any) -> None:
    started = time.monotonic()
    with pytest.raises(ClientError) as caught:
        client.converse(modelId=DEAD, **_ask("Hello"))
    assert caught.value.response["Error"]["Code"] == "ServiceUnavailableException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    with pytest.raises(ClientError) as caught:  # refused before the stream starts
        client.converse_stream(modelId=DEAD, **_ask("Hello"))
    assert caught.value.response["Error"]["Code"] == "ServiceUnavailableException"
    assert time.monotonic() - started < 5


def test_timeout_is_model_timeout(client: Any) -> None:
    with pytest.raises(ClientError) as caught:
        client.converse(modelId=SLOW, **_ask("Hello"))
    error = caught.value.response["Error"]
    assert error["Code"] == "ModelTimeoutException"
    assert error["Message"] == "Model has timed out in processing the request. Try your request again."
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 408
    response = client.converse_stream(modelId=SLOW, **_ask("Hello"))
    with pytest.raises(EventStreamError) as streamed:
        for _ in response["stream"]:
            pass
    # Headers go out before the first token, so the timeout is an exception event. ConverseStream's
    # union has no modelTimeoutException member: it arrives as modelStreamErrorException with the
    # original status and message, as Bedrock reports model failures mid-stream.
    error = streamed.value.response["Error"]
    assert error["Code"] == "modelStreamErrorException"
    assert error["Message"] == "Model has timed out in processing the request. Try your request again."


def test_openai_engine_needs_a_url(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[[models]]\nname = "r"\nengine = "openai"\n')
    with pytest.raises(ConfigError, match="needs url"):
        load_settings(config, env={})
    config.write_text('[[models]]\nname = "r"\nengine = "vllm"\nurl = "http://x"\n')
    with pytest.raises(ConfigError, match="engine must be"):
        load_settings(config, env={})


WEATHER_TOOL = {
    "tools": [
        {
            "toolSpec": {
                "name": "get_weather",
                "description": "Current weather for a city.",
                "inputSchema": {
                    "json": {
                        "type": "object",
                        "properties": {"city": {"type": "string", "maxLength": 20}},
                        "required": ["city"],
                    }
                },
            }
        }
    ],
    "toolChoice": {"any": {}},
}


def test_forced_tool_call_through_the_remote_grammar(client: Any) -> None:
    """Tool calls use the remote's grammar support (llama-cpp-python's server reads `grammar`)."""
    reply = client.converse(
        modelId=CLAUDE,
        messages=[user("What is the weather in Paris?")],
        toolConfig=WEATHER_TOOL,
        inferenceConfig={"maxTokens": 40},
    )
    assert reply["stopReason"] == "tool_use", reply["output"]
    use = next(b["toolUse"] for b in reply["output"]["message"]["content"] if "toolUse" in b)
    assert use["name"] == "get_weather" and isinstance(use["input"]["city"], str)
    answer = client.converse(
        modelId=CLAUDE,
        messages=[
            user("What is the weather in Paris?"),
            reply["output"]["message"],
            {
                "role": "user",
                "content": [
                    {"toolResult": {"toolUseId": use["toolUseId"], "content": [{"text": "Sunny, 21 C"}]}}
                ],
            },
        ],
        toolConfig={"tools": WEATHER_TOOL["tools"]},
        inferenceConfig={"maxTokens": 12},
    )
    assert answer["usage"]["outputTokens"] > 0


def test_invoke_model_native_body_through_the_remote(client: Any) -> None:
    body = {"prompt": "Name a colour.", "max_gen_len": 8, "temperature": 0}
    reply = client.invoke_model(modelId=LIVE, body=json.dumps(body))
    assert reply["ResponseMetadata"]["HTTPHeaders"]["x-outcrop-served-model"] == "remote-smollm"
    out = json.loads(reply["body"].read())
    assert out["generation"].strip() and 0 < out["generation_token_count"] <= 8
    assert out["prompt_token_count"] > 0
