"""Reading request members into Python values, and writing output members back, by shape.

rest-json semantics as botocore implements them on the client side, mirrored for a server:
members come from the URI, query string, headers or the JSON body (or a raw payload member);
blobs travel as base64 in JSON, timestamps as epoch seconds unless the shape says otherwise.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Any

from botocore.model import OperationModel, Shape, StructureShape

from .errors import SerializationException

_JSON_TYPE_NAMES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


def _type_error(shape: Shape, value: Any, path: str) -> SerializationException:
    return SerializationException(
        f"Unexpected {_JSON_TYPE_NAMES.get(type(value), 'value')} at '{path}': "
        f"expected a value of type {shape.type_name}"
    )


def _is_document(shape: Shape) -> bool:
    return bool(shape.metadata.get("document"))


def from_json(shape: Shape, value: Any, path: str) -> Any:
    """Convert one decoded JSON value into the Python value of ``shape``."""
    if value is None:
        return None
    if _is_document(shape):
        return value
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise _type_error(shape, value, path)
        assert isinstance(shape, StructureShape)
        out: dict[str, Any] = {}
        by_wire = {m.serialization.get("name", name): name for name, m in shape.members.items()}
        for key, item in value.items():
            name = by_wire.get(key)
            if name is None:
                continue  # AWS ignores members it does not model
            out[name] = from_json(shape.members[name], item, f"{path}.{name}" if path else name)
        return out
    if kind == "list":
        if not isinstance(value, list):
            raise _type_error(shape, value, path)
        member = shape.member
        return [from_json(member, item, f"{path}.{i + 1}.member") for i, item in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict):
            raise _type_error(shape, value, path)
        vshape = shape.value
        return {str(k): from_json(vshape, v, f"{path}.{k}") for k, v in value.items()}
    if kind == "string":
        if not isinstance(value, str):
            raise _type_error(shape, value, path)
        return value
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _type_error(shape, value, path)
        if isinstance(value, float) and not value.is_integer():
            raise _type_error(shape, value, path)
        return int(value)
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _type_error(shape, value, path)
        return float(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _type_error(shape, value, path)
        return value
    if kind == "blob":
        if not isinstance(value, str):
            raise _type_error(shape, value, path)
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise SerializationException(f"Invalid base64 value at '{path}'") from None
    if kind == "timestamp":
        return _parse_timestamp(value, shape, path)
    return value


_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "structure": (dict,),
    "list": (list, tuple),
    "map": (dict,),
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
    "boolean": (bool,),
    "blob": (bytes, bytearray),
    "timestamp": (dt.datetime, int, float),
}


def check_python(shape: Shape, value: Any, path: str = "") -> None:
    """Type-check input members given as Python values (an in-process caller's: bytes for blobs,
    datetimes for timestamps) the way ``from_json`` checks JSON, with the same errors."""
    if value is None or _is_document(shape):
        return
    kind = shape.type_name
    expected = _PYTHON_TYPES.get(kind)
    wrong_bool = isinstance(value, bool) and kind not in ("boolean",)
    if expected is not None and (not isinstance(value, expected) or wrong_bool):
        raise _type_error(shape, value, path)
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        for name, item in value.items():
            if name in shape.members:
                check_python(shape.members[name], item, f"{path}.{name}" if path else name)
    elif kind == "list":
        for i, item in enumerate(value):
            check_python(shape.member, item, f"{path}.{i + 1}.member")
    elif kind == "map":
        for key, item in value.items():
            check_python(shape.value, item, f"{path}.{key}")


def _parse_timestamp(value: Any, shape: Shape, path: str) -> dt.datetime:
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return dt.datetime.fromtimestamp(value, tz=dt.UTC)
        if isinstance(value, str):
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        pass
    raise _type_error(shape, value, path)


def from_text(shape: Shape, text: str, path: str) -> Any:
    """A member carried as text: URI label, query parameter or header."""
    kind = shape.type_name
    if kind in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            raise SerializationException(f"Invalid integer value '{text}' at '{path}'") from None
    if kind in ("float", "double"):
        try:
            return float(text)
        except ValueError:
            raise SerializationException(f"Invalid number value '{text}' at '{path}'") from None
    if kind == "boolean":
        if text.lower() not in ("true", "false"):
            raise SerializationException(f"Invalid boolean value '{text}' at '{path}'")
        return text.lower() == "true"
    if kind == "timestamp":
        return _parse_timestamp(text, shape, path)
    return text


def parse_input(
    op: OperationModel,
    labels: dict[str, str],
    query: dict[str, list[str]],
    headers: dict[str, str],
    body: bytes,
) -> dict[str, Any]:
    """All input members of ``op`` from one HTTP request (headers keyed in lower case)."""
    shape = op.input_shape
    params: dict[str, Any] = {}
    if shape is None:
        return params
    payload_name = shape.serialization.get("payload")
    body_members: dict[str, Shape] = {}
    for name, member in shape.members.items():
        where = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if where == "uri":
            if wire in labels:
                params[name] = from_text(member, labels[wire], name)
        elif where == "querystring":
            if member.type_name == "map":
                continue
            values = query.get(wire)
            if values:
                if member.type_name == "list":
                    params[name] = [from_text(member.member, v, name) for v in values]
                else:
                    params[name] = from_text(member, values[0], name)
        elif where == "header":
            text = headers.get(wire.lower())
            if text is not None:
                params[name] = from_text(member, text, name)
        elif name == payload_name:
            if member.type_name in ("blob", "string"):
                if body:
                    params[name] = body if member.type_name == "blob" else body.decode("utf-8", "replace")
            elif body:
                params[name] = from_json(member, _load_json(body), name)
        else:
            body_members[name] = member
    if body_members and body.strip():
        document = _load_json(body)
        if not isinstance(document, dict):
            raise SerializationException("Request body must be a JSON object")
        by_wire = {m.serialization.get("name", n): n for n, m in body_members.items()}
        for key, value in document.items():
            name = by_wire.get(key)
            if name is not None:
                params[name] = from_json(body_members[name], value, name)
    return params


def _load_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SerializationException(
            f"Unable to parse request body as JSON: {exc.msg if hasattr(exc, 'msg') else exc}"
        ) from None
    except RecursionError:
        raise SerializationException("Unable to parse request body as JSON: nested too deeply") from None


def to_json(shape: Shape, value: Any) -> Any:
    """Convert a Python output value into its JSON wire form."""
    if value is None:
        return None
    if _is_document(shape):
        return value
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        out = {}
        for name, item in value.items():
            member = shape.members.get(name)
            if member is None or item is None:
                continue
            out[member.serialization.get("name", name)] = to_json(member, item)
        return out
    if kind == "list":
        return [to_json(shape.member, item) for item in value]
    if kind == "map":
        return {k: to_json(shape.value, v) for k, v in value.items()}
    if kind == "blob":
        raw = value.encode() if isinstance(value, str) else value
        return base64.b64encode(raw).decode()
    if kind == "timestamp":
        stamp = value if isinstance(value, dt.datetime) else dt.datetime.fromtimestamp(value, tz=dt.UTC)
        if (
            shape.serialization.get("timestampFormat") == "iso8601"
            or shape.metadata.get("timestampFormat") == "iso8601"
        ):
            return stamp.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        return stamp.timestamp()
    return value


def serialize_output(
    op: OperationModel, data: dict[str, Any]
) -> tuple[list[tuple[str, str]], bytes | None, str | None]:
    """Headers, body and payload member name for a non-streaming output."""
    shape = op.output_shape
    headers: list[tuple[str, str]] = []
    if shape is None:
        return headers, b"{}", None
    payload_name = shape.serialization.get("payload")
    body: dict[str, Any] = {}
    raw: bytes | None = None
    for name, member in shape.members.items():
        if name not in data or data[name] is None:
            continue
        value = data[name]
        where = member.serialization.get("location")
        if where == "header":
            headers.append((member.serialization.get("name", name).lower(), _header_text(value)))
        elif where == "statusCode":
            continue
        elif name == payload_name:
            if member.type_name == "blob":
                raw = value if isinstance(value, bytes) else str(value).encode()
            else:
                raw = json.dumps(to_json(member, value)).encode()
        else:
            body[member.serialization.get("name", name)] = to_json(member, value)
    if raw is None and payload_name is None:
        raw = json.dumps(body).encode()
        headers.append(("content-type", "application/json"))
    return headers, raw, payload_name


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.strftime("%a, %d %b %Y %H:%M:%S GMT")
    return str(value)
