"""InvokeModel and InvokeModelWithResponseStream with Anthropic Messages bodies, through boto3,
against the real server and model; then the pieces (grammar, parsers) in fast unit tests."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import Server

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
PROFILE = "us.anthropic.claude-3-haiku-20240307-v1:0"
SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
VERSION = "bedrock-2023-05-31"
MALFORMED_TAIL = ", please reformat your input and try again."
NOT_COMPLETIONS = '#: subject must not be valid against schema {"required":["messages"]}'

WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name", "maxLength": 40},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
        },
        "required": ["city", "days"],
    },
}
TIME = {
    "name": "get_time",
    "description": "Get the local time in a time zone.",
    "input_schema": {
        "type": "object",
        "properties": {"zone": {"type": "string", "maxLength": 40}},
        "required": ["zone"],
        "additionalProperties": False,
    },
}


def body(text: str = "What is the capital of France?", **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "anthropic_version": VERSION,
        "max_tokens": 40,
        "messages": [{"role": "user", "content": text}],
    }
    out.update(fields)
    return out


def invoke(runtime: Any, payload: Any, model: str = MODEL) -> tuple[dict[str, Any], dict[str, str]]:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    response = runtime.invoke_model(modelId=model, body=raw, contentType="application/json")
    return json.loads(response["body"].read()), response["ResponseMetadata"]["HTTPHeaders"]


def stream(runtime: Any, payload: dict[str, Any], model: str = MODEL) -> list[dict[str, Any]]:
    response = runtime.invoke_model_with_response_stream(modelId=model, body=json.dumps(payload))
    assert response["contentType"] == "application/json"
    return [json.loads(event["chunk"]["bytes"]) for event in response["body"]]


def error_of(
    runtime: Any, payload: Any, model: str = MODEL, *, streaming: bool = False
) -> tuple[str, int, str]:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    call = runtime.invoke_model_with_response_stream if streaming else runtime.invoke_model
    with pytest.raises(ClientError) as info:
        call(modelId=model, body=raw)
    err = info.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


def check_weather_input(data: dict[str, Any]) -> None:
    """The tool input follows WEATHER's schema (checked here by hand, independently of Outcrop)."""
    assert set(data) <= {"city", "unit", "days"}
    assert isinstance(data["city"], str)
    assert isinstance(data["days"], int) and not isinstance(data["days"], bool)
    assert 1 <= data["days"] <= 7
    assert data.get("unit", "celsius") in ("celsius", "fahrenheit")


# ---- answers ----------------------------------------------------------------------------------


def test_invoke_returns_an_anthropic_message_with_bedrock_headers(runtime: Any) -> None:
    message, headers = invoke(runtime, body(temperature=0))
    assert message["id"].startswith("msg_bdrk_")
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["model"] == "claude-3-haiku-20240307"
    assert message["content"][0]["type"] == "text" and message["content"][0]["text"].strip()
    assert message["stop_reason"] in ("end_turn", "max_tokens")
    assert message["stop_sequence"] is None
    usage = message["usage"]
    assert usage["cache_creation_input_tokens"] == usage["cache_read_input_tokens"] == 0
    assert usage["input_tokens"] > 5 and 0 < usage["output_tokens"] <= 40
    assert headers["content-type"] == "application/json"
    assert int(headers["x-amzn-bedrock-input-token-count"]) == usage["input_tokens"]
    assert int(headers["x-amzn-bedrock-output-token-count"]) == usage["output_tokens"]
    assert int(headers["x-amzn-bedrock-invocation-latency"]) >= 0


def test_every_anthropic_model_and_profile_answers(runtime: Any, bedrock: Any) -> None:
    models = [m["modelId"] for m in bedrock.list_foundation_models(byProvider="anthropic")["modelSummaries"]]
    profiles = bedrock.list_inference_profiles(maxResults=1000)["inferenceProfileSummaries"]
    ids = models + [p["inferenceProfileId"] for p in profiles if ".anthropic." in p["inferenceProfileId"]]
    ids += [p["inferenceProfileArn"] for p in profiles if ".anthropic." in p["inferenceProfileId"]][:3]
    assert len(models) >= 10 and len(ids) > len(models)
    for model_id in ids:
        message, _ = invoke(runtime, body("Hi", max_tokens=1), model=model_id)
        assert message["usage"]["output_tokens"] == 1, model_id
        assert message["stop_reason"] == "max_tokens", model_id


def test_sampling_parameters_are_accepted(runtime: Any) -> None:
    # Not asserted: identical output for identical requests at temperature 0. The engine's prompt
    # cache changes llama.cpp's numerics (a fully cached prompt vs a partly cached one), so
    # greedy decoding can differ between the first and later identical requests.
    for fields in ({"temperature": 0}, {"top_k": 1, "top_p": 0.5}, {"temperature": 1.0, "top_k": 0}):
        out, _ = invoke(runtime, body("Name three colours.", max_tokens=8, **fields))
        assert out["usage"]["output_tokens"] >= 1


def test_max_tokens_stop_reason(runtime: Any) -> None:
    message, _ = invoke(runtime, body("Write a long story about a dragon.", max_tokens=5))
    assert message["stop_reason"] == "max_tokens"
    assert message["usage"]["output_tokens"] == 5


