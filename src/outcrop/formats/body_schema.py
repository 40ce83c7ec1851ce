"""Checking a native InvokeModel body the way Bedrock checks it, with Bedrock's words.

Bedrock validates each model family's body against a JSON schema (the Everit validator) before
the model runs, and answers with every violation concatenated::

    Malformed input request: #: required key [prompt] not found#: extraneous key [max_tokens] is
    not permitted, please reformat your input and try again.

Schemas here are small dicts in JSON Schema's vocabulary (``type``, ``properties``,
``required``, ``additionalProperties``, ``minimum``/``maximum``, ``minLength``/``maxLength``,
``minItems``/``maxItems``, ``items``, ``enum``, ``anyOf``). Objects refuse keys they do not
list unless ``additionalProperties`` is true, as Bedrock's schemas do. Order of the messages
is Everit's: type, required keys, keys not permitted, then each property in body order.
"""

from __future__ import annotations

import json
from typing import Any

from ..protocol.errors import ValidationException

Schema = dict[str, Any]

MALFORMED = "Malformed input request, please reformat your input and try again."


def malformed(violations: list[str]) -> ValidationException:
    return ValidationException(
        f"Malformed input request: {''.join(violations)}, please reformat your input and try again."
    )


def load_body(raw: bytes) -> Any:
    """The body as JSON; Bedrock's message when it is not JSON at all."""
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ValidationException(MALFORMED) from None


def check(body: Any, schema: Schema) -> None:
    """Raise Bedrock's ValidationException listing every violation, or return."""
    out: list[str] = []
    _visit("#", body, schema, out)
    if out:
        raise malformed(out)


def found(value: Any) -> str:
    """Everit's (Java) name for a JSON value's type."""
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "BigDecimal"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "JSONArray"
    return "JSONObject"


_TYPES: dict[str, tuple[str, Any]] = {
    "integer": ("Integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "number": ("Number", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
    "string": ("String", lambda v: isinstance(v, str)),
    "boolean": ("Boolean", lambda v: isinstance(v, bool)),
    "array": ("JSONArray", lambda v: isinstance(v, list)),
    "object": ("JSONObject", lambda v: isinstance(v, dict)),
}


def _num(value: Any) -> str:
    return str(value)


def _visit(path: str, value: Any, schema: Schema, out: list[str]) -> None:
    if "anyOf" in schema:
        options = schema["anyOf"]
        trial: list[list[str]] = []
        for option in options:
            sub: list[str] = []
            _visit(path, value, option, sub)
            if not sub:
                return
            trial.append(sub)
        out.append(f"{path}: #: no subschema matched out of the total {len(options)} subschemas")
        return
    kind = schema.get("type")
    if kind is not None:
        name, test = _TYPES[kind]
        if not test(value):
            out.append(f"{path}: expected type: {name}, found: {found(value)}")
            return
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path}: {value} is not a valid enum value")
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and value < low:
            out.append(f"{path}: {_num(value)} is not greater or equal to {_num(low)}")
        if high is not None and value > high:
            out.append(f"{path}: {_num(value)} is not less or equal to {_num(high)}")
        low = schema.get("exclusiveMinimum")
        if low is not None and value <= low:
            out.append(f"{path}: {_num(value)} is not greater than {_num(low)}")
    elif isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            out.append(f"{path}: expected minLength: {schema['minLength']}, actual: {len(value)}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            out.append(f"{path}: expected maxLength: {schema['maxLength']}, actual: {len(value)}")
    elif isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            out.append(f"{path}: expected minimum item count: {schema['minItems']}, found: {len(value)}")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            out.append(f"{path}: expected maximum item count: {schema['maxItems']}, found: {len(value)}")
        if "items" in schema:
            for i, item in enumerate(value):
                _visit(f"{path}/{i}", item, schema["items"], out)
    elif isinstance(value, dict):
        properties: dict[str, Schema] = schema.get("properties", {})
        for key in schema.get("required", ()):
            if key not in value:
                out.append(f"{path}: required key [{key}] not found")
        if not schema.get("additionalProperties", False) and "properties" in schema:
            for key in value:
                if key not in properties:
                    out.append(f"{path}: extraneous key [{key}] is not permitted")
        for key, item in value.items():
            if key in properties:
                _visit(f"{path}/{key}", item, properties[key], out)


# Building blocks the family schemas share.
STRING: Schema = {"type": "string"}
BOOLEAN: Schema = {"type": "boolean"}
ANY: Schema = {}
OPEN_OBJECT: Schema = {"type": "object", "additionalProperties": True}


def number(low: float | None = None, high: float | None = None) -> Schema:
    out: Schema = {"type": "number"}
    if low is not None:
        out["minimum"] = low
    if high is not None:
        out["maximum"] = high
    return out


def integer(low: int | None = None, high: int | None = None) -> Schema:
    out: Schema = {"type": "integer"}
    if low is not None:
        out["minimum"] = low
    if high is not None:
        out["maximum"] = high
    return out


def strings(max_items: int | None = None) -> Schema:
    out: Schema = {"type": "array", "items": STRING}
    if max_items is not None:
        out["maxItems"] = max_items
    return out


def obj(properties: dict[str, Schema], required: tuple[str, ...] = (), *, open: bool = False) -> Schema:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": open}
