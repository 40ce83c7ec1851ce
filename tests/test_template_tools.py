"""Tools offered through the served model's own chat template, when it handles tools: the tool list,
past calls and tool results reach the model in the template's syntax, and that is what is billed.

The server here runs the bundled model with a tool-aware ChatML template (tests/templates), as a user
would give one with ``chat_template``; the expected prompts are rendered from that template by hand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

from conftest import Server, make_client, start_server, stop_server, user
from outcrop.engines.llamacpp.model_files import resolve_model_path

TEMPLATE = Path(__file__).parent / "templates" / "chatml_tools.jinja"
MODEL = "us.amazon.nova-lite-v1:0"
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 20}},
    "required": ["city"],
}
TOOL = {
    "toolSpec": {"name": "get_weather", "description": "Weather in a city", "inputSchema": {"json": SCHEMA}}
}
AS_TEMPLATES_TAKE_IT = [
    {
        "type": "function",
        "function": {"name": "get_weather", "description": "Weather in a city", "parameters": SCHEMA},
    }
]


@pytest.fixture(scope="module")
def templated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(
        tmp_path_factory.mktemp("templated"), "templated", env={"OUTCROP_CHAT_TEMPLATE": str(TEMPLATE)}
    )
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def tokens_of() -> Any:
    """The served model's token count of a prompt rendered from the test template."""
    vocab = Llama(model_path=resolve_model_path(None), vocab_only=True, verbose=False)
    formatter = Jinja2ChatFormatter(template=TEMPLATE.read_text(), eos_token="", bos_token="")

    def count(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, prefill: str = "") -> int:
        text = str(formatter(messages=messages, tools=tools).prompt) + prefill
        return len(vocab.tokenize(text.encode(), add_bos=False, special=True))

    return count


def counted(client: Any, request: dict[str, Any]) -> int:
    return int(client.count_tokens(modelId=MODEL, input={"converse": request})["inputTokens"])


def test_the_template_lists_the_tools(templated: Server, runtime: Any, tokens_of: Any) -> None:
    client = make_client("bedrock-runtime", templated.url)
    request = {
        "system": [{"text": "You answer briefly."}],
        "messages": [user("Weather in Oslo?")],
        "toolConfig": {"tools": [TOOL]},
    }
    expected = tokens_of(
        [
            {"role": "system", "content": "You answer briefly."},
            {"role": "user", "content": "Weather in Oslo?"},
        ],
        AS_TEMPLATES_TAKE_IT,
    )
    assert counted(client, request) == expected
    # The default server (SmolLM2's own template has no tool support) offers them in Outcrop's words.
    assert counted(runtime, request) != expected
    # A forced choice adds its instruction to the system prompt, and the answer opens the call.
    forced = {**request, "toolConfig": {"tools": [TOOL], "toolChoice": {"tool": {"name": "get_weather"}}}}
    system = "You answer briefly.\n\nYou must call the tool get_weather now."
    assert counted(client, forced) == tokens_of(
        [{"role": "system", "content": system}, {"role": "user", "content": "Weather in Oslo?"}],
        AS_TEMPLATES_TAKE_IT,
        prefill="<tool_call>",
    )


def test_a_tool_round_trip_in_the_templates_syntax(templated: Server, tokens_of: Any) -> None:
    client = make_client("bedrock-runtime", templated.url)
    tools = {"tools": [TOOL]}
    first = client.converse(
        modelId=MODEL,
        messages=[user("Weather in Oslo?")],
        toolConfig={**tools, "toolChoice": {"tool": {"name": "get_weather"}}},
        inferenceConfig={"maxTokens": 60, "temperature": 0},
    )
    assert first["stopReason"] == "tool_use"
    call = next(b["toolUse"] for b in first["output"]["message"]["content"] if "toolUse" in b)
    assert call["name"] == "get_weather" and isinstance(call["input"].get("city"), str)
    history = [
        user("Weather in Oslo?"),
        first["output"]["message"],
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": call["toolUseId"], "content": [{"text": "Sunny, 18 C"}]}}
            ],
        },
    ]
    expected = tokens_of(
        [
            {"role": "user", "content": "Weather in Oslo?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"type": "function", "function": {"name": "get_weather", "arguments": call["input"]}}
                ],
            },
            {"role": "tool", "content": "Sunny, 18 C"},
        ],
        AS_TEMPLATES_TAKE_IT,
    )
    assert counted(client, {"messages": history, "toolConfig": tools}) == expected
    final = client.converse(
        modelId=MODEL, messages=history, toolConfig=tools, inferenceConfig={"maxTokens": 20, "temperature": 0}
    )
    assert final["usage"]["inputTokens"] == expected
    assert final["stopReason"] in ("end_turn", "max_tokens", "tool_use")
    # The same call streamed: the template's prompt, a valid call.
    events = client.converse_stream(
        modelId=MODEL,
        messages=[user("Weather in Paris?")],
        toolConfig={**tools, "toolChoice": {"any": {}}},
        inferenceConfig={"maxTokens": 60, "temperature": 0},
    )["stream"]
    stops = [e["messageStop"]["stopReason"] for e in events if "messageStop" in e]
    assert stops == ["tool_use"]
