"""The pipeline called in-process (as async invocations, batch jobs and the console will call it)
answers exactly what the HTTP API answers: the same bodies, events and usage, byte for byte but
for ids and timings. Both sides run the real bundled model with the same settings, greedily."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Server, make_client, start_server, stop_server
from outcrop.auth import Identity
from outcrop.config import ServedModel, Settings
from outcrop.invocation import Answered, Streamed
from outcrop.services import Services

SETTINGS = {"OUTCROP_CONTEXT_LENGTH": "2048", "OUTCROP_PARALLEL": "1"}
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
NOVA = "amazon.nova-lite-v1:0"
QUESTION = [{"role": "user", "content": [{"text": "Name three colours of the rainbow."}]}]
GREEDY = {"maxTokens": 16, "temperature": 0.0}


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("same-settings"), "same-settings", env=SETTINGS)
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    model = ServedModel("smollm2-135m", context_length=2048, parallel=1, threads=1)
    settings = Settings(models=[model], state_dir=str(tmp_path_factory.mktemp("in-process-state")))
    svc = Services.build(settings)
    for engine in svc.engines.values():
        engine.load()
    yield svc
    svc.close()


def in_process(services: Services, operation: str, params: dict[str, Any]) -> Any:
    async def go() -> Any:
        answer = await services.pipeline.call(
            operation, params, Identity("sigv4", "AKIDINPROCESS"), source="test"
        )
        if isinstance(answer, Streamed):
            return answer, [event async for event in answer.events]
        return answer, None

    return asyncio.run(go())


_VOLATILE = re.compile(r'"(id|latencyMs|invocationLatency|firstByteLatency)": ("[^"]*"|\d+)')


def steady(text: str) -> str:
    """JSON text with ids and timings blanked."""
    return _VOLATILE.sub(lambda m: f'"{m.group(1)}": "-"', text)


def test_converse_in_process_equals_http(http: Server, services: Services) -> None:
    runtime = make_client("bedrock-runtime", http.url)
    over_http = runtime.converse(modelId=NOVA, messages=QUESTION, inferenceConfig=GREEDY)
    answer, _ = in_process(
        services, "Converse", {"modelId": NOVA, "messages": QUESTION, "inferenceConfig": GREEDY}
    )
    assert isinstance(answer, Answered)
    for key in ("output", "stopReason", "usage"):
        assert answer.data[key] == over_http[key], key
    assert (
        dict(answer.headers)["x-outcrop-served-model"]
        == over_http["ResponseMetadata"]["HTTPHeaders"]["x-outcrop-served-model"]
    )


def test_invoke_model_in_process_equals_http_bytes(http: Server, services: Services) -> None:
    runtime = make_client("bedrock-runtime", http.url)
    body = json.dumps(
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 16,
            "temperature": 0.0,
            "messages": [{"role": "user", "content": "Name three colours."}],
        }
    ).encode()
    response = runtime.invoke_model(modelId=CLAUDE, body=body)
    over_http = response["body"].read()
    answer, _ = in_process(services, "InvokeModel", {"modelId": CLAUDE, "body": body})
    assert steady(answer.data["body"].decode()) == steady(over_http.decode())
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    mine = dict(answer.headers)
    for name in (
        "x-amzn-bedrock-input-token-count",
        "x-amzn-bedrock-output-token-count",
        "x-outcrop-served-model",
    ):
        assert mine[name] == headers[name], name


def test_streams_in_process_equal_http_events(http: Server, services: Services) -> None:
    runtime = make_client("bedrock-runtime", http.url)
    over_http = [
        (kind, payload)
        for event in runtime.converse_stream(modelId=NOVA, messages=QUESTION, inferenceConfig=GREEDY)[
            "stream"
        ]
        for kind, payload in event.items()
    ]
    _, events = in_process(
        services, "ConverseStream", {"modelId": NOVA, "messages": QUESTION, "inferenceConfig": GREEDY}
    )
    mine = [(e.type, e.payload) for e in events]
    assert [k for k, _ in mine] == [k for k, _ in over_http]
    assert steady(json.dumps(mine)) == steady(json.dumps(over_http))
    body = json.dumps({"prompt": "Name three colours.", "max_gen_len": 12, "temperature": 0.0}).encode()
    llama = "meta.llama3-8b-instruct-v1:0"
    chunks_http = [
        json.loads(e["chunk"]["bytes"])
        for e in runtime.invoke_model_with_response_stream(modelId=llama, body=body)["body"]
    ]
    _, events = in_process(services, "InvokeModelWithResponseStream", {"modelId": llama, "body": body})
    chunks = [json.loads(base64.b64decode(e.payload["bytes"])) for e in events]
    assert {e.type for e in events} == {"chunk"}
    assert steady(json.dumps(chunks)) == steady(json.dumps(chunks_http))


def test_in_process_records_name_their_source(services: Services, tmp_path: Path) -> None:
    seen: list[Any] = []
    services.hooks.on_completion(seen.append)
    try:
        in_process(services, "CountTokens", {"modelId": NOVA, "input": {"converse": {"messages": QUESTION}}})
    finally:
        services.hooks.completion.remove(seen.append)
    (record,) = seen
    assert record.source == "test" and record.operation == "CountTokens" and record.input_tokens > 0
