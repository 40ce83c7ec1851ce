"""Converse, ConverseStream and CountTokens through boto3 against the real server and model."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import user

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
PROFILE = "us.anthropic.claude-3-haiku-20240307-v1:0"


def converse(runtime: Any, text: str, **kwargs: Any) -> dict[str, Any]:
    return dict(runtime.converse(modelId=kwargs.pop("modelId", MODEL), messages=[user(text)], **kwargs))


def test_converse_returns_real_text_usage_and_metrics(runtime: Any) -> None:
    out = converse(
        runtime, "What is the capital of France?", inferenceConfig={"maxTokens": 40, "temperature": 0}
    )
    message = out["output"]["message"]
    assert message["role"] == "assistant"
    text = message["content"][0]["text"]
    assert len(text.strip()) > 0
    assert out["stopReason"] in ("end_turn", "max_tokens")
    usage = out["usage"]
    assert usage["inputTokens"] > 5
    assert 0 < usage["outputTokens"] <= 40
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert out["metrics"]["latencyMs"] >= 0
    headers = out["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-requestid"]
    assert headers["x-outcrop-served-model"] == "smollm2-135m"


def test_max_tokens_stop_reason(runtime: Any) -> None:
    out = converse(runtime, "Write a long story about a dragon.", inferenceConfig={"maxTokens": 5})
    assert out["stopReason"] == "max_tokens"
    assert out["usage"]["outputTokens"] == 5


def test_stop_sequence_cuts_text_and_is_reported(runtime: Any) -> None:
    baseline = converse(runtime, "Count from 1 to 10.", inferenceConfig={"maxTokens": 60, "temperature": 0})
    text = baseline["output"]["message"]["content"][0]["text"]
    assert len(text) > 6
    stop = text[4:6]
    out = converse(
        runtime,
        "Count from 1 to 10.",
        inferenceConfig={"maxTokens": 60, "temperature": 0, "stopSequences": [stop]},
    )
    assert out["stopReason"] == "stop_sequence"
    cut = out["output"]["message"]["content"][0]["text"] if out["output"]["message"]["content"] else ""
    assert stop not in cut
    assert text.startswith(cut)


def test_system_prompt_changes_the_prompt_tokens(runtime: Any) -> None:
    plain = converse(runtime, "Hi", inferenceConfig={"maxTokens": 1})
    with_system = converse(
        runtime,
        "Hi",
        system=[{"text": "You are a pirate. Answer like a pirate."}],
        inferenceConfig={"maxTokens": 1},
    )
    assert with_system["usage"]["inputTokens"] != plain["usage"]["inputTokens"]


def test_top_k_via_additional_fields(runtime: Any) -> None:
    out = converse(
        runtime, "Say hello.", inferenceConfig={"maxTokens": 8}, additionalModelRequestFields={"top_k": 1}
    )
    assert out["usage"]["outputTokens"] >= 1


def test_profile_id_and_arn_resolve(runtime: Any) -> None:
    for model_id in (PROFILE, f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/{PROFILE}"):
        out = converse(runtime, "Hi", modelId=model_id, inferenceConfig={"maxTokens": 3})
        assert out["usage"]["outputTokens"] >= 1


def test_multi_turn_conversation(runtime: Any) -> None:
    out = runtime.converse(
        modelId=MODEL,
        messages=[
            user("My name is Ada."),
            {"role": "assistant", "content": [{"text": "Nice to meet you, Ada."}]},
            user("What is my name?"),
        ],
        inferenceConfig={"maxTokens": 20, "temperature": 0},
    )
    assert out["usage"]["inputTokens"] > 20


def test_converse_stream_events_in_aws_order(runtime: Any) -> None:
    response = runtime.converse_stream(
        modelId=MODEL, messages=[user("Tell me about the sea.")], inferenceConfig={"maxTokens": 30}
    )
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/vnd.amazon.eventstream"
    names: list[str] = []
    text = ""
    metadata: dict[str, Any] = {}
    stop = ""
    for event in response["stream"]:
        ((name, body),) = event.items()
        names.append(name)
        if name == "contentBlockDelta":
            assert body["contentBlockIndex"] == 0
            text += body["delta"]["text"]
        elif name == "messageStop":
            stop = body["stopReason"]
        elif name == "metadata":
            metadata = body
    assert names[0] == "messageStart"
    assert names[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    assert set(names[1:-3]) == {"contentBlockDelta"}
    assert len(names) - 4 >= 2, "text arrives in several deltas"
    assert stop in ("end_turn", "max_tokens")
    assert text.strip()
    assert metadata["usage"]["outputTokens"] <= 30
    assert (
        metadata["usage"]["totalTokens"]
        == metadata["usage"]["inputTokens"] + metadata["usage"]["outputTokens"]
    )
    assert metadata["metrics"]["latencyMs"] >= 0


def test_converse_stream_deltas_arrive_as_generated(runtime: Any) -> None:
    """The first delta reaches the client long before the last one: tokens are not buffered."""
    started = time.perf_counter()
    response = runtime.converse_stream(
        modelId=MODEL,
        messages=[user("Write a long poem about mountains.")],
        inferenceConfig={"maxTokens": 120, "temperature": 0},  # sampled, a poem was once 19 tokens
    )
    stamps = []
    for event in response["stream"]:
        if "contentBlockDelta" in event:
            stamps.append(time.perf_counter() - started)
    assert len(stamps) >= 20
    assert stamps[-1] - stamps[0] > 0.2, "deltas were not spread over the generation"


def test_stream_and_non_stream_count_the_same_input(runtime: Any) -> None:
    messages = [user("Hello there, how are you?")]
    plain = runtime.converse(modelId=MODEL, messages=messages, inferenceConfig={"maxTokens": 2})
    stream = runtime.converse_stream(modelId=MODEL, messages=messages, inferenceConfig={"maxTokens": 2})
    usage = next(e["metadata"]["usage"] for e in stream["stream"] if "metadata" in e)
    assert usage["inputTokens"] == plain["usage"]["inputTokens"]


def test_count_tokens_matches_converse_billing(runtime: Any) -> None:
    request = {
        "messages": [user("How many tokens is this?")],
        "system": [{"text": "Be brief."}],
    }
    counted = runtime.count_tokens(modelId=MODEL, input={"converse": request})["inputTokens"]
    billed = runtime.converse(modelId=MODEL, inferenceConfig={"maxTokens": 1}, **request)["usage"][
        "inputTokens"
    ]
    assert counted == billed > 0


# ---- bad input, case by case ------------------------------------------------------------------


def error_of(call: Any, **kwargs: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    err = info.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


def test_two_user_turns_in_a_row(raw_runtime: Any) -> None:
    code, status, message = error_of(raw_runtime.converse, modelId=MODEL, messages=[user("a"), user("b")])
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith("A conversation must alternate between user and assistant roles.")


def test_conversation_starting_with_assistant(raw_runtime: Any) -> None:
    code, status, message = error_of(
        raw_runtime.converse, modelId=MODEL, messages=[{"role": "assistant", "content": [{"text": "hi"}]}]
    )
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith("A conversation must start with a user message.")


def test_missing_messages(raw_runtime: Any) -> None:
    code, status, message = error_of(raw_runtime.converse, modelId=MODEL)
    assert (code, status) == ("ValidationException", 400)
    assert "must start with a user message" in message


def test_empty_content(raw_runtime: Any) -> None:
    code, status, message = error_of(
        raw_runtime.converse, modelId=MODEL, messages=[{"role": "user", "content": []}]
    )
    assert (code, status) == ("ValidationException", 400)
    assert message == (
        "The content field in the Message object at messages.0 is empty. Add a ContentBlock object to the "
        "content field and try again."
    )


def test_blank_text(raw_runtime: Any) -> None:
    code, _, message = error_of(raw_runtime.converse, modelId=MODEL, messages=[user("  ")])
    assert code == "ValidationException"
    assert "messages.0.content.0 is blank" in message


def test_max_tokens_zero(raw_runtime: Any) -> None:
    code, status, message = error_of(
        raw_runtime.converse, modelId=MODEL, messages=[user("hi")], inferenceConfig={"maxTokens": 0}
    )
    assert (code, status) == ("ValidationException", 400)
    assert message == (
        "1 validation error detected: Value '0' at 'inferenceConfig.maxTokens' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    )


def test_max_tokens_over_the_models_output_limit(raw_runtime: Any) -> None:
    """Claude 3 Haiku answers at most 4,096 tokens on Bedrock; more is refused up front, in
    Bedrock's words, for the model id and its profiles alike."""
    for model in ("anthropic.claude-3-haiku-20240307-v1:0", "us.anthropic.claude-3-haiku-20240307-v1:0"):
        code, status, message = error_of(
            raw_runtime.converse, modelId=model, messages=[user("hi")], inferenceConfig={"maxTokens": 100_000}
        )
        assert (code, status) == ("ValidationException", 400)
        assert message == (
            "The maximum tokens you requested exceeds the model limit of 4096. Try again with a maximum "
            "tokens value that is lower than 4096."
        )


