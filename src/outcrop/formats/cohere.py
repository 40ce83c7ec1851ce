"""Cohere Command R / R+ InvokeModel bodies: ``message``, ``chat_history``, ``preamble``,
``documents``, ``tools`` and ``tool_results``.

Request fields that shape the conversation: ``preamble`` (system), ``chat_history`` (``USER`` /
``CHATBOT`` / ``SYSTEM`` / ``TOOL`` turns), ``documents`` (grounding text for the model),
``tools`` (``parameter_definitions`` become a JSON schema), ``tool_results`` (what the tools
returned) and ``message`` (the new user turn). Sampling: ``max_tokens``, ``temperature``, ``p``,
``k``, ``stop_sequences``, ``seed``. Response: ``{"response_id", "text", "generation_id",
"chat_history", "finish_reason", "tool_calls"}``; the stream is Cohere's events
(``stream-start``, ``text-generation``, ``tool-calls-generation``, ``stream-end`` with the
whole response and invocation metrics).
"""

from __future__ import annotations

import json
from typing import Any

from ..catalog import ModelRef
from ..constrained.tool_calls import render_call
from ..conversation import Block, Conversation, Finished, InferenceParams, Message, Started
from . import body_schema as s
from .codec import (
    METRICS_KEY,
    Chunk,
    Collector,
    Metrics,
    ParsedRequest,
    Source,
    TextCodec,
    ToolCallOut,
    random_id,
    raw_body,
    request_uuid,
)

DEFAULT_MAX_TOKENS = 512
_TYPES = {
    "str": "string", "string": "string", "int": "integer", "integer": "integer", "float": "number",
    "number": "number", "bool": "boolean", "boolean": "boolean", "dict": "object", "object": "object",
}  # fmt: skip

_TURN = s.obj(
    {
        "role": {"type": "string", "enum": ["USER", "CHATBOT", "SYSTEM", "TOOL"]},
        "message": s.STRING,
        "tool_calls": {"type": "array"},
        "tool_results": {"type": "array"},
    },
    ("role",),
)
SCHEMA = s.obj(
    {
        "message": s.STRING,
        "chat_history": {"type": "array", "items": _TURN},
        "documents": {"type": "array", "items": s.OPEN_OBJECT},
        "search_queries_only": s.BOOLEAN,
        "preamble": s.STRING,
        "max_tokens": s.integer(1, 4000),
        "temperature": s.number(0, 1),
        "p": s.number(0.01, 0.99),
        "k": s.integer(0, 500),
        "prompt_truncation": {"type": "string", "enum": ["OFF", "AUTO_PRESERVE_ORDER"]},
        "frequency_penalty": s.number(0, 1),
        "presence_penalty": s.number(0, 1),
        "seed": s.integer(),
        "return_prompt": s.BOOLEAN,
        "tools": {
            "type": "array",
            "items": s.obj(
                {"name": s.STRING, "description": s.STRING, "parameter_definitions": s.OPEN_OBJECT}, ("name",)
            ),
        },
        "tool_results": {"type": "array", "items": s.OPEN_OBJECT},
        "stop_sequences": s.strings(4),
        "raw_prompting": s.BOOLEAN,
    },
    ("message",),
)


