"""OpenAI-style chat messages and tools (``messages``/``tools``/``tool_choice``) → canonical.

AI21 Jamba, Mistral's chat form, OpenAI gpt-oss and the other OpenAI-compatible families on
Bedrock all send this shape: ``{"role": "system"|"user"|"assistant"|"tool", "content": …}``,
assistant ``tool_calls`` (``{"id", "type": "function", "function": {"name", "arguments"}}``)
and ``tool`` replies (``tool_call_id``). Their tools are ``{"type": "function", "function":
{"name", "description", "parameters"}}``.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from ..constrained.json_output import schema_grammar
from ..conversation import Block, Message
from ..protocol.errors import ValidationException


def response_grammar(response_format: Any) -> str | None:
    """The grammar for ``response_format``: any JSON object (``json_object``), or one value of
    the given schema (``json_schema``: ``{"json_schema": {"name", "schema"}}``); None for text."""
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return schema_grammar({"type": "object"})
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, dict) else None
        return schema_grammar(schema if isinstance(schema, dict) else {"type": "object"})
    return None


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(parts)
    return str(content)


def _image(part: dict[str, Any]) -> Block | None:
    url = part.get("image_url")
    url = url.get("url") if isinstance(url, dict) else url
    if not isinstance(url, str) or not url.startswith("data:"):
        return None
    header, _, data = url.partition(",")
    fmt = header.split(";")[0].split("/")[-1] or "png"
    try:
        raw = base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        raw = b""
    return {"image": {"format": fmt, "source": {"bytes": raw}}}


def _content_blocks(content: Any) -> list[Block]:
    if isinstance(content, list):
        out: list[Block] = []
        for part in content:
            if isinstance(part, dict) and part.get("type") in ("image_url", "image"):
                image = _image(part)
                if image:
                    out.append(image)
            else:
                text = _text_of([part])
                if text:
                    out.append({"text": text})
        return out
    text = _text_of(content)
    return [{"text": text}] if text else []


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw) if raw.strip() else {}
        except (json.JSONDecodeError, RecursionError):
            return {"_raw": raw}
        return value if isinstance(value, dict) else {"value": value}
    return {}


def messages_from_chat(messages: list[dict[str, Any]]) -> tuple[list[Block], list[Message]]:
    """(system blocks, canonical messages); consecutive turns of one role are merged."""
    system: list[Block] = []
    out: list[Message] = []

    def push(role: str, blocks: list[Block]) -> None:
        if not blocks:
            blocks = [{"text": ""}]
        if out and out[-1].role == role:
            out[-1].content.extend(blocks)
        else:
            out.append(Message(role, list(blocks)))

    for message in messages:
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            text = _text_of(content)
            if text:
                system.append({"text": text})
        elif role == "user":
            push("user", _content_blocks(content))
        elif role == "assistant":
            blocks = _content_blocks(content)
            for call in message.get("tool_calls") or []:
                if not isinstance(call, dict):
                    continue
                function = call.get("function") or {}
                blocks.append(
                    {
                        "toolUse": {
                            "toolUseId": str(call.get("id") or function.get("name") or "call"),
                            "name": str(function.get("name") or ""),
                            "input": _arguments(function.get("arguments")),
                        }
                    }
                )
            push("assistant", blocks)
        elif role in ("tool", "ipython", "function"):
            push(
                "user",
                [
                    {
                        "toolResult": {
                            "toolUseId": str(message.get("tool_call_id") or message.get("name") or "call"),
                            "content": [{"text": _text_of(content)}],
                        }
                    }
                ],
            )
    for turn in out:
        turn.content = [b for b in turn.content if b != {"text": ""}] or [{"text": ""}]
    return system, out


def tool_config_from_chat(tools: Any, choice: Any) -> dict[str, Any] | None:
    """OpenAI-style tools and tool_choice → Converse's toolConfig (None when there are none)."""
    specs: list[dict[str, Any]] = []
    for tool in tools or []:
        if not isinstance(tool, dict):
            continue
        function: dict[str, Any] = tool["function"] if isinstance(tool.get("function"), dict) else tool
        name = function.get("name")
        if not name:
            continue
        spec: dict[str, Any] = {
            "name": str(name),
            "inputSchema": {"json": function.get("parameters") or {"type": "object", "properties": {}}},
        }
        if function.get("description"):
            spec["description"] = str(function["description"])
        specs.append({"toolSpec": spec})
    if not specs:
        return None
    config: dict[str, Any] = {"tools": specs}
    if choice in (None, "auto"):
        config["toolChoice"] = {"auto": {}}
    elif choice in ("required", "any"):
        config["toolChoice"] = {"any": {}}
    elif choice == "none":
        config["toolChoice"] = {"none": {}}
    elif isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") or choice.get("name")
        names = [s["toolSpec"]["name"] for s in specs]
        if name not in names:
            raise ValidationException(f"Tool choice '{name}' is not one of the provided tools.")
        config["toolChoice"] = {"tool": {"name": name}}
    return config


def stop_list(stop: Any) -> list[str]:
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    return [str(s) for s in stop if isinstance(s, str)]
