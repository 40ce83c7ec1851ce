"""Hostile requests made from botocore's service models: a fuzzer of our own.

For every operation of bedrock-runtime and bedrock it builds requests the way a rest-json client
would lay them out (URI labels, query string, headers, JSON body or blob payload) from the
operation's input shape, then spoils them: wrong JSON types, required members missing, unknown
members, huge strings, bad UTF-8, garbage or deeply nested bodies, odd path labels. Each case is
sent raw over HTTP and judged: any status of 500 or more is a failure except 501 for an operation
Outcrop does not serve yet, and so is an in-stream ``internalServerException``.

Used by tests/test_fuzz.py (a small budget) and bench/fuzz.py (10,000 cases and more).
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from botocore.eventstream import EventStreamBuffer
from botocore.model import OperationModel, Shape, StructureShape

from outcrop.protocol.service_model import SERVICES, service_model

# Real ids, so that some cases get past model resolution into the codecs and the pipeline.
MODEL_IDS = [
    "anthropic.claude-3-haiku-20240307-v1:0",
    "us.anthropic.claude-3-haiku-20240307-v1:0",
    "amazon.nova-lite-v1:0",
    "meta.llama3-8b-instruct-v1:0",
    "mistral.mistral-7b-instruct-v0:2",
    "cohere.command-r-v1:0",
    "amazon.titan-text-express-v1",
    "amazon.titan-embed-text-v2:0",
    "openai.gpt-oss-20b-1:0",
    "stability.sd3-5-large-v1:0",
]
KINDS = (
    "plausible", "wrong_type", "missing", "extra", "huge", "bad_utf8", "garbage", "nested", "nested_member", "path",
)  # fmt: skip
DEEP = "__deeply_nested_json__"
_WEIRD = [
    "",
    " ",
    "\u0000",
    "\u202e",
    "%",
    "%%",
    "%zz",
    "..",
    "/",
    "\\",
    "😀",
    "\udcff",
    "' OR 1=1 --",
    "a" * 2000,
]


@dataclass
class Case:
    operation: str
    kind: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def label(self) -> str:
        return f"{self.operation}/{self.kind} {self.method} {self.path[:80]}"


@dataclass
class Outcome:
    case: Case
    status: int
    error: str  # the x-amzn-ErrorType code, or an in-stream exception's type
    failed: bool


def operations() -> list[OperationModel]:
    return [
        service_model(name).operation_model(op)
        for name in SERVICES
        for op in service_model(name).operation_names
    ]


class ShapeFuzzer:
    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)

    # ---- values -------------------------------------------------------------------------------

    def value(self, shape: Shape, depth: int = 0) -> Any:
        """A value of ``shape``, mostly within its constraints (lengths, ranges, enums)."""
        rng = self.rng
        kind = shape.type_name
        meta = shape.metadata
        if shape.metadata.get("document"):
            return {"k": rng.choice([1, "v", None, [1, 2], {"x": True}])}
        if kind == "structure":
            assert isinstance(shape, StructureShape)
            out: dict[str, Any] = {}
            members = list(shape.members.items())
            union = shape.metadata.get("union")
            if union and members:
                name, member = rng.choice(members)
                return {name: self.value(member, depth + 1)} if depth < 6 else {}
            for name, member in members:
                required = name in shape.required_members
                if required or (depth < 4 and rng.random() < 0.4):
                    out[name] = self.value(member, depth + 1)
            return out
        if kind == "list":
            if depth >= 6:
                return []
            low = int(meta.get("min", 0))
            return [self.value(shape.member, depth + 1) for _ in range(max(low, rng.randint(0, 2)))]
        if kind == "map":
            return {self._string(1, 8): self.value(shape.value, depth + 1) for _ in range(rng.randint(0, 2))}
        if kind == "string":
            enum = getattr(shape, "enum", None)
            if enum:
                return rng.choice(enum)
            return self._string(int(meta.get("min", 1)), min(int(meta.get("max", 40)), 40))
        if kind in ("integer", "long"):
            low, high = int(meta.get("min", 0)), int(meta.get("max", 100))
            return rng.randint(low, min(high, low + 100))
        if kind in ("float", "double"):
            return rng.uniform(float(meta.get("min", 0)), float(meta.get("max", 1)))
        if kind == "boolean":
            return rng.random() < 0.5
        if kind == "blob":
            return self._string(1, 30)
        if kind == "timestamp":
            return rng.choice([1700000000, "2024-01-01T00:00:00Z"])
        return None

    def _string(self, low: int, high: int) -> str:
        length = self.rng.randint(max(low, 0), max(high, low, 1))
        return "".join(self.rng.choice(string.ascii_letters + string.digits + " -_.:") for _ in range(length))

    def wrong(self) -> Any:
        return self.rng.choice(
            [None, 0, -1, 1.5, True, "", "x", [], [None], {}, {"a": {"b": []}}, 10**30, -(10**30)]
        )

    # ---- requests -----------------------------------------------------------------------------

    def case(self, op: OperationModel, kind: str) -> Case:
        rng = self.rng
        shape = op.input_shape
        params: dict[str, Any] = self.value(shape) if shape is not None else {}
        self._plausible_ids(op, params)
        if kind == "wrong_type" and params:
            params[rng.choice(list(params))] = self.wrong()
        elif kind == "missing" and shape is not None and shape.required_members:
            params.pop(rng.choice(shape.required_members), None)
        elif kind == "extra":
            params["unexpectedMember" + self._string(1, 5)] = self.wrong()
        elif kind == "nested_member":
            self._nest_inside(op, params)
        elif kind == "huge" and shape is not None:
            strings = [n for n, m in shape.members.items() if m.type_name in ("string", "blob")]
            if strings:
                params[rng.choice(strings)] = "A" * rng.choice([10_000, 300_000, 2_000_000])
        method, path, headers, body = self._layout(op, params, kind)
        if kind == "nested_member":
            body = body.replace(json.dumps(DEEP).encode(), self.deep_json())
        if kind == "bad_utf8":
            body = (
                body[: len(body) // 2]
                + rng.choice([b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\x80"])
                + body[len(body) // 2 :]
            )
        elif kind == "garbage":
            body = bytes(rng.getrandbits(8) for _ in range(rng.choice([1, 17, 4096])))
        elif kind == "nested":
            depth = rng.choice([200, 5000, 50_000])
            body = (
                (b"[" * depth + b"]" * depth)
                if rng.random() < 0.5
                else (b'{"a":' * depth + b"1" + b"}" * depth)
            )
        return Case(op.name, kind, method, path, headers, body)

    def _plausible_ids(self, op: OperationModel, params: dict[str, Any]) -> None:
        """Real model ids most of the time; Converse and InvokeModel bounded to a few tokens."""
        if "modelId" in params and self.rng.random() < 0.7:
            params["modelId"] = self.rng.choice(MODEL_IDS)
        if op.name in ("Converse", "ConverseStream"):
            config = params.setdefault("inferenceConfig", {})
            if isinstance(config, dict):
                config["maxTokens"] = self.rng.randint(1, 4)
        if op.name in ("InvokeModel", "InvokeModelWithResponseStream") and self.rng.random() < 0.5:
            params["body"] = json.dumps(
                {
                    "anthropic_version": "bedrock-2023-05-31",
                    "max_tokens": self.rng.randint(1, 4),
                    "messages": [{"role": "user", "content": self.value(self._any_string())}],
                    self._string(1, 6): self.wrong(),
                }
            )

    def _nest_inside(self, op: OperationModel, params: dict[str, Any]) -> None:
        """Deep but parseable JSON (a few hundred levels) inside a member that takes any JSON: a
        document member, or the InvokeModel body's messages and tool schemas."""
        deep = DEEP  # replaced by the nested JSON text once the body is laid out (json.dumps
        # itself cannot write JSON as deep as the server must read)
        shape = op.input_shape
        documents = (
            [n for n, m in shape.members.items() if m.metadata.get("document")] if shape is not None else []
        )
        if documents:
            params[self.rng.choice(documents)] = {"nested": deep}
        if op.name in ("Converse", "ConverseStream"):
            params["additionalModelRequestFields"] = {"top_k": deep}
            spec = {"name": "t", "inputSchema": {"json": {"type": "object", "properties": {"p": deep}}}}
            params["toolConfig"] = {"tools": [{"toolSpec": spec}]}
        if op.name in ("InvokeModel", "InvokeModelWithResponseStream"):
            tool = {"name": "t", "input_schema": {"type": "object", "properties": {"p": deep}}}
            body = {
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 4,
                "messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "x": deep}]}],
                "tools": [tool],
            }
            params["body"] = json.dumps(body)

    def deep_json(self) -> bytes:
        """JSON nested 100, 400 or 900 levels deep (objects and arrays mixed)."""
        text, closing = "", []
        for _ in range(self.rng.choice([100, 400, 900])):
            if self.rng.random() < 0.5:
                text, closing = text + '{"a":', [*closing, "}"]
            else:
                text, closing = text + "[", [*closing, "]"]
        return (text + '"x"' + "".join(reversed(closing))).encode()

    @staticmethod
    def _any_string() -> Shape:
        return Shape("S", {"type": "string", "max": 30})

    def _layout(
        self, op: OperationModel, params: dict[str, Any], kind: str
    ) -> tuple[str, str, dict[str, str], bytes]:
        """The request a rest-json client would send for ``params`` (laid out by member location)."""
        method = op.http["method"]
        uri = op.http["requestUri"].split("?", 1)[0]
        headers: dict[str, str] = {"content-type": "application/json"}
        query: list[str] = []
        body: dict[str, Any] = {}
        payload: bytes | None = None
        shape = op.input_shape
        members = shape.members if shape is not None else {}
        payload_name = shape.serialization.get("payload") if shape is not None else None
        for name, value in params.items():
            member = members.get(name)
            if member is None:
                body[name] = value
                continue
            location = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            if location == "uri":
                label = (
                    str(value)
                    if not (kind == "path" and self.rng.random() < 0.7)
                    else self.rng.choice(_WEIRD)
                )
                encoded = quote(label.encode("utf-8", "surrogatepass"), safe="")[:4000]
                uri = uri.replace("{" + wire + "+}", encoded).replace("{" + wire + "}", encoded)
            elif location == "querystring":
                text = json.dumps(value) if not isinstance(value, str) else value
                query.append(f"{quote(wire)}={quote(text.encode('utf-8', 'surrogatepass'))[:4000]}")
            elif location == "header":
                text = value if isinstance(value, str) else json.dumps(value)
                headers[wire] = "".join(c for c in text if 32 <= ord(c) < 127)[:1000]
            elif name == payload_name:
                payload = (
                    value.encode("utf-8", "surrogatepass")
                    if isinstance(value, str)
                    else json.dumps(value).encode()
                )
            else:
                body[wire] = value
        for label in ("modelId", "guardrailIdentifier", "resourceARN"):  # labels never filled in
            uri = uri.replace("{" + label + "}", "x").replace("{" + label + "+}", "x")
        path = uri + ("?" + "&".join(query) if query else "")
        data = (
            payload
            if payload is not None
            else (json.dumps(body).encode() if body or method != "GET" else b"")
        )
        return method, path, headers, data

    def cut_off_cases(self, count: int) -> Iterator[Case]:
        """Valid requests whose answer is cut short: a forced or offered tool call, JSON-ish
        output, or plain text, ended by a max-token limit of 1 to 30 tokens, for Converse and for
        every InvokeModel family that takes tools (their renderers meet partial calls here)."""
        ops = {op.name: op for op in operations()}
        schema = {
            "type": "object",
            "properties": {
                "city": {"type": "string", "maxLength": 40},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
                "tags": {"type": "array", "items": {"type": "string", "maxLength": 10}, "maxItems": 3},
            },
            "required": ["city"],
        }
        question = "What is the weather in Paris for the next 3 days?"
        for _ in range(count):
            rng = self.rng
            limit = rng.randint(1, 30)
            choice = rng.choice(["any", "tool", "auto", "none"])
            stream = rng.random() < 0.5
            family = rng.choice(["converse", "anthropic", "mistral", "openai", "cohere", "thinking", "cited"])
            if family == "converse":
                tool_choice = (
                    {"any": {}}
                    if choice in ("any", "none")
                    else ({"tool": {"name": "get_weather"}} if choice == "tool" else {"auto": {}})
                )
                params: dict[str, Any] = {
                    "modelId": "us.anthropic.claude-3-haiku-20240307-v1:0",
                    "messages": [{"role": "user", "content": [{"text": question}]}],
                    "toolConfig": {
                        "tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": schema}}}],
                        "toolChoice": tool_choice,
                    },
                    "inferenceConfig": {"maxTokens": limit},
                }
                op = ops["ConverseStream" if stream else "Converse"]
            elif family in ("thinking", "cited"):  # a reasoning phase, or citations, cut short
                document = {
                    "type": "document",
                    "title": "notes",
                    "source": {"type": "text", "media_type": "text/plain", "data": "Paris is sunny. " * 5},
                    "citations": {"enabled": True},
                }
                content: list[dict[str, Any]] = [{"type": "text", "text": question}]
                body = {
                    "anthropic_version": "bedrock-2023-05-31",
                    "max_tokens": limit,
                    "messages": [
                        {"role": "user", "content": [document, *content] if family == "cited" else content}
                    ],
                }
                if family == "thinking":
                    body["thinking"] = {"type": "adaptive"}
                params = {"modelId": "anthropic.claude-3-haiku-20240307-v1:0", "body": json.dumps(body)}
                op = ops["InvokeModelWithResponseStream" if stream else "InvokeModel"]
            else:
                body = self._family_body(family, choice, limit, schema, question)
                params = {"modelId": body.pop("__model"), "body": json.dumps(body)}
                op = ops["InvokeModelWithResponseStream" if stream else "InvokeModel"]
            method, path, headers, data = self._layout(op, params, "plausible")
            yield Case(op.name, f"cut_off:{family}:{choice}:{limit}", method, path, headers, data)

    @staticmethod
    def _family_body(
        family: str, choice: str, limit: int, schema: dict[str, Any], question: str
    ) -> dict[str, Any]:
        if family == "anthropic":
            tool_choice = {"any": {"type": "any"}, "tool": {"type": "tool", "name": "get_weather"}}.get(
                choice, {"type": choice}
            )
            return {
                "__model": "anthropic.claude-3-haiku-20240307-v1:0",
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": limit,
                "messages": [{"role": "user", "content": question}],
                "tools": [{"name": "get_weather", "input_schema": schema}],
                "tool_choice": tool_choice,
            }
        function = {"type": "function", "function": {"name": "get_weather", "parameters": schema}}
        if family == "cohere":
            return {
                "__model": "cohere.command-r-v1:0",
                "message": question,
                "max_tokens": limit,
                "tools": [
                    {
                        "name": "get_weather",
                        "description": "Weather",
                        "parameter_definitions": {"city": {"type": "str", "required": True}},
                    }
                ],
            }
        return {
            "__model": "mistral.mistral-large-2407-v1:0" if family == "mistral" else "openai.gpt-oss-20b-1:0",
            "messages": [{"role": "user", "content": question}],
            "max_tokens": limit,
            "tools": [function],
            "tool_choice": {"any": "any", "tool": "any", "auto": "auto", "none": "none"}[choice]
            if family == "mistral"
            else {"any": "required", "tool": "required", "auto": "auto", "none": "none"}[choice],
        }

    def cases(self, count: int) -> Iterator[Case]:
        ops = operations()
        for i in range(count):
            yield self.case(
                ops[i % len(ops)] if i < len(ops) else self.rng.choice(ops), self.rng.choice(KINDS)
            )