def _json_schema(definitions: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, definition in (definitions or {}).items():
        definition = definition if isinstance(definition, dict) else {}
        kind = str(definition.get("type", "str"))
        lowered = kind.lower()
        if lowered.startswith("list"):
            prop: dict[str, Any] = {"type": "array"}
        else:
            prop = {"type": _TYPES.get(lowered, "string")}
        if definition.get("description"):
            prop["description"] = str(definition["description"])
        properties[name] = prop
        if definition.get("required"):
            required.append(name)
    return {"type": "object", "properties": properties, "required": required}


def _tool_config(tools: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    specs = []
    for tool in tools or []:
        spec: dict[str, Any] = {
            "name": tool["name"],
            "inputSchema": {"json": _json_schema(tool.get("parameter_definitions") or {})},
        }
        if tool.get("description"):
            spec["description"] = tool["description"]
        specs.append({"toolSpec": spec})
    return {"tools": specs, "toolChoice": {"auto": {}}} if specs else None


def _documents(documents: list[dict[str, Any]]) -> str:
    lines = ["Documents:"]
    for i, document in enumerate(documents):
        fields = "; ".join(f"{k}: {v}" for k, v in document.items() if k != "id")
        lines.append(f"[{document.get('id', f'doc_{i}')}] {fields}")
    return "\n".join(lines)


def _results_text(results: list[Any]) -> str:
    parts = []
    for result in results or []:
        if not isinstance(result, dict):
            continue
        call: dict[str, Any] = result["call"] if isinstance(result.get("call"), dict) else {}
        outputs = json.dumps(result.get("outputs", []), ensure_ascii=False, sort_keys=True)
        parts.append(f"{call.get('name', 'tool')}({json.dumps(call.get('parameters', {}))}) -> {outputs}")
    return "\n".join(parts)


def _history(turns: list[dict[str, Any]]) -> tuple[list[Block], list[Message]]:
    system: list[Block] = []
    messages: list[Message] = []

    def push(role: str, text: str) -> None:
        if messages and messages[-1].role == role:
            messages[-1].content.append({"text": text})
        else:
            messages.append(Message(role, [{"text": text}]))

    for turn in turns:
        role, text = turn["role"], str(turn.get("message") or "")
        if role == "SYSTEM":
            if text:
                system.append({"text": text})
        elif role == "CHATBOT":
            calls = [
                render_call(str(c.get("name")), c.get("parameters", {}))
                for c in turn.get("tool_calls") or []
                if isinstance(c, dict)
            ]
            push("assistant", "\n".join([t for t in [text, *calls] if t]) or "…")
        elif role == "TOOL":
            push("user", f"<tool_response>{_results_text(turn.get('tool_results') or [])}</tool_response>")
        else:
            push("user", text or "…")
    return system, messages


def finish_reason(done: Finished) -> str:
    return "MAX_TOKENS" if done.stop_reason == "max_tokens" else "COMPLETE"


class CohereRenderer(Collector):
    def __init__(self, request: ParsedRequest) -> None:
        super().__init__()
        self.request = request
        self.response_id = request_uuid()
        self.generation_id = request_uuid()

    def start(self, started: Started) -> list[Chunk]:
        super().start(started)
        return [{"is_finished": False, "event_type": "stream-start", "generation_id": self.generation_id}]

    def on_text(self, text: str) -> list[Chunk]:
        return [{"is_finished": False, "event_type": "text-generation", "text": text}]

    def on_tool_end(self, call: ToolCallOut | None) -> list[Chunk]:
        if call is None:
            return []
        calls = [{"name": call.name, "parameters": call.input}]
        event = {"is_finished": False, "event_type": "tool-calls-generation", "tool_calls": calls, "text": ""}
        return [event]

    def finish(self, done: Finished, metrics: Metrics) -> list[Chunk]:
        return [
            {
                "is_finished": True,
                "event_type": "stream-end",
                "response": self.body(done, metrics),
                "finish_reason": finish_reason(done),
                METRICS_KEY: metrics,
            }
        ]

    def body(self, done: Finished, metrics: Metrics) -> dict[str, Any]:
        options = self.request.options
        answer: dict[str, Any] = {"role": "CHATBOT", "message": self.text}
        tool_calls = [{"name": c.name, "parameters": c.input} for c in self.calls]
        if tool_calls:
            answer["tool_calls"] = tool_calls
        history = [*options["history"], {"role": "USER", "message": options["message"]}, answer]
        out: dict[str, Any] = {
            "response_id": self.response_id,
            "text": self.text,
            "generation_id": self.generation_id,
            "chat_history": history,
            "finish_reason": finish_reason(done),
        }
        if tool_calls:
            out["tool_calls"] = tool_calls
        if options.get("documents"):
            out["documents"] = options["documents"]
        if options.get("search_queries_only"):
            out["is_search_required"] = True
            out["search_queries"] = [{"text": options["message"], "generation_id": self.generation_id}]
        return out


class CohereCommandCodec(TextCodec):
    name = "cohere-command"

    def parse(self, source: Source, ref: ModelRef, *, streaming: bool = False) -> ParsedRequest:
        raw = raw_body(source)
        body = s.load_body(raw)
        s.check(body, SCHEMA)
        system, messages = _history(body.get("chat_history") or [])
        if body.get("preamble"):
            system.insert(0, {"text": body["preamble"]})
        if body.get("documents"):
            system.append({"text": _documents(body["documents"])})
        turn = body["message"] or "…"
        if body.get("tool_results"):
            turn = f"<tool_response>{_results_text(body['tool_results'])}</tool_response>\n{turn}".strip()
        if messages and messages[-1].role == "user":
            messages[-1].content.append({"text": turn})
        else:
            messages.append(Message("user", [{"text": turn}]))
        if messages[0].role != "user":
            messages.insert(0, Message("user", [{"text": "…"}]))
        conversation = Conversation(
            messages=messages,
            system=system,
            tool_config=_tool_config(body.get("tools")),
            params=InferenceParams(
                max_tokens=body.get("max_tokens", DEFAULT_MAX_TOKENS),
                temperature=body.get("temperature"),
                top_p=body.get("p"),
                top_k=body.get("k") or None,
                stop_sequences=list(body.get("stop_sequences") or []),
            ),
        )
        options = {
            "message": body["message"],
            "history": list(body.get("chat_history") or []),
            "documents": body.get("documents"),
            "search_queries_only": body.get("search_queries_only", False),
        }
        return ParsedRequest(conversation, options=options)

    def renderer(self, request: ParsedRequest, ref: ModelRef) -> CohereRenderer:
        return CohereRenderer(request)

    def new_tool_use_id(self) -> str:
        return random_id("", 12)
