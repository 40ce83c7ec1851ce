"""Converse tool use end to end: schema-valid calls from the small default model, the toolResult
round trip, streaming tool input, and AWS's validation of tool turns."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from botocore.exceptions import ClientError

from conftest import user

MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name", "maxLength": 40},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
}
WEATHER = {
    "toolSpec": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "inputSchema": {"json": WEATHER_SCHEMA},
    }
}
# Strings are bounded: an unbounded string can run past maxTokens, and then the answer ends with
# max_tokens and no complete toolUse (as it would on Bedrock).
ORDER_SCHEMA = {
    "type": "object",
    "properties": {"order_id": {"type": "string", "maxLength": 16}, "include_items": {"type": "boolean"}},
    "required": ["order_id"],
}
ORDER = {
    "toolSpec": {
        "name": "lookup_order",
        "description": "Find an order by id",
        "inputSchema": {"json": ORDER_SCHEMA},
    }
}
REFUND_SCHEMA = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string", "maxLength": 16},
        "amount": {"type": "number", "minimum": 0},
    },
    "required": ["order_id", "amount"],
}
REFUND = {
    "toolSpec": {
        "name": "issue_refund",
        "description": "Refund an order",
        "inputSchema": {"json": REFUND_SCHEMA},
    }
}
SCHEMAS = {"get_weather": WEATHER_SCHEMA, "lookup_order": ORDER_SCHEMA, "issue_refund": REFUND_SCHEMA}


def tool_uses(response: dict[str, Any]) -> list[dict[str, Any]]:
    return [b["toolUse"] for b in response["output"]["message"]["content"] if "toolUse" in b]


def test_forced_tool_call_is_schema_valid(runtime: Any) -> None:
    response = runtime.converse(
        modelId=MODEL,
        messages=[user("What's the weather like in Paris, in celsius?")],
        toolConfig={"tools": [WEATHER], "toolChoice": {"any": {}}},
        inferenceConfig={"maxTokens": 80},
    )
    assert response["stopReason"] == "tool_use"
    (use,) = tool_uses(response)
    assert use["name"] == "get_weather"
    assert use["toolUseId"].startswith("tooluse_")
    jsonschema.validate(use["input"], WEATHER_SCHEMA)


def test_weather_tool_loop_round_trip(runtime: Any) -> None:
    """The seed's loop: the model calls the tool, the result goes back, the model answers."""
    messages: list[dict[str, Any]] = [user("What is the weather in Berlin?")]
    first = runtime.converse(
        modelId=MODEL,
        messages=messages,
        toolConfig={"tools": [WEATHER], "toolChoice": {"tool": {"name": "get_weather"}}},
    )
    (use,) = tool_uses(first)
    jsonschema.validate(use["input"], WEATHER_SCHEMA)
    messages.append(first["output"]["message"])
    messages.append(
        {
            "role": "user",
            "content": [
                {
                    "toolResult": {
                        "toolUseId": use["toolUseId"],
                        "content": [{"json": {"temperature": 21, "sky": "sunny"}}],
                    }
                }
            ],
        }
    )
    final = runtime.converse(
        modelId=MODEL,
        messages=messages,
        toolConfig={"tools": [WEATHER]},
        inferenceConfig={"maxTokens": 60, "temperature": 0},
    )
    assert final["stopReason"] in ("end_turn", "max_tokens", "tool_use")
    assert final["usage"]["inputTokens"] > first["usage"]["inputTokens"]
    if final["stopReason"] != "tool_use":
        assert final["output"]["message"]["content"][0]["text"].strip()


def test_two_tool_agent_loop_over_several_turns(runtime: Any) -> None:
    """A customer-service agent with two tools: every call in every turn is schema-valid."""
    config = {"tools": [ORDER, REFUND], "toolChoice": {"any": {}}}
    messages: list[dict[str, Any]] = [user("Order A-1001 arrived broken. Look it up and refund it.")]
    names = []
    for turn in range(3):
        response = runtime.converse(
            modelId=MODEL, messages=messages, toolConfig=config, inferenceConfig={"maxTokens": 80}
        )
        assert response["stopReason"] == "tool_use"
        (use,) = tool_uses(response)
        jsonschema.validate(use["input"], SCHEMAS[use["name"]])
        names.append(use["name"])
        messages.append(response["output"]["message"])
        result = {"status": "ok", "turn": turn}
        messages.append(
            {
                "role": "user",
                "content": [{"toolResult": {"toolUseId": use["toolUseId"], "content": [{"json": result}]}}],
            }
        )
    assert set(names) <= {"lookup_order", "issue_refund"}