def test_stop_sequence_is_reported(runtime: Any) -> None:
    baseline, _ = invoke(runtime, body("Count from 1 to 10.", temperature=0, max_tokens=60))
    text = baseline["content"][0]["text"]
    stop = text[4:6]
    message, _ = invoke(
        runtime, body("Count from 1 to 10.", temperature=0, max_tokens=60, stop_sequences=[stop])
    )
    assert message["stop_reason"] == "stop_sequence"
    assert message["stop_sequence"] == stop
    cut = message["content"][0]["text"] if message["content"] else ""
    assert stop not in cut and text.startswith(cut)


def test_system_as_string_and_as_blocks_are_the_same_prompt(runtime: Any) -> None:
    plain, _ = invoke(runtime, body("Hi", max_tokens=1))
    as_text, _ = invoke(runtime, body("Hi", max_tokens=1, system="You are a pirate."))
    as_blocks, _ = invoke(
        runtime,
        body(
            "Hi",
            max_tokens=1,
            system=[{"type": "text", "text": "You are a pirate.", "cache_control": {"type": "ephemeral"}}],
        ),
    )

    def billed(usage: dict[str, int]) -> int:  # cache_control moves prefix tokens to the cache fields
        return usage["input_tokens"] + usage["cache_creation_input_tokens"] + usage["cache_read_input_tokens"]

    assert billed(as_text["usage"]) == billed(as_blocks["usage"])
    assert billed(as_text["usage"]) != billed(plain["usage"])


def test_everything_claude_clients_send_is_accepted(runtime: Any) -> None:
    remember = [{"role": "user", "content": [{"type": "text", "text": "Remember the word cactus."}]}]
    first, _ = invoke(
        runtime, body(max_tokens=1030, thinking={"type": "enabled", "budget_tokens": 1024}, messages=remember)
    )
    thought = next(b for b in first["content"] if b["type"] == "thinking")  # signed by the server
    png = base64.b64encode(
        bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")
    ).decode()
    payload = body(
        max_tokens=1100,
        stop_sequences=["\n"],
        anthropic_beta=["context-1m-2025-08-07", "interleaved-thinking-2025-05-14", "claude-code-20250219"],
        thinking={"type": "enabled", "budget_tokens": 1024},
        metadata={"user_id": "user-123"},
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "Remember the word cactus."}]},
            {
                "role": "assistant",
                "content": [
                    thought,
                    {"type": "redacted_thinking", "data": "cmVkYWN0ZWQ="},
                    {"type": "text", "text": "I will remember it."},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
                    {
                        "type": "document",
                        "source": {
                            "type": "text",
                            "media_type": "text/plain",
                            "data": "Cacti live in deserts.",
                        },
                        "title": "Notes",
                    },
                    {"type": "text", "text": "What word?", "cache_control": {"type": "ephemeral"}},
                ],
            },
        ],
    )
    message, _ = invoke(runtime, payload)
    assert message["stop_reason"] in ("end_turn", "max_tokens", "stop_sequence")
    assert all(block["type"] in ("text", "thinking") for block in message["content"])


def test_text_documents_are_read_by_the_model(runtime: Any) -> None:
    short, _ = invoke(runtime, body("Summarise.", max_tokens=1))
    doc = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "word " * 200}}
    content = [doc, {"type": "text", "text": "Summarise."}]
    long, _ = invoke(runtime, body(max_tokens=1, messages=[{"role": "user", "content": content}]))
    assert long["usage"]["input_tokens"] > short["usage"]["input_tokens"] + 150


def test_assistant_prefill_is_continued(runtime: Any) -> None:
    message, _ = invoke(
        runtime,
        body(
            max_tokens=10,
            temperature=0,
            messages=[
                {"role": "user", "content": "What is the capital of France?"},
                {"role": "assistant", "content": "The capital of France is"},
            ],
        ),
    )
    assert message["content"][0]["text"].strip()


# ---- streaming --------------------------------------------------------------------------------


def test_stream_events_in_anthropic_order_with_bedrock_metrics(runtime: Any) -> None:
    events = stream(runtime, body("Tell me about the sea.", max_tokens=30))
    types = [e["type"] for e in events]
    assert types[:2] == ["message_start", "content_block_start"]
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(types[2:-3]) == {"content_block_delta"}
    assert len(types) - 5 >= 3, "text arrives token by token"
    start = events[0]["message"]
    assert start["id"].startswith("msg_bdrk_") and start["content"] == [] and start["stop_reason"] is None
    assert start["model"] == "claude-3-haiku-20240307"
    assert events[1] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert text.strip()
    delta = events[-2]
    assert delta["delta"]["stop_reason"] in ("end_turn", "max_tokens")
    metrics = events[-1]["amazon-bedrock-invocationMetrics"]
    assert metrics["inputTokenCount"] == start["usage"]["input_tokens"]
    assert metrics["outputTokenCount"] == delta["usage"]["output_tokens"] <= 30
    assert metrics["invocationLatency"] >= metrics["firstByteLatency"] >= 0