def send(client: httpx.Client, case: Case) -> Outcome:
    """Send one case and judge what came back (reading a stream to its end). A connection the
    server closes before the client finished sending (it answered early, and the client cannot
    read an answer once its own send failed) is status 0, not a failure."""
    try:
        return _send(client, case)
    except (httpx.LocalProtocolError, httpx.WriteError):  # refused while the client was still sending
        return Outcome(case, 0, "connection closed", False)
    except httpx.RemoteProtocolError as exc:  # an answer cut short is a failure
        return Outcome(case, 0, f"cut short: {exc}", True)


def _send(client: httpx.Client, case: Case) -> Outcome:
    with client.stream(case.method, case.path, headers=case.headers, content=case.body) as response:
        status = response.status_code
        error = response.headers.get("x-amzn-errortype", "").split(":")[0]
        if response.headers.get("content-type") == "application/vnd.amazon.eventstream":
            buffer = EventStreamBuffer()
            for chunk in response.iter_bytes():
                buffer.add_data(chunk)
                for message in buffer:
                    kind = message.headers.get(":exception-type")
                    if kind:
                        error = str(kind)
        else:
            response.read()
    # 501: an operation (or a model's body) Outcrop does not serve yet. Anything else from 500 up
    # (a 503 too: the model is loaded before the first case), a model error (424: the engine's
    # own failure, with the embedded model), or an error inside a stream, fails.
    in_stream = error[:1].islower()
    failed = (
        (status >= 500 and status != 501) or status == 424 or (in_stream and error != "throttlingException")
    )
    return Outcome(case, status, error, failed)
