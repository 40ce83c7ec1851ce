"""Tool use for local models: the prompt that offers tools, the grammar that makes calls valid,
and the parser that turns generated text back into tool calls.

Built once for every API: it reads the canonical tool configuration (Converse's ``toolConfig``:
``tools[].toolSpec{name, description, inputSchema.json}`` and ``toolChoice``), so Anthropic
Messages, Converse and any later format share it.

A call is written the way open models are trained to write them (Hermes / Qwen style)::

    <tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>

Everything after ``<tool_call>`` is generated under a GBNF grammar built from the tools'
input schemas (llama.cpp's JSON-schema converter), so the name is one of the tools and the
arguments parse and follow the schema; numeric bounds, which the converter cannot express,
are clamped afterwards (``schema_check.repair``).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jiter

from ..conversation import ToolCall
from . import schema_check

log = logging.getLogger("outcrop.tools")

TOOL_OPEN = "<tool_call>"
TOOL_CLOSE = "</tool_call>"
_NAME_PREFIX = '{"name": '
_ARGS_PREFIX = ', "arguments": '
_CALL_END = "}" + TOOL_CLOSE
# JSON string characters without raw control characters (llama.cpp's rule allows them, which
# produces strings that strict JSON parsers refuse).
_SAFE_CHAR = r'[^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])'
# Schema keywords passed to the grammar converter; the rest are documentation or constraints
# it cannot express (patterns are dropped: its regex rules can emit unescaped quotes).
_GRAMMAR_KEYWORDS = {
    "type", "properties", "required", "additionalProperties", "items", "prefixItems", "enum",
    "const", "anyOf", "oneOf", "allOf", "$ref", "definitions", "$defs", "minItems", "maxItems",
    "minLength", "maxLength", "format",
}  # fmt: skip
_GRAMMAR_FORMATS = {"date", "time", "date-time", "uuid"}
# Length bounds become nested grammar rules, one level per unit: large ones are left to
# ``schema_check.repair`` (which truncates) instead of making megabyte grammars.
_MAX_GRAMMAR_BOUND = 64


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class ToolMode:
    """How the model may use tools: auto (its choice), any (must call one), tool (must call
    ``name``), none (must not call)."""

    kind: str
    name: str | None = None

    @property
    def forced(self) -> bool:
        return self.kind in ("any", "tool")


def tool_specs(tool_config: dict[str, Any] | None) -> list[ToolSpec]:
    """The tools of a canonical (Converse-shaped) tool configuration."""
    specs: list[ToolSpec] = []
    for tool in (tool_config or {}).get("tools") or []:
        spec = tool.get("toolSpec") if isinstance(tool, dict) else None
        if not isinstance(spec, dict) or not spec.get("name"):
            continue
        schema = (spec.get("inputSchema") or {}).get("json")
        if isinstance(schema, str):
            try:
                schema = json.loads(schema)
            except (json.JSONDecodeError, RecursionError):
                schema = {}
        specs.append(
            ToolSpec(
                str(spec["name"]),
                str(spec.get("description") or ""),
                schema if isinstance(schema, dict) else {},
            )
        )
    return specs


def tool_mode(tool_config: dict[str, Any] | None) -> ToolMode:
    """Converse's toolChoice (auto/any/tool); ``{"none": {}}`` is Outcrop's internal extension for
    formats that have it (Anthropic's ``tool_choice: none``)."""
    choice = (tool_config or {}).get("toolChoice") or {"auto": {}}
    if "tool" in choice:
        return ToolMode("tool", str((choice["tool"] or {}).get("name", "")))
    for kind in ("any", "none"):
        if kind in choice:
            return ToolMode(kind)
    return ToolMode("auto")


# ---- the prompt ---------------------------------------------------------------------------


def _type_text(schema: Any, depth: int = 0) -> str:
    if not isinstance(schema, dict):
        return "any"
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        values = [json.dumps(v) for v in schema["enum"][:6]]
        return " | ".join(values) + (" | …" if len(schema["enum"]) > 6 else "")
    if "const" in schema:
        return json.dumps(schema["const"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(str(k) for k in kind)
    if kind == "array" and depth < 2:
        return f"{_type_text(schema.get('items'), depth + 1)}[]"
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list) and depth < 2:
            return " | ".join(_type_text(s, depth + 1) for s in schema[key][:4])
    return str(kind) if kind else "any"


def _names(value: Any) -> set[str]:
    return {v for v in value if isinstance(v, str)} if isinstance(value, list) else set()


def signature(spec: ToolSpec) -> str:
    """``name(arg: type, optional?: type)``: what a small model needs to fill in a call."""
    properties = spec.schema.get("properties")
    if not isinstance(properties, dict):
        properties = {}
    required = _names(spec.schema.get("required"))
    args = [f"{n}{'' if n in required else '?'}: {_type_text(s)}" for n, s in properties.items()]
    return f"{spec.name}({', '.join(args)})"


def describe_tools(tool_config: dict[str, Any] | None) -> str:
    """The system-prompt section that offers the tools and says how to call them ("" if none)."""
    specs = tool_specs(tool_config)
    mode = tool_mode(tool_config)
    if not specs or mode.kind == "none":
        return ""
    lines = ["# Tools", "You can call these tools:"]
    for spec in specs:
        description = " ".join(spec.description.split())
        lines.append(f"- {signature(spec)}" + (f": {description}" if description else ""))
    lines.append(
        f'To call a tool, reply with only {TOOL_OPEN}{{"name": "<tool name>", "arguments": '
        f"{{<arguments as JSON>}}}}{TOOL_CLOSE}"
    )
    lines.append(tool_instruction(tool_config) or "If no tool is needed, answer in plain text.")
    return "\n".join(lines)


def tool_instruction(tool_config: dict[str, Any] | None) -> str:
    """What a forced tool choice tells the model ("" for auto and none): the only part of the
    offer added to the system prompt when the chat template lists the tools itself."""
    mode = tool_mode(tool_config)
    if not tool_specs(tool_config):
        return ""
    if mode.kind == "any":
        return "You must call one of the tools now."
    if mode.kind == "tool":
        return f"You must call the tool {mode.name} now."
    return ""


def template_tools(tool_config: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """The offered tools as chat templates take them (the OpenAI / Hugging Face ``tools`` list);
    None when no tool is offered."""
    if tool_mode(tool_config).kind == "none":
        return None
    tools = [
        {
            "type": "function",
            "function": {
                "name": s.name,
                "description": s.description,
                "parameters": s.schema or {"type": "object"},
            },
        }
        for s in tool_specs(tool_config)
    ]
    return tools or None


def render_call(name: str, arguments: Any) -> str:
    """A past tool call, written as the model is asked to write one."""
    return f"{TOOL_OPEN}{json.dumps({'name': name, 'arguments': arguments}, ensure_ascii=False)}{TOOL_CLOSE}"


# ---- the grammar --------------------------------------------------------------------------


def _sanitize(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_sanitize(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in _GRAMMAR_KEYWORDS:
            continue
        if key == "format" and value not in _GRAMMAR_FORMATS:
            continue
        if key in ("minLength", "maxLength", "minItems", "maxItems") and (
            not isinstance(value, int) or value > _MAX_GRAMMAR_BOUND
        ):
            continue
        if key in ("properties", "definitions", "$defs") and isinstance(value, dict):
            out[key] = {k: _sanitize(v) for k, v in value.items()}
        elif key == "additionalProperties":
            # The converter would force extra values to be objects; extra keys are optional for
            # the schema, so the grammar simply leaves them out.
            if value is False:
                out[key] = False
        else:
            out[key] = _sanitize(value)
    if out.get("type") == "object" and "properties" not in out:
        out.pop("additionalProperties", None)
    return out


# Public names for other grammars (structured output) that must accept the same schemas.
SAFE_CHAR_RULE = _SAFE_CHAR


def sanitize_schema(schema: Any) -> Any:
    """A schema reduced to what the grammar converter handles well (see ``_sanitize``)."""
    return _sanitize(schema)


def call_grammar(specs: Sequence[ToolSpec], only: str | None = None) -> str:
    """GBNF for what follows ``<tool_call>``: one call of one of ``specs`` (or just ``only``)."""
    chosen = [(s.name, s.schema) for s in specs if only is None or s.name == only]
    return _call_grammar(json.dumps(chosen, sort_keys=True))


@functools.lru_cache(maxsize=32)
def _call_grammar(key: str) -> str:
    from llama_cpp.llama_grammar import LlamaGrammar

    tools: list[tuple[str, dict[str, Any]]] = json.loads(key)
    text = _build(tools, generic=False)
    try:
        LlamaGrammar.from_string(text, verbose=False)
    except Exception:  # a schema the converter mishandled: any JSON object, checked afterwards
        log.warning("tool grammar did not compile; falling back to generic JSON arguments")
        text = _build(tools, generic=True)
    return text


def _build(tools: list[tuple[str, dict[str, Any]]], *, generic: bool) -> str:
    from llama_cpp.llama_grammar import PRIMITIVE_RULES, SchemaConverter

    def converter() -> SchemaConverter:
        return SchemaConverter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)

    shared = converter()
    alternatives = []
    for i, (name, schema) in enumerate(tools):
        rule = None
        if not generic:
            clean = _sanitize(schema) or {"type": "object"}
            try:
                converter().visit(converter().resolve_refs(json.loads(json.dumps(clean)), f"t{i}"), f"t{i}")
                rule = shared.visit(shared.resolve_refs(clean, f"t{i}"), f"t{i}")
            except Exception as exc:
                log.warning("tool %s: schema not expressible as a grammar (%s); using any object", name, exc)
        if rule is None:
            rule = shared._add_primitive("object", PRIMITIVE_RULES["object"])
        head = shared._format_literal(json.dumps(name) + _ARGS_PREFIX)
        alternatives.append(shared._add_rule(f"t{i}-call", f"{head} {rule}"))
    if "char" in shared._rules:
        shared._rules["char"] = _SAFE_CHAR
    calls = " | ".join(alternatives)
    shared._rules["root"] = (
        f"{shared._format_literal(_NAME_PREFIX)} ( {calls} ) {shared._format_literal(_CALL_END)}"
    )
    return str(shared.format_grammar())


# ---- parsing ------------------------------------------------------------------------------


def parse_call(text: str, specs: Sequence[ToolSpec]) -> ToolCall | None:
    """The call in ``text`` (what followed ``<tool_call>``), repaired and checked; None if the
    text is not a complete call (generation stopped early)."""
    body = text.strip()
    if body.startswith(TOOL_OPEN):
        body = body[len(TOOL_OPEN) :]
    if body.endswith(TOOL_CLOSE):
        body = body[: -len(TOOL_CLOSE)]
    try:
        data = json.loads(body, strict=False)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return None
    spec = next((s for s in specs if s.name == data["name"]), None)
    if spec is None:
        return None
    arguments = positional(data.get("arguments"), spec.schema)
    if not isinstance(arguments, dict):
        return None
    fixed = schema_check.repair(spec.schema, arguments)
    issues = schema_check.problems(spec.schema, fixed)
    if issues:
        log.warning("tool call %s does not match its schema: %s", spec.name, "; ".join(issues))
    return ToolCall(spec.name, fixed, issues)


def positional(arguments: Any, schema: dict[str, Any]) -> Any:
    """Arguments a small model wrote positionally (``["ls -la"]`` or ``"ls -la"`` for a tool whose
    one required parameter is ``command``), named after the schema's required parameters in
    order; anything else as it was (the schema check then judges it)."""
    if isinstance(arguments, dict):
        return arguments
    values = arguments if isinstance(arguments, list) else [arguments] if isinstance(arguments, str) else None
    required = [n for n in schema.get("required") or [] if isinstance(n, str)]
    if values is None or not values or len(values) > len(required):
        return arguments
    return dict(zip(required, values, strict=False))


class CallStream:
    """Splits a streamed call into its tool name and its argument JSON, as it is generated.

    The grammar fixes the layout ``{"name": "N", "arguments": ARGS}</tool_call>``, so the name
    is known as soon as ``, "arguments": `` appears, and the arguments can be passed on while
    the last few characters (which may be the closing ``}</tool_call>``) are held back.
    """

    _HOLD = len(_CALL_END) + 1

    def __init__(self) -> None:
        self.text = ""
        self.name: str | None = None
        self._sent = 0  # characters of the arguments already passed on
        self._args_at = -1

    def feed(self, piece: str) -> tuple[str | None, str]:
        """Add generated text; returns (the tool name if it just became known, argument text)."""
        self.text += piece
        new_name = None
        if self.name is None:
            at = self.text.find(_ARGS_PREFIX)
            if at < 0:
                return None, ""
            try:
                name = json.loads(self.text[len(_NAME_PREFIX) : at])
            except json.JSONDecodeError:
                name = self.text[len(_NAME_PREFIX) : at].strip('"')
            self.name = new_name = str(name)
            self._args_at = at + len(_ARGS_PREFIX)
        ready = len(self.text) - self._HOLD
        out = ""
        if ready > self._args_at + self._sent:
            out = self.text[self._args_at + self._sent : ready]
            self._sent += len(out)
        return new_name, out

    def finish(self) -> str:
        """The rest of the argument text once generation ended."""
        if self.name is None:
            return ""
        rest = self.text[self._args_at + self._sent :]
        if rest.endswith(_CALL_END):
            rest = rest[: -len(_CALL_END)].rstrip()
        self._sent += len(rest)
        return rest


def partial_input(arguments: str) -> dict[str, Any]:
    """The arguments of a call cut off mid-way, as far as they go: open strings, lists and objects
    closed, a member whose value had not started dropped (``{}`` when nothing usable was
    written). What Bedrock returns as the input of a tool use that ran into max tokens."""
    try:
        value = jiter.from_json(arguments.encode(), partial_mode="trailing-strings")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# ---- calls written as plain text ----------------------------------------------------------

# Openings other models use for a call; each is a stop sequence in auto mode, and the call is then
# generated under the grammar like one opened with <tool_call> (Mistral's [TOOL_CALLS], Llama
# 3.1's <|python_tag|>, Hermes/Qwen's own <tool_call>).
CALL_OPENERS = (TOOL_OPEN, "[TOOL_CALLS]", "<|python_tag|>")


MAX_BARE_CALL = 4000  # characters held back at most before an answer is taken for text


class BareCalls:
    """Holds back an auto-mode answer that may be a tool call written as bare JSON (an object
    naming a tool with its ``arguments``/``parameters``, a list of them, or either in a code
    fence), which is how many small instruct models call tools. Text that cannot be one is
    released at once; what was held is decided at the end of the answer."""

    def __init__(self) -> None:
        self.held = ""
        self.deciding = True

    def feed(self, text: str) -> str:
        """Text to pass on now ("" while it may still be a call)."""
        if not self.deciding:
            return text
        self.held += text
        if self._may_be_call(self.held.lstrip()):
            return ""
        self.deciding = False
        out, self.held = self.held, ""
        return out

    @classmethod
    def _may_be_call(cls, text: str) -> bool:
        if len(text) > MAX_BARE_CALL:
            return False
        if not text:
            return True
        if text[0] == "{":
            return cls._names_first(text)
        if text[0] == "[":  # a list of calls, not a "[1] …" reference
            rest = text[1:].lstrip()
            return not rest or (rest[0] == "{" and cls._names_first(rest))
        if len(text) < 3 and "```".startswith(text):
            return True  # perhaps the start of a code fence
        if text.startswith("```"):
            line_end = text.find("\n")
            if line_end < 0:
                return True
            body = text[line_end + 1 :].lstrip()
            return not body or (body[0] in "{[" and cls._may_be_call(body))
        return False

    @staticmethod
    def _names_first(text: str) -> bool:
        """An object whose first key is (or may still become) "name", as a call's is."""
        rest = text[1:].lstrip()
        if not rest:
            return True
        if rest[0] != '"':
            return False
        end = rest.find('"', 1)
        return "name".startswith(rest[1:]) if end < 0 else rest[1:end] == "name"

    def calls(self, specs: Sequence[ToolSpec]) -> list[ToolCall] | None:
        """The calls the held text makes (checked like grammar-made ones), or None: it is text."""
        body = self.held.strip()
        if body.startswith("```"):
            body = body.split("\n", 1)[1] if "\n" in body else ""
            body = body.rsplit("```", 1)[0].strip()
        try:
            data = json.loads(body)
        except json.JSONDecodeError:
            return None
        items = data if isinstance(data, list) else [data]
        out = []
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                return None
            arguments = item.get("arguments", item.get("parameters", {}))
            call = parse_call(json.dumps({"name": item["name"], "arguments": arguments}), specs)
            if call is None:
                return None
            out.append(call)
        return out or None
