"""Agent frameworks' tool loops against the real server on the default model: LangChain's
``ChatBedrockConverse.bind_tools`` and a Strands ``Agent`` over ``BedrockModel``, both pointed at
Outcrop with ``endpoint_url``. Every tool call they receive must validate against its schema."""

from __future__ import annotations

import json
from typing import Any, Literal

import jsonschema
import pytest

from conftest import ACCESS_KEY, REGION, SECRET_KEY, Server

MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def test_langchain_weather_loop(server: Server) -> None:
    langchain_aws = pytest.importorskip("langchain_aws")
    from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
    from langchain_core.tools import tool

    @tool
    def get_weather(city: str, unit: Literal["celsius", "fahrenheit"]) -> str:
        """Current weather in a city.

        Args:
            city: City name
            unit: Temperature unit
        """
        return json.dumps({"city": city, "temperature": 21, "unit": unit, "sky": "sunny"})

    schema = get_weather.tool_call_schema.model_json_schema()
    llm = langchain_aws.ChatBedrockConverse(
        model=MODEL,
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        max_tokens=60,
        temperature=0,
    )
    messages: list[BaseMessage] = [HumanMessage("What is the weather in Paris, in celsius?")]
    call = llm.bind_tools([get_weather], tool_choice="any").invoke(messages)
    assert isinstance(call, AIMessage) and call.tool_calls
    for tool_call in call.tool_calls:
        assert tool_call["name"] == "get_weather"
        jsonschema.validate(tool_call["args"], schema)
    messages.append(call)
    for tool_call in call.tool_calls:
        messages.append(ToolMessage(get_weather.invoke(tool_call["args"]), tool_call_id=tool_call["id"]))
    answer = llm.bind_tools([get_weather]).invoke(messages)
    assert isinstance(answer, AIMessage)
    assert answer.response_metadata["stopReason"] in ("end_turn", "max_tokens", "tool_use")
    assert answer.content or answer.tool_calls
    for tool_call in answer.tool_calls:
        jsonschema.validate(tool_call["args"], schema)
    assert answer.usage_metadata and answer.usage_metadata["input_tokens"] > 0


def test_strands_agent_tool_loop(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    strands = pytest.importorskip("strands")
    from strands.models import BedrockModel

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    calls: list[dict[str, Any]] = []

    @strands.tool
    def weather(city: str, unit: Literal["celsius", "fahrenheit"]) -> dict[str, Any]:
        """Current weather in a city.

        Args:
            city: City name
            unit: Temperature unit
        """
        calls.append({"city": city, "unit": unit})
        return {"temperature": 21, "sky": "sunny"}

    class FirstTurnUsesATool(BedrockModel):
        """Strands sends ``toolChoice: auto``; its model interface takes a ``tool_choice``, used here
        to force the first turn's call (``any``) so the loop surely exercises the tool round trip."""

        def format_request(
            self,
            messages: Any,
            tool_specs: Any = None,
            system_prompt_content: Any = None,
            tool_choice: Any = None,
            *args: Any,
            **kwargs: Any,
        ) -> dict[str, Any]:
            if tool_specs and not any("toolResult" in b for m in messages for b in m["content"]):
                tool_choice = {"any": {}}
            return super().format_request(
                messages, tool_specs, system_prompt_content, tool_choice, *args, **kwargs
            )

    model = FirstTurnUsesATool(
        model_id=MODEL, endpoint_url=server.url, region_name=REGION, max_tokens=200, temperature=0
    )
    agent = strands.Agent(model=model, tools=[weather], callback_handler=None)
    result = agent("What is the weather in Oslo, in celsius?")
    assert calls, "the forced first turn must call the tool"
    schema = weather.tool_spec["inputSchema"]["json"]
    uses = [b["toolUse"] for m in agent.messages for b in m["content"] if "toolUse" in b]
    assert len(uses) == len(calls)
    for use in uses:
        jsonschema.validate(use["input"], schema)
    assert result.stop_reason in ("end_turn", "max_tokens")
    assert agent.messages[-1]["role"] == "assistant"