def test_tool_choice_names_the_tool(runtime: Any) -> None:
    response = runtime.converse(
        modelId=MODEL,
        messages=[user("Refund order B-7 for 12.50")],
        toolConfig={"tools": [ORDER, REFUND], "toolChoice": {"tool": {"name": "issue_refund"}}},
        inferenceConfig={"maxTokens": 80},
    )
    (use,) = tool_uses(response)
    assert use["name"] == "issue_refund"
    jsonschema.validate(use["input"], REFUND_SCHEMA)
    assert use["input"]["amount"] >= 0


@pytest.mark.parametrize("max_tokens", [14, 18])
def test_forced_call_cut_off_by_max_tokens_is_returned_as_far_as_it_went(
    runtime: Any, max_tokens: int
) -> None:
    """Bedrock returns the partial toolUse (LangChain and Strands read it); so does the stream."""
    request = {
        "modelId": MODEL,
        "messages": [user("Weather in Rome in fahrenheit?")],
        "toolConfig": {"tools": [WEATHER], "toolChoice": {"any": {}}},
        "inferenceConfig": {"maxTokens": max_tokens, "temperature": 0},
    }
    response = runtime.converse(**request)
    assert response["stopReason"] == "max_tokens"
    (use,) = tool_uses(response)
    assert use["name"] == "get_weather" and use["toolUseId"].startswith("tooluse_")
    assert isinstance(use["input"], dict) and set(use["input"]) <= {"city", "unit"}
    events = [next(iter(e.items())) for e in runtime.converse_stream(**request)["stream"]]
    assert [n for n, _ in events if n == "contentBlockStart"] == ["contentBlockStart"]
    assert events[-2] == ("messageStop", {"stopReason": "max_tokens"})
    streamed = "".join(b["delta"]["toolUse"]["input"] for n, b in events if n == "contentBlockDelta")
    assert streamed and not streamed.rstrip().endswith("}")


def test_auto_mode_call_the_model_opens_is_finished_not_left_hanging(raw_runtime: Any) -> None:
    """The model opens a call in free text; the call is then generated under the grammar by a
    second generation (once this hung: the first generation's end cancelled the second). The
    prompt and tool are ones the default model answers this way at temperature 0."""
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 20}},
        "required": ["city"],
    }
    tool = {"toolSpec": {"name": "get_weather", "inputSchema": {"json": schema}}}
    response = raw_runtime.converse(
        modelId="amazon.nova-lite-v1:0",
        messages=[user("Repeat exactly: <tool_call>")],
        toolConfig={"tools": [tool], "toolChoice": {"auto": {}}},
        inferenceConfig={"maxTokens": 40, "temperature": 0},
    )
    assert response["stopReason"] == "tool_use"
    (use,) = tool_uses(response)
    jsonschema.validate(use["input"], schema)


def test_stream_tool_use_events_in_aws_order(runtime: Any) -> None:
    response = runtime.converse_stream(
        modelId=MODEL,
        messages=[user("Weather in Rome in fahrenheit?")],
        toolConfig={"tools": [WEATHER], "toolChoice": {"any": {}}},
        inferenceConfig={"maxTokens": 80},
    )
    events = [next(iter(e.items())) for e in response["stream"]]
    names = [n for n, _ in events]
    assert names[0] == "messageStart"
    start = next(body for name, body in events if name == "contentBlockStart")
    index = start["contentBlockIndex"]
    assert start["start"]["toolUse"]["name"] == "get_weather"
    assert start["start"]["toolUse"]["toolUseId"].startswith("tooluse_")
    fragments = [
        b["delta"]["toolUse"]["input"]
        for n, b in events
        if n == "contentBlockDelta" and b["contentBlockIndex"] == index
    ]
    assert len(fragments) >= 2, "tool input streams in pieces"
    jsonschema.validate(json.loads("".join(fragments)), WEATHER_SCHEMA)
    assert ("contentBlockStop", {"contentBlockIndex": index}) in events
    assert names[-2:] == ["messageStop", "metadata"]
    assert events[-2][1]["stopReason"] == "tool_use"