def test_stream_and_invoke_bill_the_same_input(runtime: Any) -> None:
    payload = body("Hello there, how are you?", max_tokens=2, system="Be brief.")
    message, _ = invoke(runtime, payload)
    events = stream(runtime, payload, model=PROFILE)
    assert events[0]["message"]["usage"]["input_tokens"] == message["usage"]["input_tokens"]


def test_stream_frames_are_bedrock_chunks(server: Server) -> None:
    """The raw wire: application/vnd.amazon.eventstream, `chunk` events with base64 `bytes`."""
    import urllib.request

    from botocore.eventstream import EventStreamBuffer

    request = urllib.request.Request(
        f"{server.url}/model/{MODEL}/invoke-with-response-stream",
        data=json.dumps(body("Hi", max_tokens=3)).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        assert response.headers["content-type"] == "application/vnd.amazon.eventstream"
        assert response.headers["x-amzn-bedrock-content-type"] == "application/json"
        buffer = EventStreamBuffer()
        buffer.add_data(response.read())
    frames = list(buffer)
    assert frames
    for frame in frames:
        assert frame.headers[":event-type"] == "chunk"
        assert frame.headers[":message-type"] == "event"
        payload = json.loads(frame.payload)
        assert json.loads(base64.b64decode(payload["bytes"]))["type"]


# ---- tools ------------------------------------------------------------------------------------


def tool_body(choice: dict[str, Any] | None, *tools: dict[str, Any], **fields: Any) -> dict[str, Any]:
    payload = body("What is the weather in Paris for the next 3 days?", max_tokens=200, tools=list(tools))
    payload.update(fields)
    if choice is not None:
        payload["tool_choice"] = choice
    return payload


@pytest.mark.parametrize("max_tokens", [1, 4, 8])
def test_forced_call_cut_off_before_its_name_is_a_plain_max_tokens_answer(
    runtime: Any, max_tokens: int
) -> None:
    """Cut off before the tool's name was written: no call to return, and no 500."""
    message, _ = invoke(runtime, tool_body({"type": "any"}, WEATHER, TIME, max_tokens=max_tokens))
    assert message["stop_reason"] == "max_tokens"
    assert all(b["type"] == "tool_use" for b in message["content"])
    events = stream(runtime, tool_body({"type": "any"}, WEATHER, TIME, max_tokens=max_tokens))
    assert events[-2]["delta"]["stop_reason"] == "max_tokens"


@pytest.mark.parametrize("max_tokens", [14, 20])
def test_forced_call_cut_off_by_max_tokens_is_returned_as_far_as_it_went(
    runtime: Any, max_tokens: int
) -> None:
    """Once a 500 (IndexError): the cut-off call stays in the message, its input parsed so far."""
    message, _ = invoke(runtime, tool_body({"type": "any"}, WEATHER, max_tokens=max_tokens, temperature=0))
    assert message["stop_reason"] == "max_tokens"
    (use,) = message["content"]
    assert use["type"] == "tool_use" and use["name"] == "get_weather" and use["id"].startswith("toolu_bdrk_")
    assert isinstance(use["input"], dict) and set(use["input"]) <= {"city", "unit", "days"}
    events = stream(runtime, tool_body({"type": "any"}, WEATHER, max_tokens=max_tokens, temperature=0))
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["message_start", "content_block_start"] and kinds[-2:] == [
        "message_delta",
        "message_stop",
    ]
    assert events[1]["content_block"]["type"] == "tool_use" and "content_block_stop" in kinds
    assert events[-2]["delta"]["stop_reason"] == "max_tokens"
    streamed = "".join(
        e["delta"].get("partial_json", "") for e in events if e["type"] == "content_block_delta"
    )
    assert streamed and not streamed.rstrip().endswith("}"), "the input JSON stops where the model did"


def test_tool_choice_any_returns_a_schema_valid_call(runtime: Any) -> None:
    message, _ = invoke(runtime, tool_body({"type": "any"}, WEATHER))
    assert message["stop_reason"] == "tool_use"
    (use,) = [b for b in message["content"] if b["type"] == "tool_use"]
    assert use["id"].startswith("toolu_bdrk_") and use["name"] == "get_weather"
    check_weather_input(use["input"])


def test_tool_choice_tool_picks_the_named_tool(runtime: Any) -> None:
    message, _ = invoke(runtime, tool_body({"type": "tool", "name": "get_time"}, WEATHER, TIME))
    assert message["stop_reason"] == "tool_use"
    (use,) = [b for b in message["content"] if b["type"] == "tool_use"]
    assert use["name"] == "get_time"
    assert set(use["input"]) == {"zone"} and isinstance(use["input"]["zone"], str)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_tool_choice_auto_gives_text_or_a_valid_call(runtime: Any, temperature: float) -> None:
    message, _ = invoke(runtime, tool_body({"type": "auto"}, WEATHER, temperature=temperature))
    uses = [b for b in message["content"] if b["type"] == "tool_use"]
    if uses:
        assert message["stop_reason"] == "tool_use"
        check_weather_input(uses[0]["input"])
    else:
        assert message["stop_reason"] in ("end_turn", "max_tokens")
        assert message["content"] and message["content"][0]["type"] == "text"


def test_tool_choice_none_answers_in_text(runtime: Any) -> None:
    message, _ = invoke(runtime, tool_body({"type": "none"}, WEATHER))
    assert all(b["type"] == "text" for b in message["content"])
    assert message["stop_reason"] in ("end_turn", "max_tokens")


def test_tool_result_round_trip(runtime: Any) -> None:
    first, _ = invoke(runtime, tool_body({"type": "any"}, WEATHER))
    use = next(b for b in first["content"] if b["type"] == "tool_use")
    history = [
        {"role": "user", "content": "What is the weather in Paris for the next 3 days?"},
        {"role": "assistant", "content": first["content"]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use["id"], "content": "Sunny, 24 degrees."}],
        },
    ]
    second, _ = invoke(
        runtime, body(max_tokens=40, tools=[WEATHER], tool_choice={"type": "none"}, messages=history)
    )
    assert second["content"][0]["type"] == "text" and second["content"][0]["text"].strip()
    error_result = [
        {"type": "tool_result", "tool_use_id": use["id"], "content": "City not found", "is_error": True}
    ]
    history[2] = {"role": "user", "content": error_result}
    third, _ = invoke(runtime, body(max_tokens=5, tools=[WEATHER], messages=history))
    assert third["stop_reason"] in ("end_turn", "max_tokens", "tool_use")