def test_temperature_and_top_p_out_of_range_reported_together(raw_runtime: Any) -> None:
    code, _, message = error_of(
        raw_runtime.converse,
        modelId=MODEL,
        messages=[user("hi")],
        inferenceConfig={"temperature": 99.0, "topP": 1.5},
    )
    assert code == "ValidationException"
    assert message.startswith("2 validation errors detected: ")
    assert (
        "Value '99.0' at 'inferenceConfig.temperature' failed to satisfy constraint: Member must have value less than or equal to 1"
        in message
    )
    assert "'inferenceConfig.topP'" in message


def test_invalid_role_enum(raw_runtime: Any) -> None:
    code, _, message = error_of(
        raw_runtime.converse, modelId=MODEL, messages=[{"role": "robot", "content": [{"text": "x"}]}]
    )
    assert code == "ValidationException"
    assert (
        "at 'messages.1.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant, system]"
        in message
    )


def test_unknown_model(raw_runtime: Any) -> None:
    code, status, message = error_of(
        raw_runtime.converse, modelId="anthropic.claude-nope-v9:0", messages=[user("hi")]
    )
    assert (code, status, message) == (
        "ValidationException",
        400,
        "The provided model identifier is invalid.",
    )


def test_unknown_model_in_stream(raw_runtime: Any) -> None:
    code, status, message = error_of(
        raw_runtime.converse_stream, modelId="vendor.not-a-model-v1:0", messages=[user("hi")]
    )
    assert (code, status, message) == (
        "ValidationException",
        400,
        "The provided model identifier is invalid.",
    )


