"""Schema checks of an Anthropic Messages body, reported the way Bedrock reports them.

Bedrock validates InvokeModel bodies for Claude against a JSON schema (the Everit validator)
before the model sees them, and answers with every violation concatenated, no separators::

    Malformed input request: #: subject must not be valid against schema {"required":["messages"]}#: required
    key [max_tokens] not found#: extraneous key [stream] is not permitted, please reformat your input and try
    again.

The first entry comes from the schema's other branch (legacy Text Completions, which must not
have ``messages``); it is present whenever the body has ``messages``. Order, as Everit checks an
object: required keys, then keys not permitted, then each property's own schema.
"""

from __future__ import annotations

from typing import Any

from .body_schema import found, malformed

NOT_COMPLETIONS = '#: subject must not be valid against schema {"required":["messages"]}'

# Top-level keys Bedrock's Claude schema permits (Claude Code's, the SDKs', and the newer
# ``output_config`` / ``context_management`` that recent models take).
TOP_LEVEL = (
    "anthropic_version", "anthropic_beta", "max_tokens", "messages", "system", "temperature", "top_p",
    "top_k", "stop_sequences", "tools", "tool_choice", "thinking", "metadata", "output_config",
    "context_management", "container", "mcp_servers", "service_tier",
)  # fmt: skip
REQUIRED = ("max_tokens", "anthropic_version", "messages")
BLOCK_TYPES = (
    "text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking",
    "search_result", "server_tool_use", "web_search_tool_result", "web_fetch_tool_result",
    "code_execution_tool_result", "tool_reference", "container_upload",
)  # fmt: skip
BLOCK_REQUIRED = {
    "text": ("text",),
    "image": ("source",),
    "document": ("source",),
    "tool_use": ("id", "name", "input"),
    "tool_result": ("tool_use_id",),
    "thinking": ("thinking", "signature"),
    "redacted_thinking": ("data",),
}


