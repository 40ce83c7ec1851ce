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


def converse_llm(langchain_aws: Any, server: Server, **settings: Any) -> Any:
    """LangChain's ChatBedrockConverse pointed at the server."""
    return langchain_aws.ChatBedrockConverse(
        model=MODEL,
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        **settings,
    )


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
    llm = converse_llm(
        langchain_aws,
        server,
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


def test_strands_names_the_tool_a_max_tokens_cut_off(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bedrock returns a call cut off by max tokens; Strands reads it to say which tool it was
    (once the non-streaming answer came back empty and Strands could not tell)."""
    strands = pytest.importorskip("strands")
    from strands.models import BedrockModel
    from strands.types.exceptions import MaxTokensReachedException

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)

    @strands.tool
    def weather(city: str) -> dict[str, Any]:
        """Current weather in a city.

        Args:
            city: City name
        """
        return {"sky": "sunny"}

    class ForcedTool(BedrockModel):
        def format_request(
            self, messages: Any, tool_specs: Any = None, *args: Any, **kwargs: Any
        ) -> dict[str, Any]:
            request = super().format_request(messages, tool_specs, *args, **kwargs)
            request["toolConfig"]["toolChoice"] = {"any": {}}
            return request

    for streaming in (False, True):
        model = ForcedTool(
            model_id=MODEL,
            endpoint_url=server.url,
            region_name=REGION,
            max_tokens=14,
            temperature=0,
            streaming=streaming,
        )
        agent = strands.Agent(model=model, tools=[weather], callback_handler=None)
        with pytest.raises(MaxTokensReachedException):
            agent("What is the weather in Oslo?")
        said = [b.get("text", "") for m in agent.messages if m["role"] == "assistant" for b in m["content"]]
        assert any("weather's tool use was incomplete" in text for text in said), said


def test_langchain_thinking_comes_back_and_round_trips(server: Server) -> None:
    langchain_aws = pytest.importorskip("langchain_aws")
    from langchain_core.messages import AIMessage, HumanMessage

    llm = converse_llm(
        langchain_aws,
        server,
        max_tokens=120,
        additional_model_request_fields={"thinking": {"type": "adaptive"}},
    )
    first = llm.invoke([HumanMessage("What is 6 times 7?")])
    assert isinstance(first, AIMessage) and isinstance(first.content, list)
    kinds = [block.get("type") for block in first.content if isinstance(block, dict)]
    assert kinds[0] == "reasoning_content" and "text" in kinds, kinds
    # The signed reasoning goes back with the next turn, as LangChain sends it, and is accepted.
    second = llm.invoke([HumanMessage("What is 6 times 7?"), first, HumanMessage("And times 8?")])
    assert second.content


def test_langchain_structured_output_gets_the_cut_off_call(server: Server) -> None:
    langchain_aws = pytest.importorskip("langchain_aws")
    from pydantic import BaseModel

    class Weather(BaseModel):
        """Weather in a city."""

        city: str
        unit: str

    llm = converse_llm(
        langchain_aws,
        server,
        max_tokens=14,
        temperature=0,
    )
    result = llm.with_structured_output(Weather, include_raw=True).invoke("Weather in Paris in celsius?")
    raw = result["raw"]
    assert raw.response_metadata["stopReason"] == "max_tokens"
    assert raw.tool_calls and raw.tool_calls[0]["name"] == "Weather"
