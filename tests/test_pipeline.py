"""The invocation pipeline in-process, without HTTP and without a model loaded: the engine is the
scripted test double (tests/scripted_model.py); the pipeline, codecs, planner and hooks are real."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest

from outcrop.auth import Identity
from outcrop.catalog import Catalog
from outcrop.config import Settings
from outcrop.engines.errors import EngineBusy, EngineFailed
from outcrop.invocation import AccessRequest, AdmissionRequest, Answered, InvocationRecord, Streamed
from outcrop.protocol.errors import (
    AccessDeniedException,
    ModelErrorException,
    ModelNotReadyException,
    SerializationException,
    ServiceUnavailableException,
    ThrottlingException,
    ValidationException,
)
from outcrop.services import Services
from outcrop.store.guardrails import open_store
from scripted_model import Script, ScriptedModel

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
WHO = Identity("sigv4", "AKIDPIPELINE")
WEATHER_SPEC = {
    "toolSpec": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {"city": {"type": "string", "maxLength": 40}},
                "required": ["city"],
            }
        },
    }
}


def services(tmp_path: Path, model: ScriptedModel | None = None) -> tuple[Services, ScriptedModel]:
    settings = Settings(state_dir=str(tmp_path / "state"))
    engine = model or ScriptedModel()
    return Services(settings, Catalog(settings.region, settings.account_id), {engine.name: engine}), engine


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def records_of(svc: Services) -> list[InvocationRecord]:
    seen: list[InvocationRecord] = []
    svc.hooks.on_completion(seen.append)
    return seen


def converse(text: str, **more: Any) -> dict[str, Any]:
    return {"modelId": CLAUDE, "messages": [{"role": "user", "content": [{"text": text}]}], **more}


def claude_body(text: str, **more: Any) -> bytes:
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": text}],
    }
    return json.dumps({**body, **more}).encode()


async def drain(streamed: Streamed) -> list[Any]:
    return [event async for event in streamed.events]


def test_converse_in_process_answers_and_records_once(tmp_path: Path) -> None:
    svc, _ = services(tmp_path)
    seen = records_of(svc)
    answer = run(svc.pipeline.call("Converse", converse("Hi there"), WHO))
    assert isinstance(answer, Answered)
    assert answer.data["output"]["message"]["content"] == [{"text": "Hello there."}]
    assert answer.data["stopReason"] == "end_turn"
    assert ("x-outcrop-served-model", "smollm2-135m") in answer.headers
    (record,) = seen
    assert (record.operation, record.identity, record.model_id, record.resolved_model_id) == (
        "Converse", WHO, CLAUDE, CLAUDE,
    )  # fmt: skip
    assert record.served_model == "smollm2-135m" and record.source == "in-process"
    assert record.input_tokens == answer.data["usage"]["inputTokens"] > 0
    assert record.output_tokens == 2 and record.stop_reason == "end_turn" and record.error_code is None
    assert (
        record.response == answer.data and record.request["messages"][0]["content"][0]["text"] == "Hi there"
    )


def test_in_process_calls_are_validated_like_http(tmp_path: Path) -> None:
    svc, _ = services(tmp_path)
    with pytest.raises(SerializationException) as caught:
        run(svc.pipeline.call("Converse", {"modelId": CLAUDE, "messages": "nope"}, WHO))
    assert caught.value.message == "Unexpected a string at 'messages': expected a value of type list"
    with pytest.raises(ValidationException) as invalid:
        run(
            svc.pipeline.call(
                "Converse", {"modelId": CLAUDE, "messages": [], "inferenceConfig": {"maxTokens": 0}}, WHO
            )
        )
    assert "inferenceConfig.maxTokens" in invalid.value.message


def test_invoke_model_body_and_headers(tmp_path: Path) -> None:
    svc, _ = services(tmp_path)
    answer = run(svc.pipeline.call("InvokeModel", {"modelId": CLAUDE, "body": claude_body("Hi")}, WHO))
    assert isinstance(answer, Answered)
    message = json.loads(answer.data["body"])
    assert (
        message["content"] == [{"type": "text", "text": "Hello there."}]
        and message["stop_reason"] == "end_turn"
    )
    headers = dict(answer.headers)
    assert headers["x-amzn-bedrock-input-token-count"] == str(message["usage"]["input_tokens"])
    assert headers["x-amzn-bedrock-output-token-count"] == "2"


def test_streams_record_once_when_they_end_and_when_the_caller_leaves(tmp_path: Path) -> None:
    svc, _ = services(tmp_path, ScriptedModel(scripts=[Script(["a", "b", "c"])]))
    seen = records_of(svc)
    streamed = run(svc.pipeline.call("ConverseStream", converse("Hi"), WHO))
    events = run(drain(streamed))
    assert [e.type for e in events] == [
        "messageStart", "contentBlockDelta", "contentBlockDelta", "contentBlockDelta",
        "contentBlockStop", "messageStop", "metadata",
    ]  # fmt: skip
    assert len(seen) == 1 and seen[0].output_tokens == 3 and not seen[0].cancelled
    assert seen[0].response[-1]["metadata"]["usage"]["outputTokens"] == 3

    async def leave_early() -> None:
        streamed = await svc.pipeline.call(
            "InvokeModelWithResponseStream", {"modelId": CLAUDE, "body": claude_body("x")}, WHO
        )
        stream = streamed.events
        first = await anext(stream)
        assert (
            first.type == "chunk"
            and json.loads(base64.b64decode(first.payload["bytes"]))["type"] == "message_start"
        )
        await stream.aclose()  # type: ignore[attr-defined]

    run(leave_early())
    assert len(seen) == 2 and seen[1].cancelled and seen[1].operation == "InvokeModelWithResponseStream"


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (
            CLAUDE,
            {
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "Count me"}],
            },
        ),
        ("amazon.nova-lite-v1:0", {"messages": [{"role": "user", "content": [{"text": "Count me"}]}]}),
        ("meta.llama3-8b-instruct-v1:0", {"prompt": "Count me please"}),
        ("mistral.mistral-7b-instruct-v0:2", {"prompt": "<s>[INST] Count me [/INST]"}),
        ("cohere.command-r-v1:0", {"message": "Count me"}),
        ("amazon.titan-text-express-v1", {"inputText": "Count me"}),
        ("ai21.jamba-1-5-mini-v1:0", {"messages": [{"role": "user", "content": "Count me"}]}),
        ("deepseek.r1-v1:0", {"prompt": "Count me"}),
        ("openai.gpt-oss-20b-1:0", {"messages": [{"role": "user", "content": "Count me"}]}),
        (
            "amazon.nova-lite-v1:0",
            {
                "messages": [{"role": "user", "content": [{"text": "Weather?"}]}],
                "toolConfig": {"tools": [WEATHER_SPEC], "toolChoice": {"any": {}}},
            },
        ),
    ],
)
def test_count_tokens_equals_what_invoke_bills(tmp_path: Path, model: str, body: dict[str, Any]) -> None:
    svc, _ = services(tmp_path)
    raw = json.dumps(body).encode()
    counted = run(
        svc.pipeline.call("CountTokens", {"modelId": model, "input": {"invokeModel": {"body": raw}}}, WHO)
    )
    answer = run(svc.pipeline.call("InvokeModel", {"modelId": model, "body": raw}, WHO))
    assert counted.data["inputTokens"] == int(dict(answer.headers)["x-amzn-bedrock-input-token-count"]) > 0


@pytest.mark.parametrize("choice", [None, {"auto": {}}, {"any": {}}, {"tool": {"name": "get_weather"}}])
def test_converse_count_tokens_equals_billing_for_every_tool_choice(tmp_path: Path, choice: Any) -> None:
    call = '{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
    svc, _ = services(tmp_path, ScriptedModel(scripts=[Script([call], "end_turn")]))
    tools: dict[str, Any] = {"tools": [WEATHER_SPEC]}
    if choice:
        tools["toolChoice"] = choice
    request = converse("Weather in Paris?", toolConfig=tools)
    counted = run(
        svc.pipeline.call(
            "CountTokens",
            {"modelId": CLAUDE, "input": {"converse": {k: v for k, v in request.items() if k != "modelId"}}},
            WHO,
        )
    )
    answer = run(svc.pipeline.call("Converse", request, WHO))
    assert counted.data["inputTokens"] == answer.data["usage"]["inputTokens"]
    if choice and ("any" in choice or "tool" in choice):
        assert answer.data["stopReason"] == "tool_use"


def test_a_request_too_big_for_the_served_model_is_fitted_and_billed_as_sent(tmp_path: Path) -> None:
    svc, model = services(tmp_path, ScriptedModel(context_length=1000, fit_tokens=400))
    text = "START " + "filler " * 3000 + "FINISH"
    answer = run(svc.pipeline.call("Converse", converse(text, inferenceConfig={"maxTokens": 20}), WHO))
    headers = dict(answer.headers)
    read, sent = headers["x-outcrop-context-fit"].split(" tokens read")[0].split(" of ")
    assert int(read) <= 400 < 3000 < int(sent) == answer.data["usage"]["inputTokens"]
    assert "START" in model.prompts[0] and "FINISH" in model.prompts[0] and "[…]" in model.prompts[0]


def test_only_more_than_the_bedrock_window_is_refused(tmp_path: Path) -> None:
    svc, _ = services(tmp_path, ScriptedModel(context_length=1000))
    titan = "amazon.titan-text-lite-v1"  # a 4K window on Bedrock
    window = svc.catalog.resolve(titan).context_window
    assert window == 4096
    too_long = {"modelId": titan, "body": json.dumps({"inputText": "word " * 5000}).encode()}
    with pytest.raises(ValidationException) as caught:
        run(svc.pipeline.call("InvokeModel", too_long, WHO))
    assert caught.value.message == "Input is too long for requested model."
    fits = {"modelId": titan, "body": json.dumps({"inputText": "word " * 3000}).encode()}
    answer = run(svc.pipeline.call("InvokeModel", fits, WHO))
    assert "x-outcrop-context-fit" in dict(answer.headers)


def test_a_served_window_big_enough_means_no_fitting(tmp_path: Path) -> None:
    svc, model = services(tmp_path, ScriptedModel(context_length=100_000, fit_tokens=None))
    text = "word " * 9000
    answer = run(svc.pipeline.call("Converse", converse(text), WHO))
    assert "x-outcrop-context-fit" not in dict(answer.headers)
    assert model.prompts[0].count("word") == 9000


def test_hooks_see_access_and_admission_with_billed_tokens(tmp_path: Path) -> None:
    svc, _ = services(tmp_path)
    seen = records_of(svc)
    asked: list[AccessRequest] = []
    admitted: list[AdmissionRequest] = []

    async def access(request: AccessRequest) -> None:
        asked.append(request)
        if request.operation == "ConverseStream":
            raise AccessDeniedException("You don't have access to the model with the specified model ID.")

    async def admission(request: AdmissionRequest) -> None:
        admitted.append(request)

    svc.hooks.access.append(access)
    svc.hooks.admission.append(admission)
    profile = "us.anthropic.claude-3-haiku-20240307-v1:0"
    answer = run(
        svc.pipeline.call("Converse", converse("Hi", modelId=profile, inferenceConfig={"maxTokens": 9}), WHO)
    )
    assert asked[0].action == "bedrock:InvokeModel"
    assert asked[0].resources[0].endswith(":inference-profile/" + profile)
    assert asked[0].resources[1].endswith(":foundation-model/" + CLAUDE)
    assert admitted[0].input_tokens == answer.data["usage"]["inputTokens"] and admitted[0].max_tokens == 9
    with pytest.raises(AccessDeniedException):
        run(svc.pipeline.call("ConverseStream", converse("Hi"), WHO))
    assert asked[1].action == "bedrock:InvokeModelWithResponseStream"
    assert seen[-1].error_code == "AccessDeniedException" and len(seen) == 2


def test_engine_errors_become_aws_errors(tmp_path: Path) -> None:
    svc, model = services(tmp_path)
    seen = records_of(svc)
    model.fail_with = EngineBusy("Too many requests, please wait before trying again.")
    with pytest.raises(ThrottlingException):
        run(svc.pipeline.call("Converse", converse("Hi"), WHO))
    model.fail_with = EngineFailed("The model failed to generate (decode error).")
    with pytest.raises(ModelErrorException):
        run(svc.pipeline.call("InvokeModel", {"modelId": CLAUDE, "body": claude_body("x")}, WHO))
    assert [r.error_code for r in seen] == ["ThrottlingException", "ModelErrorException"]


def test_a_loading_model_is_model_not_ready_where_the_service_model_says_so(tmp_path: Path) -> None:
    """ModelNotReadyException (429, retried by the SDKs) for the four invocation operations; CountTokens,
    whose service model does not list it, gets ServiceUnavailableException."""
    svc, model = services(tmp_path)
    seen = records_of(svc)
    model.loading = True
    with pytest.raises(ModelNotReadyException) as not_ready:
        run(svc.pipeline.call("Converse", converse("Hi"), WHO))
    assert not_ready.value.status == 429
    assert not_ready.value.message.startswith("The model specified in the request is not ready to serve")
    with pytest.raises(ModelNotReadyException):
        run(svc.pipeline.call("InvokeModel", {"modelId": CLAUDE, "body": claude_body("x")}, WHO))
    request = {"converse": {"messages": [{"role": "user", "content": [{"text": "Hi"}]}]}}
    with pytest.raises(ServiceUnavailableException):
        run(svc.pipeline.call("CountTokens", {"modelId": CLAUDE, "input": request}, WHO))
    assert [r.error_code for r in seen] == [
        "ModelNotReadyException", "ModelNotReadyException", "ServiceUnavailableException",
    ]  # fmt: skip


def test_every_family_renders_body_and_stream(tmp_path: Path) -> None:
    bodies = {
        "amazon.nova-lite-v1:0": {"messages": [{"role": "user", "content": [{"text": "Hi"}]}]},
        "meta.llama3-8b-instruct-v1:0": {"prompt": "Hi"},
        "mistral.mistral-7b-instruct-v0:2": {"prompt": "<s>[INST] Hi [/INST]"},
        "mistral.mistral-large-2407-v1:0": {"messages": [{"role": "user", "content": "Hi"}]},
        "cohere.command-r-v1:0": {"message": "Hi"},
        "amazon.titan-text-express-v1": {"inputText": "Hi"},
        "ai21.jamba-1-5-mini-v1:0": {"messages": [{"role": "user", "content": "Hi"}]},
        "deepseek.r1-v1:0": {"prompt": "Hi"},
        "openai.gpt-oss-20b-1:0": {"messages": [{"role": "user", "content": "Hi"}]},
        CLAUDE: {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": "Hi"}],
        },
    }
    svc, _ = services(tmp_path)
    for model, body in bodies.items():
        raw = json.dumps(body).encode()
        answer = run(svc.pipeline.call("InvokeModel", {"modelId": model, "body": raw}, WHO))
        assert "Hello there." in answer.data["body"].decode(), model
        streamed = run(
            svc.pipeline.call("InvokeModelWithResponseStream", {"modelId": model, "body": raw}, WHO)
        )
        chunks = [json.loads(base64.b64decode(e.payload["bytes"])) for e in run(drain(streamed))]
        assert "amazon-bedrock-invocationMetrics" in json.dumps(chunks[-1]), model
        assert "Hello" in json.dumps(chunks), model


# ---- guardrails, choices, and one record however an invocation ends ------------------------------


def word_guardrail(svc: Services, word: str, *, output: bool = True) -> str:
    """A guardrail that blocks ``word`` (stored directly: the control plane is tested over HTTP)."""
    document = {
        "wordPolicy": {"words": [{"text": word, "outputEnabled": output}]},
        "blockedInputMessaging": "IN BLOCKED",
        "blockedOutputsMessaging": "OUT BLOCKED",
    }
    guardrail_id = "pipelinetest" + word[:1]
    open_store(svc.settings.state_dir).create(guardrail_id, f"g-{word}", document, [])
    return guardrail_id


def chat_body(text: str, **more: Any) -> bytes:
    return json.dumps({"messages": [{"role": "user", "content": text}], **more}).encode()


GPT = "openai.gpt-oss-20b-1:0"


def test_blocked_input_with_several_choices_is_one_blocked_answer(tmp_path: Path) -> None:
    svc, model = services(tmp_path)
    seen = records_of(svc)
    gid = word_guardrail(svc, "cactus")
    params = {
        "modelId": GPT,
        "body": chat_body("my cactus", n=2),
        "guardrailIdentifier": gid,
        "guardrailVersion": "DRAFT",
    }
    answer = run(svc.pipeline.call("InvokeModel", params, WHO))
    body = json.loads(answer.data["body"])
    assert [c["message"]["content"] for c in body["choices"]] == ["IN BLOCKED"]
    assert body["amazon-bedrock-guardrailAction"] == "INTERVENED" and model.prompts == []
    assert seen[-1].guardrail_action == "INTERVENED" and seen[-1].error_code is None


def test_a_guardrail_over_several_choices_reports_every_choice(tmp_path: Path) -> None:
    svc, _ = services(
        tmp_path, ScriptedModel(scripts=[Script(["A fine answer."]), Script(["A cactus answer."])])
    )
    gid = word_guardrail(svc, "cactus")
    params = {
        "modelId": GPT,
        "body": chat_body("hello", n=2),
        "guardrailIdentifier": gid,
        "guardrailVersion": "DRAFT",
        "trace": "ENABLED",
    }
    answer = run(svc.pipeline.call("InvokeModel", params, WHO))
    body = json.loads(answer.data["body"])
    assert [c["message"]["content"] for c in body["choices"]] == ["A fine answer.", "OUT BLOCKED"]
    assert body["amazon-bedrock-guardrailAction"] == "INTERVENED"
    assert dict(answer.headers)["x-amzn-bedrock-guardrailaction"] == "INTERVENED"
    assert len(body["amazon-bedrock-trace"]["guardrail"]["outputs"]) == 2


def test_an_unexpected_failure_is_recorded(tmp_path: Path) -> None:
    svc, model = services(tmp_path)
    seen = records_of(svc)

    def broken(prompt: Any) -> None:
        raise RuntimeError("a bug")

    model.on_submit = broken
    with pytest.raises(RuntimeError):
        run(svc.pipeline.call("Converse", converse("Hi"), WHO))
    assert [r.error_code for r in seen] == ["InternalServerException"]


def test_a_stream_closed_unread_is_cancelled_and_recorded(tmp_path: Path) -> None:
    svc, _ = services(tmp_path)
    seen = records_of(svc)

    async def abandon() -> None:
        streamed = await svc.pipeline.call("ConverseStream", converse("Hi"), WHO)
        await streamed.events.aclose()  # type: ignore[attr-defined]

    run(abandon())
    assert len(seen) == 1 and seen[0].cancelled


def test_a_stream_read_to_its_last_event_is_complete(tmp_path: Path) -> None:
    svc, _ = services(tmp_path, ScriptedModel(scripts=[Script(["a", "b"])]))
    seen = records_of(svc)

    async def read_until_metadata() -> None:
        streamed = await svc.pipeline.call("ConverseStream", converse("Hi"), WHO)
        async for event in streamed.events:
            if event.type == "metadata":
                break
        await streamed.events.aclose()  # type: ignore[attr-defined]

    run(read_until_metadata())
    (record,) = seen
    assert not record.cancelled and record.output_tokens == 2 and record.stop_reason == "end_turn"


def test_converse_stream_starts_before_the_engine_answers(tmp_path: Path) -> None:
    svc, _ = services(tmp_path)

    async def first_event() -> str:
        streamed = await svc.pipeline.call("ConverseStream", converse("Hi"), WHO)
        first = await anext(streamed.events)  # type: ignore[call-overload]
        await streamed.events.aclose()  # type: ignore[attr-defined]
        return str(first.type)

    assert run(first_event()) == "messageStart"


def test_only_runtime_operations_run(tmp_path: Path) -> None:
    svc, _ = services(tmp_path)
    with pytest.raises(ValueError, match="ApplyGuardrail"):
        run(svc.pipeline.call("ApplyGuardrail", {}, WHO))


def test_the_model_reads_masked_input(tmp_path: Path) -> None:
    svc, model = services(tmp_path)
    document = {
        "sensitiveInformationPolicy": {"piiEntities": [{"type": "EMAIL", "action": "ANONYMIZE"}]},
        "blockedInputMessaging": "IN BLOCKED",
        "blockedOutputsMessaging": "OUT BLOCKED",
    }
    open_store(svc.settings.state_dir).create("pipelinemask", "mask", document, [])
    config = {"guardrailIdentifier": "pipelinemask", "guardrailVersion": "DRAFT"}
    answer = run(
        svc.pipeline.call("Converse", converse("Mail jane.doe@example.com now.", guardrailConfig=config), WHO)
    )
    assert "{EMAIL}" in model.prompts[0] and "jane.doe" not in model.prompts[0]
    counted = run(
        svc.pipeline.call(
            "CountTokens",
            {
                "modelId": CLAUDE,
                "input": {"converse": {"messages": converse("Mail jane.doe@example.com now.")["messages"]}},
            },
            WHO,
        )
    )
    assert answer.data["usage"]["inputTokens"] == counted.data["inputTokens"], "billed as sent"


def test_invoke_model_output_is_grounded_on_the_tagged_source(tmp_path: Path) -> None:
    """The grounding-source and query tags of an InvokeModel prompt feed contextual grounding of the
    output (the real MiniLM scores it), as they do for Converse's qualifiers."""
    svc, _ = services(tmp_path, ScriptedModel(scripts=[Script(["Bananas are purple and live on the moon."])]))
    document = {
        "contextualGroundingPolicy": {"filters": [{"type": "GROUNDING", "threshold": 0.9}]},
        "blockedInputMessaging": "IN BLOCKED",
        "blockedOutputsMessaging": "OUT BLOCKED",
    }
    open_store(svc.settings.state_dir).create("pipelineground", "ground", document, [])
    source = "<amazon-bedrock-guardrails-groundingSource_xyz>The library opens at nine and closes at five.</amazon-bedrock-guardrails-groundingSource_xyz>"
    body = json.loads(claude_body(f"{source} When does the library open?"))
    body["amazon-bedrock-guardrailConfig"] = {"tagSuffix": "xyz"}
    params = {
        "modelId": CLAUDE,
        "body": json.dumps(body).encode(),
        "guardrailIdentifier": "pipelineground",
        "guardrailVersion": "DRAFT",
        "trace": "ENABLED",
    }
    message = json.loads(run(svc.pipeline.call("InvokeModel", params, WHO)).data["body"])
    assert message["content"] == [{"type": "text", "text": "OUT BLOCKED"}]
    (output,) = message["amazon-bedrock-trace"]["guardrail"]["outputs"]
    (scored,) = output["pipelineground"]["contextualGroundingPolicy"]["filters"]
    assert scored["type"] == "GROUNDING" and scored["detected"] and scored["score"] < 0.9