_EXPECTED = {
    "integer": ("Integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "number": ("Number", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
    "string": ("String", lambda v: isinstance(v, str)),
    "boolean": ("Boolean", lambda v: isinstance(v, bool)),
    "array": ("JSONArray", lambda v: isinstance(v, list)),
    "object": ("JSONObject", lambda v: isinstance(v, dict)),
}


def _type(path: str, value: Any, kind: str, out: list[str]) -> bool:
    name, test = _EXPECTED[kind]
    if test(value):
        return True
    out.append(f"{path}: expected type: {name}, found: {found(value)}")
    return False


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and not isinstance(value, float) else str(value)


def _range(path: str, value: float, low: float | None, high: float | None, out: list[str]) -> None:
    if low is not None and value < low:
        out.append(f"{path}: {_num(value)} is not greater or equal to {_num(low)}")
    if high is not None and value > high:
        out.append(f"{path}: {_num(value)} is not less or equal to {_num(high)}")


def _enum(path: str, value: Any, allowed: tuple[str, ...], out: list[str]) -> None:
    if value not in allowed:
        out.append(f"{path}: {value} is not a valid enum value")


def _required(path: str, value: dict[str, Any], keys: tuple[str, ...], out: list[str]) -> None:
    for key in keys:
        if key not in value:
            out.append(f"{path}: required key [{key}] not found")


def _text_blocks(path: str, value: Any, out: list[str]) -> None:
    """``system``: a string, or text blocks."""
    if isinstance(value, str):
        return
    if not _type(path, value, "array", out):
        return
    for i, block in enumerate(value):
        here = f"{path}/{i}"
        if _type(here, block, "object", out):
            _required(here, block, ("type", "text"), out)
            if "type" in block:
                _enum(f"{here}/type", block["type"], ("text",), out)
            if "text" in block:
                _type(f"{here}/text", block["text"], "string", out)


def _content(path: str, value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        return
    if not _type(path, value, "array", out):
        return
    for i, block in enumerate(value):
        here = f"{path}/{i}"
        if not _type(here, block, "object", out):
            continue
        if "type" not in block:
            out.append(f"{here}: required key [type] not found")
            continue
        kind = block["type"]
        if kind not in BLOCK_TYPES:
            out.append(f"{here}/type: {kind} is not a valid enum value")
            continue
        _required(here, block, BLOCK_REQUIRED.get(kind, ()), out)
        for key in ("text", "thinking", "signature", "id", "name", "tool_use_id", "data"):
            if key in block and key in BLOCK_REQUIRED.get(kind, ()):
                _type(f"{here}/{key}", block[key], "string", out)
        if kind == "tool_use" and "input" in block:
            _type(f"{here}/input", block["input"], "object", out)
        if kind == "tool_result" and "content" in block:
            _content(f"{here}/content", block["content"], out)
        if kind in ("image", "document") and "source" in block:
            _type(f"{here}/source", block["source"], "object", out)


def _messages(value: Any, out: list[str]) -> None:
    if not _type("#/messages", value, "array", out):
        return
    for i, message in enumerate(value):
        here = f"#/messages/{i}"
        if not _type(here, message, "object", out):
            continue
        _required(here, message, ("role", "content"), out)
        if "role" in message:
            # "system" turns are what Claude Code sends to its newest models; they are accepted
            # and read as system text.
            _enum(f"{here}/role", message["role"], ("user", "assistant", "system"), out)
        if "content" in message:
            _content(f"{here}/content", message["content"], out)


def _tools(value: Any, out: list[str]) -> None:
    if not _type("#/tools", value, "array", out):
        return
    for i, tool in enumerate(value):
        here = f"#/tools/{i}"
        if not _type(here, tool, "object", out):
            continue
        _required(here, tool, ("name",), out)
        if "name" in tool:
            _type(f"{here}/name", tool["name"], "string", out)
        custom = tool.get("type") in (None, "custom")
        if custom and not tool.get("defer_loading"):
            _required(here, tool, ("input_schema",), out)
        if "input_schema" in tool:
            _type(f"{here}/input_schema", tool["input_schema"], "object", out)


def _tool_choice(value: Any, out: list[str]) -> None:
    if not _type("#/tool_choice", value, "object", out):
        return
    _required("#/tool_choice", value, ("type",), out)
    if "type" in value:
        _enum("#/tool_choice/type", value["type"], ("auto", "any", "tool", "none"), out)
        if value["type"] == "tool":
            _required("#/tool_choice", value, ("name",), out)


def _thinking(value: Any, out: list[str]) -> None:
    if not _type("#/thinking", value, "object", out):
        return
    _required("#/thinking", value, ("type",), out)
    if "type" in value:
        _enum("#/thinking/type", value["type"], ("enabled", "disabled", "adaptive"), out)
    if "budget_tokens" in value:
        _type("#/thinking/budget_tokens", value["budget_tokens"], "integer", out)


def _properties(body: dict[str, Any], out: list[str]) -> None:
    if "anthropic_version" in body:
        _type("#/anthropic_version", body["anthropic_version"], "string", out)
    if "anthropic_beta" in body and _type("#/anthropic_beta", body["anthropic_beta"], "array", out):
        for i, beta in enumerate(body["anthropic_beta"]):
            _type(f"#/anthropic_beta/{i}", beta, "string", out)
    if "max_tokens" in body and _type("#/max_tokens", body["max_tokens"], "integer", out):
        _range("#/max_tokens", body["max_tokens"], 1, None, out)
    if "messages" in body:
        _messages(body["messages"], out)
    if "system" in body:
        _text_blocks("#/system", body["system"], out)
    for key in ("temperature", "top_p"):
        if key in body and _type(f"#/{key}", body[key], "number", out):
            _range(f"#/{key}", body[key], 0, 1, out)
    if "top_k" in body and _type("#/top_k", body["top_k"], "integer", out):
        _range("#/top_k", body["top_k"], 0, 500, out)
    if "stop_sequences" in body and _type("#/stop_sequences", body["stop_sequences"], "array", out):
        for i, stop in enumerate(body["stop_sequences"]):
            _type(f"#/stop_sequences/{i}", stop, "string", out)
    if "tools" in body:
        _tools(body["tools"], out)
    if "tool_choice" in body:
        _tool_choice(body["tool_choice"], out)
    if "thinking" in body:
        _thinking(body["thinking"], out)
    if "metadata" in body and _type("#/metadata", body["metadata"], "object", out):
        user = body["metadata"].get("user_id")
        if user is not None:
            _type("#/metadata/user_id", user, "string", out)


def check_body(body: Any) -> None:
    """Raise Bedrock's "Malformed input request" for a body its schema refuses."""
    if not isinstance(body, dict):
        raise malformed([f"#: expected type: JSONObject, found: {found(body)}"])
    out: list[str] = []
    _required("#", body, REQUIRED, out)
    for key in body:
        if key not in TOP_LEVEL:
            out.append(f"#: extraneous key [{key}] is not permitted")
    _properties(body, out)
    if out:
        raise malformed(([NOT_COMPLETIONS] if "messages" in body else []) + out)