def test_streamed_tool_call_arrives_as_input_json_deltas(runtime: Any) -> None:
    events = stream(runtime, tool_body({"type": "any"}, WEATHER))
    starts = [e for e in events if e["type"] == "content_block_start"]
    assert len(starts) == 1
    block = starts[0]["content_block"]
    assert block["type"] == "tool_use" and block["name"] == "get_weather" and block["input"] == {}
    parts = [
        e["delta"]["partial_json"]
        for e in events
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta"
    ]
    assert len([p for p in parts if p]) >= 2, "the arguments stream as they are generated"
    check_weather_input(json.loads("".join(parts)))
    assert events[-2]["delta"]["stop_reason"] == "tool_use"


# ---- Claude Code sized requests, context fitting, CountTokens ---------------------------------


def claude_code_like_body() -> dict[str, Any]:
    """The shape of Claude Code's first request: ~90 KB, 28K-char system prompt, 24 tools, thinking."""
    paragraph = "You are an agent that helps with software engineering tasks. Follow the instructions. " * 4
    tools = []
    for i in range(24):
        tools.append(
            {
                "name": f"Tool{i}",
                "description": f"Tool number {i} does one thing well. " + "It has a long manual. " * 80,
                "input_schema": {
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "object",
                    "properties": {
                        "path": {"type": "string", "description": "A path"},
                        "limit": {"type": "integer", "exclusiveMinimum": 0, "maximum": 100},
                        "mode": {"type": "string", "enum": ["a", "b"]},
                        "notes": {"type": "string", "maxLength": 100000},
                    },
                    "required": ["path"],
                    "additionalProperties": False,
                },
            }
        )
    tools.append({"name": "DeferredToolPlaceholder", "description": "Deferred.", "defer_loading": True})
    reminders = [
        {"type": "text", "text": f"<system-reminder>\n{paragraph * 3}\n</system-reminder>"} for _ in range(8)
    ]
    return {
        "anthropic_version": VERSION,
        "anthropic_beta": ["interleaved-thinking-2025-05-14", "tool-search-tool-2025-10-19"],
        "max_tokens": 32000,
        "thinking": {"type": "enabled", "budget_tokens": 31999},
        "system": [
            {
                "type": "text",
                "text": "x-anthropic-billing-header: cc_version=2.1.330; cc_entrypoint=sdk-cli;",
            },
            {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": paragraph * 82, "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    *reminders,
                    {"type": "text", "text": "Say hi.", "cache_control": {"type": "ephemeral"}},
                ],
            }
        ],
        "tools": tools,
        "metadata": {"user_id": json.dumps({"device_id": "abc", "session_id": "s"})},
    }


def test_claude_code_sized_request_is_fitted_not_refused(runtime: Any) -> None:
    payload = claude_code_like_body()
    assert len(json.dumps(payload)) > 80_000
    # Claude Code's own max_tokens 32000 / thinking budget 31999 let the 135M model think until its
    # window is full (minutes on one thread); capped as docs/anthropic.md tells Claude Code users to.
    payload = dict(payload, max_tokens=1100, thinking={"type": "enabled", "budget_tokens": 1024})
    events = stream(runtime, payload, model=SONNET)
    start = events[0]["message"]
    usage = start["usage"]
    billed = usage["input_tokens"] + usage["cache_creation_input_tokens"] + usage["cache_read_input_tokens"]
    assert billed > 8192  # billed as sent (~22K tokens), though the served model read a fitted prompt
    assert events[-1]["type"] == "message_stop"
    message, headers = invoke(runtime, payload, model=SONNET)
    read, sent = headers["x-outcrop-context-fit"].split(" tokens read")[0].split(" of ")
    assert 500 < int(read) <= 2048 and int(sent) == billed
    assert message["usage"]["input_tokens"] == start["usage"]["input_tokens"]