def test_embedding_model_refused_by_converse(raw_runtime: Any) -> None:
    code, _, message = error_of(
        raw_runtime.converse, modelId="amazon.titan-embed-text-v2:0", messages=[user("hi")]
    )
    assert code == "ValidationException"
    assert message == (
        "This action doesn't support the model that you provided. Try again with a supported text or chat model."
    )


def test_tool_blocks_without_tool_config(raw_runtime: Any) -> None:
    code, _, message = error_of(
        raw_runtime.converse,
        modelId=MODEL,
        messages=[
            user("weather?"),
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "w", "input": {}}}]},
            {
                "role": "user",
                "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "sunny"}]}}],
            },
        ],
    )
    assert code == "ValidationException"
    assert message == "The toolConfig field must be defined when using toolUse and toolResult content blocks."


def test_unknown_additional_field(raw_runtime: Any) -> None:
    code, _, message = error_of(
        raw_runtime.converse, modelId=MODEL, messages=[user("hi")], additionalModelRequestFields={"foo": 1}
    )
    assert code == "ValidationException"
    assert message == "The model returned the following errors: foo: Extra inputs are not permitted"


def test_input_too_long_is_the_bedrock_models_window(raw_runtime: Any, runtime: Any) -> None:
    """Refused only beyond the Bedrock model's own window (Titan Text Lite: 4K tokens); within it,
    a request larger than the served model's window is fitted and answered, billed as sent."""
    code, status, message = error_of(
        raw_runtime.converse,
        modelId="amazon.titan-text-lite-v1",
        messages=[user("word " * 5000)],
        inferenceConfig={"maxTokens": 5},
    )
    assert (code, status, message) == ("ValidationException", 400, "Input is too long for requested model.")
    response = runtime.converse(
        modelId=MODEL, messages=[user("word " * 9000)], inferenceConfig={"maxTokens": 5}
    )
    assert response["usage"]["inputTokens"] > 9000
    read, sent = (
        response["ResponseMetadata"]["HTTPHeaders"]["x-outcrop-context-fit"]
        .split(" tokens read")[0]
        .split(" of ")
    )
    assert int(read) <= 2048 and int(sent) == response["usage"]["inputTokens"]