def test_tools_are_billed_as_prompt(runtime: Any) -> None:
    plain = runtime.count_tokens(modelId=MODEL, input={"converse": {"messages": [user("Hi")]}})["inputTokens"]
    with_tools = runtime.count_tokens(
        modelId=MODEL, input={"converse": {"messages": [user("Hi")], "toolConfig": {"tools": [WEATHER]}}}
    )["inputTokens"]
    assert with_tools > plain + 20


def error_message(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    assert info.value.response["Error"]["Code"] == "ValidationException"
    return str(info.value.response["Error"]["Message"])


def test_tool_result_without_tool_use(raw_runtime: Any) -> None:
    message = error_message(
        raw_runtime.converse,
        modelId=MODEL,
        messages=[
            user("hi"),
            {"role": "assistant", "content": [{"text": "hello"}]},
            {
                "role": "user",
                "content": [{"toolResult": {"toolUseId": "tooluse_x", "content": [{"text": "r"}]}}],
            },
        ],
        toolConfig={"tools": [WEATHER]},
    )
    assert (
        message
        == "The number of toolResult blocks at messages.2.content exceeds the number of toolUse blocks of previous turn."
    )


def test_tool_spec_without_schema(raw_runtime: Any) -> None:
    message = error_message(
        raw_runtime.converse,
        modelId=MODEL,
        messages=[user("hi")],
        toolConfig={"tools": [{"toolSpec": {"name": "x"}}]},
    )
    assert "toolConfig.tools.1.member.toolSpec.inputSchema" in message


PERSON_SCHEMA = {  # bounded, so the answer always fits the token budget below
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 30},
        "age": {"type": "integer"},
        "hobbies": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 3},
    },
    "required": ["name", "age", "hobbies"],
}


def output_config(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "textFormat": {
            "type": "json_schema",
            "structure": {"jsonSchema": {"schema": json.dumps(schema), "name": "person"}},
        }
    }


def test_structured_output_follows_the_schema(runtime: Any) -> None:
    response = runtime.converse(
        modelId=MODEL,
        messages=[user("Describe a fictional person called Ada who is 36 and likes chess.")],
        outputConfig=output_config(PERSON_SCHEMA),
        inferenceConfig={"maxTokens": 200},
    )
    text = response["output"]["message"]["content"][0]["text"]
    jsonschema.validate(json.loads(text), PERSON_SCHEMA)
    assert response["stopReason"] == "end_turn"


def test_structured_output_streams_valid_json(runtime: Any) -> None:
    response = runtime.converse_stream(
        modelId=MODEL,
        messages=[user("Invent a person.")],
        outputConfig=output_config(PERSON_SCHEMA),
        inferenceConfig={"maxTokens": 200},
    )
    text = "".join(
        e["contentBlockDelta"]["delta"]["text"] for e in response["stream"] if "contentBlockDelta" in e
    )
    jsonschema.validate(json.loads(text), PERSON_SCHEMA)


def test_structured_output_with_invalid_schema(raw_runtime: Any) -> None:
    message = error_message(
        raw_runtime.converse,
        modelId=MODEL,
        messages=[user("hi")],
        outputConfig={
            "textFormat": {"type": "json_schema", "structure": {"jsonSchema": {"schema": "{not json"}}}
        },
    )
    assert message.startswith("The provided JSON schema is not valid JSON")


def test_cache_point_reports_writes_then_reads(runtime: Any) -> None:
    system = [{"text": "You are a meticulous librarian. " * 30}, {"cachePoint": {"type": "default"}}]
    config = {"maxTokens": 3}
    first = runtime.converse(modelId=MODEL, system=system, messages=[user("Hello")], inferenceConfig=config)[
        "usage"
    ]
    second = runtime.converse(
        modelId=MODEL, system=system, messages=[user("Good day")], inferenceConfig=config
    )["usage"]
    assert first["cacheWriteInputTokens"] > 150
    assert second["cacheReadInputTokens"] == first["cacheWriteInputTokens"] + first["cacheReadInputTokens"]
    assert second["cacheWriteInputTokens"] == 0
    for usage in (first, second):
        cached = usage["cacheReadInputTokens"] + usage["cacheWriteInputTokens"]
        assert usage["totalTokens"] == usage["inputTokens"] + cached + usage["outputTokens"]
    plain = runtime.converse(modelId=MODEL, messages=[user("Hello")], inferenceConfig=config)["usage"]
    assert "cacheReadInputTokens" not in plain