def test_only_more_than_the_models_own_window_is_too_long(raw_runtime: Any) -> None:
    """Claude 3 Haiku reads 200K tokens on Bedrock: more is refused, with AWS's message."""
    code, status, message = error_of(raw_runtime, body("word " * 201_000, max_tokens=5))
    assert (code, status, message) == ("ValidationException", 400, "Input is too long for requested model.")
    code, status, _ = error_of(raw_runtime, body("word " * 201_000, max_tokens=5), streaming=True)
    assert (code, status) == ("ValidationException", 400)


def test_count_tokens_matches_what_invoke_bills(runtime: Any) -> None:
    # max_tokens 1 and no thinking, so that invoking is quick: the prompt does not depend on them.
    quick = {"max_tokens": 1, "thinking": {"type": "disabled"}}
    for payload, model in (
        (body("How many tokens is this?", system="Be brief.", **quick), MODEL),
        (tool_body({"type": "any"}, WEATHER, **quick), MODEL),
        ({**claude_code_like_body(), **quick}, SONNET),
    ):
        raw = json.dumps(payload).encode()
        counted = runtime.count_tokens(modelId=model, input={"invokeModel": {"body": raw}})["inputTokens"]
        _, headers = invoke(runtime, payload, model=model)
        assert counted == int(headers["x-amzn-bedrock-input-token-count"]) > 0


def test_count_tokens_refuses_a_bad_body(raw_runtime: Any) -> None:
    with pytest.raises(ClientError) as info:
        raw_runtime.count_tokens(modelId=MODEL, input={"invokeModel": {"body": b'{"max_tokens": 1}'}})
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert "required key [messages] not found" in info.value.response["Error"]["Message"]


# ---- bad input, case by case ------------------------------------------------------------------


def malformed(*violations: str) -> str:
    return "Malformed input request: " + "".join(violations) + MALFORMED_TAIL


def test_body_that_is_not_json(raw_runtime: Any) -> None:
    for raw in (b"not json", b"{", b"", b"\xff\xfe"):
        code, status, message = error_of(raw_runtime, raw)
        assert (code, status) == ("ValidationException", 400), raw
        assert message == "Malformed input request, please reformat your input and try again.", raw


def test_body_that_is_not_an_object(raw_runtime: Any) -> None:
    assert error_of(raw_runtime, [1, 2]) == (
        "ValidationException",
        400,
        malformed("#: expected type: JSONObject, found: JSONArray"),
    )


def test_wrong_anthropic_version(raw_runtime: Any) -> None:
    code, status, message = error_of(raw_runtime, body(anthropic_version="claude-3-sonnet-20240229-v1:0"))
    assert (code, status, message) == (
        "ValidationException",
        400,
        "Invalid API version: claude-3-sonnet-20240229-v1:0",
    )
    assert error_of(raw_runtime, body(anthropic_version="bedrock-2024-01-01"))[2] == (
        "Invalid API version: bedrock-2024-01-01"
    )
    # The anthropic SDK 2.x sends its first-party API version from AnthropicBedrock: accepted.
    message, _ = invoke(raw_runtime, body(anthropic_version="2026-10-21", max_tokens=1))
    assert message["usage"]["output_tokens"] == 1


def test_missing_max_tokens(raw_runtime: Any) -> None:
    payload = body()
    del payload["max_tokens"]
    assert error_of(raw_runtime, payload) == (
        "ValidationException",
        400,
        malformed(NOT_COMPLETIONS, "#: required key [max_tokens] not found"),
    )


def test_several_violations_are_concatenated(raw_runtime: Any) -> None:
    """A Converse-shaped body sent to InvokeModel: AWS lists every problem in one message."""
    payload = {
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "inferenceConfig": {"maxTokens": 5},
    }
    code, _, message = error_of(raw_runtime, payload)
    assert code == "ValidationException"
    assert message == malformed(
        NOT_COMPLETIONS,
        "#: required key [max_tokens] not found",
        "#: required key [anthropic_version] not found",
        "#: extraneous key [inferenceConfig] is not permitted",
        "#/messages/0/content/0: required key [type] not found",
    )


def test_missing_messages_and_text_completions(raw_runtime: Any) -> None:
    payload = body()
    del payload["messages"]
    assert error_of(raw_runtime, payload)[2] == malformed("#: required key [messages] not found")
    legacy = {
        "anthropic_version": VERSION,
        "prompt": "\n\nHuman: hi\n\nAssistant:",
        "max_tokens_to_sample": 5,
    }
    assert error_of(raw_runtime, legacy) == (
        "ValidationException",
        400,
        '"claude-3-haiku-20240307" is not supported on this API. Please use the Messages API instead.',
    )


