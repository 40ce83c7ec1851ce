"""The anthropic SDK's AnthropicBedrock client, unmodified, against a server that checks SigV4
signatures and bearer API keys."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest
from anthropic import AnthropicBedrock

from conftest import ACCESS_KEY, API_KEY, REGION, SECRET_KEY, Server

MODEL = "us.anthropic.claude-3-haiku-20240307-v1:0"
SONNET = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 40},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city"],
    },
}


def signed(server: Server, **kwargs: Any) -> AnthropicBedrock:
    return AnthropicBedrock(
        base_url=server.url,
        aws_region=REGION,
        aws_access_key=kwargs.pop("key", ACCESS_KEY),
        aws_secret_key=kwargs.pop("secret", SECRET_KEY),
        max_retries=0,
        timeout=300,
        **kwargs,
    )


@pytest.fixture(scope="module")
def client(auth_server: Server) -> AnthropicBedrock:
    return signed(auth_server)


def test_create_with_sigv4(client: AnthropicBedrock) -> None:
    message = client.messages.create(
        model=MODEL,
        max_tokens=30,
        system="Answer briefly.",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
    )
    assert message.id.startswith("msg_bdrk_")
    assert message.role == "assistant" and message.model == "claude-3-haiku-20240307"
    assert message.content[0].type == "text" and message.content[0].text.strip()
    assert message.stop_reason in ("end_turn", "max_tokens")
    assert message.usage.input_tokens > 5 and 0 < message.usage.output_tokens <= 30
    assert message.usage.cache_read_input_tokens == 0


def test_messages_stream_helper(client: AnthropicBedrock) -> None:
    with client.messages.stream(
        model=SONNET, max_tokens=30, messages=[{"role": "user", "content": "Tell me about the sea."}]
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) >= 3, "text arrives token by token"
    assert "".join(pieces) == final.content[0].text
    assert final.model == "claude-sonnet-4-5-20250929"
    assert final.usage.output_tokens <= 30 and final.stop_reason in ("end_turn", "max_tokens")


def test_raw_stream_events(client: AnthropicBedrock) -> None:
    events = list(
        client.messages.create(
            model=MODEL, max_tokens=10, stream=True, messages=[{"role": "user", "content": "Hello"}]
        )
    )
    types = [e.type for e in events]
    assert types[0] == "message_start" and types[-1] == "message_stop"
    assert "content_block_delta" in types and "message_delta" in types


def test_tool_use_and_round_trip(client: AnthropicBedrock) -> None:
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = client.messages.create(
        model=MODEL, max_tokens=100, tools=[WEATHER], tool_choice={"type": "any"}, messages=messages
    )
    assert first.stop_reason == "tool_use"
    use = next(b for b in first.content if b.type == "tool_use")
    assert use.name == "get_weather" and use.id.startswith("toolu_bdrk_")
    assert isinstance(use.input, dict) and isinstance(use.input["city"], str)
    assert set(use.input) <= {"city", "unit"} and use.input.get("unit", "celsius") in (
        "celsius",
        "fahrenheit",
    )
    messages += [
        {"role": "assistant", "content": first.content},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "Sunny, 24 C"}],
        },
    ]
    second = client.messages.create(model=MODEL, max_tokens=30, tools=[WEATHER], messages=messages)
    assert second.stop_reason in ("end_turn", "max_tokens", "tool_use")
    assert second.content


def test_streamed_tool_use(client: AnthropicBedrock) -> None:
    with client.messages.stream(
        model=MODEL,
        max_tokens=100,
        tools=[WEATHER],
        tool_choice={"type": "tool", "name": "get_weather"},
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert "input_json" in kinds
    (use,) = [b for b in final.content if b.type == "tool_use"]
    assert isinstance(use.input, dict) and isinstance(use.input["city"], str)
    assert final.stop_reason == "tool_use"


def test_betas_and_thinking_are_accepted(client: AnthropicBedrock) -> None:
    message = client.beta.messages.create(
        model=SONNET,
        max_tokens=1100,
        thinking={"type": "enabled", "budget_tokens": 1024},
        betas=["interleaved-thinking-2025-05-14"],
        stop_sequences=["\n"],
        messages=[{"role": "user", "content": "Hi"}],
    )
    assert message.stop_reason in ("end_turn", "max_tokens", "stop_sequence")


def test_bad_request_is_a_bad_request_error(client: AnthropicBedrock) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(
            model=MODEL,
            max_tokens=2000,
            thinking={"type": "enabled", "budget_tokens": 4000},
            messages=[{"role": "user", "content": "Hi"}],
        )
    assert "`max_tokens` must be greater than `thinking.budget_tokens`" in str(info.value)
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(
            model="anthropic.claude-nope-v9:0", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert "The provided model identifier is invalid." in str(info.value)


def test_bearer_api_key(auth_server: Server) -> None:
    client = AnthropicBedrock(base_url=auth_server.url, aws_region=REGION, api_key=API_KEY, max_retries=0)
    message = client.messages.create(model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "Hi"}])
    assert message.usage.output_tokens >= 1
    with client.messages.stream(
        model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "Hi"}]
    ) as stream:
        assert stream.get_final_message().usage.output_tokens >= 1


def test_wrong_credentials_are_refused(auth_server: Server) -> None:
    bad_key = AnthropicBedrock(base_url=auth_server.url, aws_region=REGION, api_key="wrong", max_retries=0)
    with pytest.raises(anthropic.PermissionDeniedError):
        bad_key.messages.create(model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "Hi"}])
    bad_secret = signed(auth_server, secret="not-the-secret")
    with pytest.raises(anthropic.PermissionDeniedError) as info:
        bad_secret.messages.create(model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "Hi"}])
    assert "signature" in str(info.value).lower()


def test_async_client(auth_server: Server) -> None:
    import asyncio

    from anthropic import AsyncAnthropicBedrock

    async def run() -> str:
        client = AsyncAnthropicBedrock(
            base_url=auth_server.url,
            aws_region=REGION,
            aws_access_key=ACCESS_KEY,
            aws_secret_key=SECRET_KEY,
            max_retries=0,
        )
        async with client.messages.stream(
            model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "Hi"}]
        ) as stream:
            final = await stream.get_final_message()
        return json.dumps(final.model_dump())

    final = json.loads(asyncio.run(run()))
    assert final["type"] == "message" and final["usage"]["output_tokens"] >= 1


def test_thinking_stream_and_signed_round_trip(client: AnthropicBedrock) -> None:
    """The SDK's stream helper assembles thinking (with its signature) and text; the assistant
    turn sent back as the SDK returned it is accepted, with tools and the tool result after it."""
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Paris?"}]
    with client.messages.stream(
        model=SONNET,
        max_tokens=1100,
        thinking={"type": "enabled", "budget_tokens": 1024},
        tools=[WEATHER],
        messages=messages,
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "thinking" and final.content[0].signature
    reply = [
        final.content[0],
        {"type": "tool_use", "id": "toolu_bdrk_01", "name": "get_weather", "input": {"city": "Paris"}},
    ]
    messages += [
        {"role": "assistant", "content": reply},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_bdrk_01", "content": "Sunny"}],
        },
    ]
    answer = client.messages.create(
        model=SONNET,
        max_tokens=1100,
        thinking={"type": "enabled", "budget_tokens": 1024},
        tools=[WEATHER],
        messages=messages,
    )
    assert answer.content
