"""Tool calls small models write as plain JSON (Qwen2.5-Coder answers "What's the weather in Paris?"
with ``{"name": "get_weather", "arguments": {"city": "Paris"}}``) are recognised in auto mode;
anything else is text, released as soon as it cannot be a call. bench/tool_call_rate.py measures
the rate with such a model (0/12 before, 11/12 after)."""

from __future__ import annotations

from outcrop.constrained.tool_calls import BareCalls, tool_specs

SPECS = tool_specs(
    {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "inputSchema": {
                        "json": {
                            "type": "object",
                            "properties": {"city": {"type": "string"}},
                            "required": ["city"],
                        }
                    },
                }
            }
        ]
    }
)


def fed(*pieces: str) -> tuple[str, BareCalls]:
    bare = BareCalls()
    return "".join(bare.feed(p) for p in pieces), bare


def test_a_json_call_is_held_and_recognised() -> None:
    released, bare = fed('{"name": "get_', 'weather", "arguments": {"city": "Paris"}}')
    assert released == ""
    (call,) = bare.calls(SPECS) or []
    assert call.name == "get_weather" and call.input == {"city": "Paris"}


def test_fenced_lists_and_parameters_are_calls_too() -> None:
    _, bare = fed("```json\n", '[{"name": "get_weather", "parameters": {"city": "Rome"}}]\n```')
    (call,) = bare.calls(SPECS) or []
    assert call.input == {"city": "Rome"}


def test_text_is_released_as_soon_as_it_cannot_be_a_call() -> None:
    released, bare = fed("  ", "The weather", " is fine.")
    assert released == "  The weather is fine." and not bare.held
    released, _ = fed("```python\n", "print(1)\n```")
    assert released == "```python\nprint(1)\n```"
    released, _ = fed("[1", "] See the notes.")
    assert released == "[1] See the notes."
    released, _ = fed('{"ans', 'wer": 4, "name": "x"}')  # JSON that is not a call streams on
    assert released == '{"answer": 4, "name": "x"}'


def test_json_that_is_not_a_call_of_an_offered_tool_stays_text() -> None:
    for text in ('{"name": "find_files", "arguments": {}}', '{"name": "get_weather", "arg'):
        _, bare = fed(text)
        assert bare.calls(SPECS) is None and bare.held == text


def test_positional_arguments_are_named_after_the_required_parameters() -> None:
    """Qwen2.5-Coder asked by Claude Code to run a command wrote
    ``{"name": "Bash", "arguments": ["echo …"]}`` (bench/claude_code_agent.py)."""
    for arguments in ('["Paris"]', '"Paris"'):
        _, bare = fed('```json\n{"name": "get_weather", "arguments": ' + arguments + "}\n```")
        (call,) = bare.calls(SPECS) or []
        assert call.input == {"city": "Paris"} and not call.problems
    _, bare = fed('{"name": "get_weather", "arguments": ["Paris", "extra"]}')  # more values than parameters
    assert bare.calls(SPECS) is None