@pytest.mark.parametrize(
    ("fields", "violation"),
    [
        ({"stream": True}, "#: extraneous key [stream] is not permitted"),
        ({"max_tokens": "40"}, "#/max_tokens: expected type: Integer, found: String"),
        ({"max_tokens": 0}, "#/max_tokens: 0 is not greater or equal to 1"),
        ({"temperature": 1.5}, "#/temperature: 1.5 is not less or equal to 1"),
        ({"top_p": -0.5}, "#/top_p: -0.5 is not greater or equal to 0"),
        ({"top_k": 1.5}, "#/top_k: expected type: Integer, found: BigDecimal"),
        ({"stop_sequences": "END"}, "#/stop_sequences: expected type: JSONArray, found: String"),
        ({"system": 7}, "#/system: expected type: JSONArray, found: Integer"),
        (
            {"messages": [{"role": "robot", "content": "hi"}]},
            "#/messages/0/role: robot is not a valid enum value",
        ),
        ({"messages": [{"role": "user"}]}, "#/messages/0: required key [content] not found"),
        (
            {"messages": [{"role": "user", "content": [{"type": "video", "url": "x"}]}]},
            "#/messages/0/content/0/type: video is not a valid enum value",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "text"}]}]},
            "#/messages/0/content/0: required key [text] not found",
        ),
        ({"thinking": {"type": "sometimes"}}, "#/thinking/type: sometimes is not a valid enum value"),
        ({"tool_choice": {"type": "maybe"}}, "#/tool_choice/type: maybe is not a valid enum value"),
        ({"tools": [{"name": "t"}]}, "#/tools/0: required key [input_schema] not found"),
        (
            {"anthropic_beta": "context-1m-2025-08-07"},
            "#/anthropic_beta: expected type: JSONArray, found: String",
        ),
        ({"metadata": {"user_id": 5}}, "#/metadata/user_id: expected type: String, found: Integer"),
    ],
)
def test_schema_violations(raw_runtime: Any, fields: dict[str, Any], violation: str) -> None:
    assert error_of(raw_runtime, body(**fields)) == (
        "ValidationException",
        400,
        malformed(NOT_COMPLETIONS, violation),
    )


@pytest.mark.parametrize(
    ("fields", "model", "expected"),
    [
        (
            {"thinking": {"type": "enabled", "budget_tokens": 500}, "max_tokens": 2000},
            MODEL,
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
        ),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 2000}, "max_tokens": 2000},
            MODEL,
            "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at "
            "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size",
        ),
        (
            {"max_tokens": 5000},
            MODEL,
            "max_tokens: 5000 > 4096, which is the maximum allowed number of output tokens for claude-3-haiku-20240307",
        ),
        (
            {"temperature": 0.5, "top_p": 0.5},
            SONNET,
            "`temperature` and `top_p` cannot both be specified for this model. Please use only one.",
        ),
        (
            {"messages": [{"role": "user", "content": ""}]},
            MODEL,
            "messages: text content blocks must be non-empty",
        ),
        (
            {"messages": [{"role": "user", "content": "   "}]},
            MODEL,
            "messages: text content blocks must contain non-whitespace text",
        ),
        (
            {"messages": [{"role": "user", "content": []}]},
            MODEL,
            "messages.0: all messages must have non-empty content except for the optional final assistant message",
        ),
        (
            {"tools": [WEATHER], "tool_choice": {"type": "tool", "name": "nope"}},
            MODEL,
            "tool_choice.name: Tool 'nope' not found in the provided tools.",
        ),
        ({"tools": [WEATHER, WEATHER]}, MODEL, "tools: Tool names must be unique."),
    ],
)
def test_model_rules(raw_runtime: Any, fields: dict[str, Any], model: str, expected: str) -> None:
    assert error_of(raw_runtime, body(**fields), model=model) == ("ValidationException", 400, expected)


def test_tool_use_and_tool_result_must_pair(raw_runtime: Any) -> None:
    use = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris", "days": 1}}
    unanswered = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [use]},
        {"role": "user", "content": "well?"},
    ]
    assert error_of(raw_runtime, body(tools=[WEATHER], messages=unanswered))[2] == (
        "messages.2: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_1. Each "
        "`tool_use` block must have a corresponding `tool_result` block in the next message."
    )
    orphan = [
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "x"}]}
    ]
    assert error_of(raw_runtime, body(tools=[WEATHER], messages=orphan))[2] == (
        "messages.0.content.0: unexpected `tool_use_id` found in `tool_result` blocks: toolu_9. Each "
        "`tool_result` block must have a corresponding `tool_use` block in the previous message."
    )


def test_unknown_model_and_other_providers(raw_runtime: Any) -> None:
    assert error_of(raw_runtime, body(), model="anthropic.claude-nope-v9:0") == (
        "ValidationException",
        400,
        "The provided model identifier is invalid.",
    )
    # An Anthropic body sent to another provider's model is that family's business; never a 500.
    try:
        invoke(raw_runtime, body(), model="amazon.titan-embed-text-v2:0")
    except ClientError as exc:
        status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
        assert status < 500 or status == 501, exc.response["Error"]


def test_stream_errors_are_plain_http_errors(raw_runtime: Any) -> None:
    payload = body()
    del payload["max_tokens"]
    assert error_of(raw_runtime, payload, streaming=True) == (
        "ValidationException",
        400,
        malformed(NOT_COMPLETIONS, "#: required key [max_tokens] not found"),
    )
    assert error_of(raw_runtime, b"nope", streaming=True)[1] == 400


