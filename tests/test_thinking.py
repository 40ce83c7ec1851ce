"""Thinking on every model: a reasoning phase when the request asks for it, returned in each API's
shape with a signature the server can verify, and Claude's thinking rules, refused in its words."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from conftest import user

CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
NOVA = "us.amazon.nova-premier-v1:0"
VERSION = "bedrock-2023-05-31"
PREFIX = "The model returned the following errors: "
WEATHER = {
    "name": "get_weather",
    "description": "Weather in a city.",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 40}},
        "required": ["city"],
    },
}


def claude(messages: Any, **fields: Any) -> dict[str, Any]:
    body = {"anthropic_version": VERSION, "max_tokens": 1100, "messages": messages}
    body.setdefault("thinking", {"type": "enabled", "budget_tokens": 1024})
    body.update(fields)
    return body


def invoke(runtime: Any, body: dict[str, Any]) -> dict[str, Any]:
    return json.loads(runtime.invoke_model(modelId=CLAUDE, body=json.dumps(body))["body"].read())


def refusal(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return str(info.value.response["Error"]["Message"])


# ---- the reasoning phase ------------------------------------------------------------------------


def test_anthropic_body_gets_a_signed_thinking_block_before_its_text(runtime: Any) -> None:
    body = claude([{"role": "user", "content": "What is 12 times 3?"}], max_tokens=1200, temperature=1)
    body["thinking"]["budget_tokens"] = 1024
    message = invoke(runtime, dict(body, max_tokens=1100))
    kinds = [b["type"] for b in message["content"]]
    assert kinds[0] == "thinking" and "text" in kinds, kinds
    block = message["content"][0]
    assert block["thinking"].strip() and block["signature"]
    # Thinking is output: billed as such, and within max_tokens.
    assert message["usage"]["output_tokens"] <= 1100


def test_anthropic_stream_sends_thinking_then_signature_then_text(runtime: Any) -> None:
    body = claude(
        [{"role": "user", "content": "Name a colour."}], thinking={"type": "adaptive"}, max_tokens=80
    )
    response = runtime.invoke_model_with_response_stream(modelId=CLAUDE, body=json.dumps(body))
    events = [json.loads(e["chunk"]["bytes"]) for e in response["body"]]
    deltas = [e["delta"]["type"] for e in events if e["type"] == "content_block_delta"]
    assert deltas[0] == "thinking_delta"
    signature_at = deltas.index("signature_delta")
    assert all(d == "thinking_delta" for d in deltas[:signature_at])
    assert "text_delta" in deltas[signature_at:]
    starts = [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"]
    assert starts[:2] == ["thinking", "text"]


def test_converse_reasoning_content_and_its_stream(runtime: Any) -> None:
    request = {
        "modelId": CLAUDE,
        "messages": [user("What is 7 plus 5?")],
        "inferenceConfig": {"maxTokens": 120},
        "additionalModelRequestFields": {"thinking": {"type": "adaptive"}},
    }
    response = runtime.converse(**request)
    content = response["output"]["message"]["content"]
    reasoning = content[0]["reasoningContent"]["reasoningText"]
    assert reasoning["text"].strip() and reasoning["signature"]
    assert any("text" in b for b in content[1:])
    assert response["usage"]["outputTokens"] <= 120
    events = [next(iter(e.items())) for e in runtime.converse_stream(**request)["stream"]]
    deltas = [b["delta"] for n, b in events if n == "contentBlockDelta"]
    assert "text" in deltas[0]["reasoningContent"]
    signed = [d for d in deltas if "signature" in d.get("reasoningContent", {})]
    assert len(signed) == 1 and any("text" in d for d in deltas[deltas.index(signed[0]) :])


def test_nova_reasoning_config_reasons_first(runtime: Any) -> None:
    response = runtime.converse(
        modelId=NOVA,
        messages=[user("Is 17 a prime number?")],
        inferenceConfig={"maxTokens": 100},
        additionalModelRequestFields={"reasoningConfig": {"type": "enabled", "maxReasoningEffort": "low"}},
    )
    assert "reasoningContent" in response["output"]["message"]["content"][0]


def test_no_thinking_asked_none_given(runtime: Any) -> None:
    message = invoke(
        runtime, claude([{"role": "user", "content": "Hi"}], thinking={"type": "disabled"}, max_tokens=20)
    )
    assert [b["type"] for b in message["content"]] == ["text"]


# ---- signatures ---------------------------------------------------------------------------------


def test_a_thinking_block_sent_back_unchanged_is_accepted_and_a_tampered_one_refused(
    runtime: Any, raw_runtime: Any
) -> None:
    first = [{"role": "user", "content": "Remember the word cactus."}]
    message = invoke(runtime, claude(first, max_tokens=1030))
    thought = next(b for b in message["content"] if b["type"] == "thinking")
    history = [*first, {"role": "assistant", "content": [thought, {"type": "text", "text": "OK."}]}]
    follow = [*history, {"role": "user", "content": "Which word?"}]
    assert invoke(runtime, claude(follow, max_tokens=1030))["content"]
    tampered = dict(thought, thinking=thought["thinking"] + " And also a lie.")
    bad = [first[0], {"role": "assistant", "content": [tampered]}, follow[-1]]
    message_text = refusal(raw_runtime.invoke_model, modelId=CLAUDE, body=json.dumps(claude(bad)))
    assert message_text == "messages.1.content.0: Invalid `signature` in `thinking` block"
    converse_history = [
        user("Remember the word cactus."),
        {
            "role": "assistant",
            "content": [
                {
                    "reasoningContent": {
                        "reasoningText": {"text": "made up", "signature": thought["signature"]}
                    }
                },
                {"text": "OK."},
            ],
        },
        user("Which word?"),
    ]
    message_text = refusal(raw_runtime.converse, modelId=CLAUDE, messages=converse_history)
    assert message_text == PREFIX + "messages.1.content.0: Invalid `signature` in `thinking` block"
    odd = dict(thought, signature="é" + thought["signature"])  # not base64 at all: refused, no 500
    bad = [first[0], {"role": "assistant", "content": [odd]}, follow[-1]]
    message_text = refusal(raw_runtime.invoke_model, modelId=CLAUDE, body=json.dumps(claude(bad)))
    assert message_text == "messages.1.content.0: Invalid `signature` in `thinking` block"


# ---- Claude's thinking rules --------------------------------------------------------------------


def test_thinking_with_a_forced_tool_is_refused_in_claudes_words(raw_runtime: Any) -> None:
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    for choice in ({"type": "any"}, {"type": "tool", "name": "get_weather"}):
        body = claude(messages, tools=[WEATHER], tool_choice=choice)
        text = refusal(raw_runtime.invoke_model, modelId=CLAUDE, body=json.dumps(body))
        assert text == "Thinking may not be enabled when tool_choice forces tool use."
    text = refusal(
        raw_runtime.converse,
        modelId=CLAUDE,
        messages=[user("Weather in Paris?")],
        toolConfig={
            "tools": [
                {"toolSpec": {"name": "get_weather", "inputSchema": {"json": WEATHER["input_schema"]}}}
            ],
            "toolChoice": {"any": {}},
        },
        additionalModelRequestFields={"thinking": {"type": "enabled", "budget_tokens": 1024}},
        inferenceConfig={"maxTokens": 2000},
    )
    assert text == PREFIX + "Thinking may not be enabled when tool_choice forces tool use."


def test_adaptive_thinking_with_a_forced_tool_calls_the_tool_without_thinking(runtime: Any) -> None:
    body = claude(
        [{"role": "user", "content": "Weather in Paris?"}],
        thinking={"type": "adaptive"},
        tools=[WEATHER],
        tool_choice={"type": "any"},
        max_tokens=60,
    )
    message = invoke(runtime, body)
    assert [b["type"] for b in message["content"]] == ["tool_use"]


def test_thinking_budget_and_temperature_rules(raw_runtime: Any) -> None:
    messages = [{"role": "user", "content": "Hi"}]
    cases = [
        (claude(messages, thinking={"type": "enabled", "budget_tokens": 100}),
         "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"),
        (claude(messages, max_tokens=1024),
         "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at "
         "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"),
        (claude(messages, temperature=0.2),
         "`temperature` may only be set to 1 when thinking is enabled or in adaptive mode"),
        (claude(messages, thinking={"type": "adaptive"}, temperature=0),
         "`temperature` may only be set to 1 when thinking is enabled or in adaptive mode"),
    ]  # fmt: skip
    for body, expected in cases:
        assert refusal(raw_runtime.invoke_model, modelId=CLAUDE, body=json.dumps(body)) == expected
    text = refusal(
        raw_runtime.converse,
        modelId=CLAUDE,
        messages=[user("Hi")],
        additionalModelRequestFields={"thinking": {"type": "enabled", "budget_tokens": 500}},
    )
    assert text == PREFIX + "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"


def test_a_tool_turn_without_its_thinking_is_refused_when_thinking_is_on(
    raw_runtime: Any, runtime: Any
) -> None:
    turns = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny"}]},
    ]
    text = refusal(raw_runtime.invoke_model, modelId=CLAUDE, body=json.dumps(claude(turns, tools=[WEATHER])))
    assert text == (
        "messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`. When "
        "`thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding "
        "the lastmost set of `tool_use` and `tool_result` blocks). To avoid this requirement, disable "
        "`thinking`."
    )
    # The same turn is fine without thinking, and with its (signed) thinking block first.
    assert invoke(runtime, claude(turns, tools=[WEATHER], thinking={"type": "disabled"}, max_tokens=20))
    signed = invoke(runtime, claude([turns[0]], max_tokens=1030))
    thought = next(b for b in signed["content"] if b["type"] == "thinking")
    turns[1]["content"] = [thought, *turns[1]["content"]]
    assert invoke(runtime, claude(turns, tools=[WEATHER], max_tokens=1030))["content"]