WEIRD_BODIES: list[Any] = [
    None,
    "text",
    3,
    {},
    {"anthropic_version": None},
    {"anthropic_version": 5, "max_tokens": [], "messages": {}},
    body(messages=[None, 3, "x", []]),
    body(messages=[{"role": "user", "content": [None, 1, "x", {"type": None}, {"type": {}}]}]),
    body(messages=[{"role": "user", "content": [{"type": "image", "source": "x"}]}]),
    body(messages=[{"role": "user", "content": [{"type": "image", "source": {"data": 5}}]}]),
    body(
        messages=[
            {"role": "user", "content": [{"type": "document", "source": {"type": "content", "content": 5}}]}
        ]
    ),
    body(messages=[{"role": "user", "content": [{"type": "tool_result", "tool_use_id": 5}]}]),
    body(
        tools=[{"name": "t", "input_schema": {"type": "object", "properties": {"a": {"$ref": "#/nowhere"}}}}]
    ),
    body(
        tools=[{"name": "t", "input_schema": {"type": "wat", "properties": []}}], tool_choice={"type": "any"}
    ),
    body(tools=[{"name": 5, "input_schema": {}}]),
    body(tools=[None]),
    body(tool_choice={"type": "tool"}),
    body(thinking={"type": "enabled"}),
    body(thinking={"type": "enabled", "budget_tokens": "lots"}),
    body(system=[{"type": "text", "text": None}]),
    body(system=[None]),
    body(stop_sequences=[1, None]),
    body(metadata="x"),
    body(max_tokens=10**30),
    body(temperature=1e308),
]


@pytest.mark.parametrize("payload", WEIRD_BODIES, ids=range(len(WEIRD_BODIES)))
def test_no_bad_body_is_a_server_error(raw_runtime: Any, payload: Any) -> None:
    try:
        message, _ = invoke(raw_runtime, payload)
    except ClientError as exc:
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] < 500, exc.response["Error"]
    else:
        assert message["type"] == "message"


# ---- the pieces, without a server -------------------------------------------------------------


def test_claude_code_tool_schemas_make_a_small_grammar_that_compiles() -> None:
    from llama_cpp.llama_grammar import LlamaGrammar

    from outcrop.constrained.tool_calls import ToolSpec, call_grammar

    tools = claude_code_like_body()["tools"][:24]
    specs = [ToolSpec(t["name"], t["description"], t["input_schema"]) for t in tools]
    grammar = call_grammar(specs)
    assert len(grammar) < 50_000
    assert LlamaGrammar.from_string(grammar, verbose=False)
    assert "Tool23" in grammar and r"\x00-\x1F" in grammar


def test_schema_repair_and_check() -> None:
    from outcrop.constrained.schema_check import problems, repair

    schema = WEATHER["input_schema"]
    fixed = repair(schema, {"city": "Paris", "days": 12})
    assert fixed == {"city": "Paris", "days": 7} and problems(schema, fixed) == []
    assert problems(schema, {"days": 0, "unit": "kelvin", "extra": True}) == [
        "/: missing required property 'city'",
        "/days: less than 1",
        "/unit: not one of ['celsius', 'fahrenheit']",
    ]
    assert problems(TIME["input_schema"], {"zone": "UTC", "x": 1}) == ["/: property 'x' is not allowed"]
    assert repair({"type": "string", "maxLength": 3}, "abcdef") == "abc"


def test_call_stream_splits_name_and_arguments() -> None:
    from outcrop.constrained.tool_calls import CallStream, ToolSpec, parse_call

    text = '{"name": "get_weather", "arguments": {"city": "Paris", "days": 2} }</tool_call>'
    stream_ = CallStream()
    names, parts = [], []
    for i in range(0, len(text), 3):
        name, args = stream_.feed(text[i : i + 3])
        names += [name] if name else []
        parts.append(args)
    parts.append(stream_.finish())
    assert names == ["get_weather"]
    assert json.loads("".join(parts)) == {"city": "Paris", "days": 2}
    spec = ToolSpec("get_weather", "", WEATHER["input_schema"])
    call = parse_call(text, [spec])
    assert call is not None and call.input == {"city": "Paris", "days": 2} and call.problems == []
    assert parse_call('{"name": "get_weather", "arguments": {"ci', [spec]) is None


def test_reasoning_split_from_think_tags() -> None:
    from outcrop.conversation import ReasoningDelta, TextDelta
    from outcrop.invocation.answer import _ThinkSplitter

    splitter = _ThinkSplitter()
    out = []
    for piece in ["<th", "ink>Let me ", "think.</th", "ink>\n\nThe answer", " is 4."]:
        out += splitter.feed(piece)
    out += splitter.flush()
    assert "".join(e.text for e in out if isinstance(e, ReasoningDelta)) == "Let me think."
    assert "".join(e.text for e in out if isinstance(e, TextDelta)) == "The answer is 4."
    plain = _ThinkSplitter()
    assert [e.text for e in plain.feed("Hello") + plain.flush()] == ["Hello"]


def test_renderer_emits_thinking_with_a_signature() -> None:
    from outcrop.conversation import Finished, ReasoningDelta, TextDelta
    from outcrop.formats.anthropic import MessageRenderer

    renderer = MessageRenderer("msg_bdrk_01x", "claude-3-haiku-20240307")
    events = renderer.feed(ReasoningDelta("hmm")) + renderer.feed(TextDelta("Hi"))
    events += renderer.finish(Finished("end_turn", 3, 2), {"inputTokenCount": 3})
    types = [(e["type"], e.get("delta", {}).get("type")) for e in events]
    assert types == [
        ("content_block_start", None),
        ("content_block_delta", "thinking_delta"),
        ("content_block_delta", "signature_delta"),
        ("content_block_stop", None),
        ("content_block_start", None),
        ("content_block_delta", "text_delta"),
        ("content_block_stop", None),
        ("message_delta", None),
        ("message_stop", None),
    ]
    message = renderer.body(Finished("end_turn", 3, 2), {"inputTokenCount": 3})
    assert message["content"][0]["type"] == "thinking" and message["content"][0]["signature"]
    assert message["content"][1] == {"type": "text", "text": "Hi"}


def run_answer(model: Any, tool_choice: dict[str, Any]) -> list[Any]:
    """The answer planner over the scripted model (tests/scripted_model.py, a double for the weights)."""
    import asyncio

    from outcrop.conversation import Conversation, InferenceParams, Message
    from outcrop.invocation.answer import Answer

    spec = {"toolSpec": {"name": "get_weather", "inputSchema": {"json": WEATHER["input_schema"]}}}
    conversation = Conversation(
        messages=[Message("user", [{"text": "weather in Paris?"}])],
        tool_config={"tools": [spec], "toolChoice": tool_choice},
        params=InferenceParams(max_tokens=100),
    )
    answer = Answer(model, conversation, new_tool_use_id=lambda: "toolu_1")

    async def collect() -> list[Any]:
        answer.start(await answer.prompt())
        return [event async for event in answer.events()]

    return asyncio.run(collect())


def test_auto_mode_continues_an_opened_call_under_the_grammar() -> None:
    from outcrop.conversation import Finished, TextDelta, ToolInputDelta, ToolUseEnd, ToolUseStart
    from scripted_model import Script, ScriptedModel

    call = '{"name": "get_weather", "arguments": {"city": "Paris", "days": 9}}</tool_call>'
    engine = ScriptedModel(
        scripts=[
            Script(["Let me ", "check."], "stop_sequence", "<tool_call>"),
            Script([call[i : i + 5] for i in range(0, len(call), 5)], "end_turn", None),
        ]
    )
    events = run_answer(engine, {"auto": {}})
    grammars = [p.grammar for p in engine.params]
    assert grammars[0] is None, "free text runs without a grammar"
    assert grammars[1] is not None and "get_weather" in grammars[1]
    assert engine.prompts[1].rstrip().endswith("Let me check.<tool_call>"), "the call continues the text"
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Let me check."
    assert [e.name for e in events if isinstance(e, ToolUseStart)] == ["get_weather"]
    args = "".join(e.json for e in events if isinstance(e, ToolInputDelta))
    assert json.loads(args) == {"city": "Paris", "days": 9}
    (end,) = [e for e in events if isinstance(e, ToolUseEnd)]
    assert end.call is not None and end.call.input == {"city": "Paris", "days": 7}, "bounds are clamped"
    done = events[-1]
    assert isinstance(done, Finished) and done.stop_reason == "tool_use" and done.output_tokens == 2 + 16


def test_auto_mode_without_a_call_is_plain_text() -> None:
    from outcrop.conversation import Finished
    from scripted_model import Script, ScriptedModel

    engine = ScriptedModel(scripts=[Script(["Sunny."], "end_turn", None)])
    events = run_answer(engine, {"auto": {}})
    assert isinstance(events[-1], Finished) and events[-1].stop_reason == "end_turn"
    assert len(engine.params) == 1


def test_a_call_cut_off_by_max_tokens_is_not_returned() -> None:
    from outcrop.conversation import Finished, ToolUseEnd
    from scripted_model import Script, ScriptedModel

    engine = ScriptedModel(
        scripts=[Script(['{"name": "get_weather", "arguments": {"ci'], "max_tokens", None)]
    )
    events = run_answer(engine, {"any": {}})
    assert engine.prompts[0].rstrip().endswith("<tool_call>"), "forced calls are prefilled"
    (end,) = [e for e in events if isinstance(e, ToolUseEnd)]
    assert end.call is None
    assert isinstance(events[-1], Finished) and events[-1].stop_reason == "max_tokens"


def test_cache_control_reports_creation_then_reads(runtime: Any) -> None:
    """cache_control marks a prefix; usage says what the engine computed, then reused."""
    system = [
        {
            "type": "text",
            "text": "You answer questions about a library. " * 40,
            "cache_control": {"type": "ephemeral"},
        }
    ]

    def usage_for(question: str) -> dict[str, int]:
        body = {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 3,
            "system": system,
            "messages": [{"role": "user", "content": question}],
        }
        response = runtime.invoke_model(
            modelId="anthropic.claude-3-haiku-20240307-v1:0", body=json.dumps(body)
        )
        return dict(json.loads(response["body"].read())["usage"])

    first = usage_for("When do you open?")
    second = usage_for("Where are you?")
    assert first["cache_creation_input_tokens"] > 200
    assert (
        second["cache_read_input_tokens"]
        == first["cache_creation_input_tokens"] + first["cache_read_input_tokens"]
    )
    assert second["cache_creation_input_tokens"] == 0
    assert second["input_tokens"] > 0
