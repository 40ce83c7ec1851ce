"""A small JSON Schema checker for tool inputs, and a repair for what grammars cannot express.

llama.cpp's schema-to-grammar converter enforces types, required and allowed properties, enums
and small length bounds, but not numeric bounds (and large length bounds would make huge
grammars). So after a grammar-constrained tool call, numbers are clamped into their bounds and
over-long strings and arrays are cut (``repair``), then the result is checked (``problems``).

Only the keywords tool schemas use in practice are understood; unknown keywords are ignored,
as JSON Schema says.
"""

from __future__ import annotations

import math
import re
from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "null": (type(None),),
    "number": (int, float),
    "integer": (int, float),
}


def _is_type(value: Any, kind: str) -> bool:
    if kind in ("number", "integer") and isinstance(value, bool):
        return False
    if kind == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    types = _TYPES.get(kind)
    return True if types is None else isinstance(value, types)


def _resolve(schema: Any, root: dict[str, Any]) -> Any:
    """Follow a local ``$ref`` (``#/definitions/x``, ``#/$defs/x``); others are left as they are."""
    seen = 0
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < 32:
        ref = schema["$ref"]
        if not ref.startswith("#"):
            return {}
        target: Any = root
        for part in ref[1:].split("/")[1:] if ref != "#" else []:
            if not isinstance(target, dict) or part not in target:
                return {}
            target = target[part]
        schema = target
        seen += 1
    return schema


def problems(schema: Any, value: Any, root: dict[str, Any] | None = None, path: str = "") -> list[str]:
    """Every way ``value`` breaks ``schema`` (empty when it validates)."""
    if root is None:
        root = schema if isinstance(schema, dict) else {}
    schema = _resolve(schema, root)
    if schema is True or not isinstance(schema, dict):
        return [] if schema is not False else [f"{path or '/'}: no value is allowed"]
    where = path or "/"
    out: list[str] = []
    kind = schema.get("type")
    if isinstance(kind, str) and not _is_type(value, kind):
        return [f"{where}: expected {kind}"]
    if isinstance(kind, list) and not any(_is_type(value, k) for k in kind if isinstance(k, str)):
        return [f"{where}: expected one of {kind}"]
    if "const" in schema and value != schema["const"]:
        out.append(f"{where}: expected {schema['const']!r}")
    if isinstance(schema.get("enum"), list) and value not in schema["enum"]:
        out.append(f"{where}: not one of {schema['enum']}")
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            passing = sum(1 for option in options if not problems(option, value, root, path))
            if passing == 0 or (key == "oneOf" and passing > 1):
                out.append(f"{where}: does not match {key}")
    for option in _list(schema.get("allOf")):
        out += problems(option, value, root, path)
    if isinstance(value, dict):
        out += _object_problems(schema, value, root, path)
    elif isinstance(value, list):
        out += _array_problems(schema, value, root, path)
    elif isinstance(value, str):
        out += _string_problems(schema, value, where)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        out += _number_problems(schema, value, where)
    return out


def _object_problems(
    schema: dict[str, Any], value: dict[str, Any], root: dict[str, Any], path: str
) -> list[str]:
    out: list[str] = []
    properties = _properties(schema)
    for name in _list(schema.get("required")):
        if isinstance(name, str) and name not in value:
            out.append(f"{path or '/'}: missing required property {name!r}")
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in properties:
            out += problems(properties[name], item, root, f"{path}/{name}")
        elif extra is False:
            out.append(f"{path or '/'}: property {name!r} is not allowed")
        elif isinstance(extra, dict):
            out += problems(extra, item, root, f"{path}/{name}")
    return out


def _array_problems(schema: dict[str, Any], value: list[Any], root: dict[str, Any], path: str) -> list[str]:
    out: list[str] = []
    if isinstance(schema.get("minItems"), int) and len(value) < schema["minItems"]:
        out.append(f"{path or '/'}: fewer than {schema['minItems']} items")
    if isinstance(schema.get("maxItems"), int) and len(value) > schema["maxItems"]:
        out.append(f"{path or '/'}: more than {schema['maxItems']} items")
    items = schema.get("items")
    if isinstance(items, dict):
        for i, item in enumerate(value):
            out += problems(items, item, root, f"{path}/{i}")
    return out


def _string_problems(schema: dict[str, Any], value: str, where: str) -> list[str]:
    out: list[str] = []
    if isinstance(schema.get("minLength"), int) and len(value) < schema["minLength"]:
        out.append(f"{where}: shorter than {schema['minLength']}")
    if isinstance(schema.get("maxLength"), int) and len(value) > schema["maxLength"]:
        out.append(f"{where}: longer than {schema['maxLength']}")
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            if re.search(pattern, value) is None:
                out.append(f"{where}: does not match {pattern!r}")
        except re.error:
            pass
    return out


def _number_problems(schema: dict[str, Any], value: float, where: str) -> list[str]:
    out: list[str] = []
    low, high = _bound(schema, "minimum"), _bound(schema, "maximum")
    if low is not None and value < low:
        out.append(f"{where}: less than {low}")
    if high is not None and value > high:
        out.append(f"{where}: greater than {high}")
    xlow, xhigh = _bound(schema, "exclusiveMinimum"), _bound(schema, "exclusiveMaximum")
    if xlow is not None and value <= xlow:
        out.append(f"{where}: not greater than {xlow}")
    if xhigh is not None and value >= xhigh:
        out.append(f"{where}: not less than {xhigh}")
    return out


def _bound(schema: dict[str, Any], key: str) -> float | None:
    value = schema.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return value
    return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _properties(schema: dict[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties")
    return properties if isinstance(properties, dict) else {}


def repair(schema: Any, value: Any, root: dict[str, Any] | None = None) -> Any:
    """Clamp numbers into their schema's bounds, recursively; everything else is kept as is."""
    if root is None:
        root = schema if isinstance(schema, dict) else {}
    schema = _resolve(schema, root)
    if not isinstance(schema, dict):
        return value
    if isinstance(value, dict):
        properties = _properties(schema)
        return {k: repair(properties.get(k, {}), v, root) for k, v in value.items()}
    if isinstance(value, list):
        if isinstance(schema.get("maxItems"), int):
            value = value[: schema["maxItems"]]
        items = schema.get("items")
        return [repair(items, v, root) for v in value] if isinstance(items, dict) else value
    if isinstance(value, str) and isinstance(schema.get("maxLength"), int):
        return value[: schema["maxLength"]]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _clamp(schema, value)
    return value


def _clamp(schema: dict[str, Any], value: float) -> float:
    integer = schema.get("type") == "integer"
    step = 1 if integer else 1e-9
    low, high = _bound(schema, "minimum"), _bound(schema, "maximum")
    xlow, xhigh = _bound(schema, "exclusiveMinimum"), _bound(schema, "exclusiveMaximum")
    if xlow is not None:
        low = xlow + step if low is None else max(low, xlow + step)
    if xhigh is not None:
        high = xhigh - step if high is None else min(high, xhigh - step)
    if low is not None and value < low:
        value = math.ceil(low) if integer else low
    if high is not None and value > high:
        value = math.floor(high) if integer else high
    if integer and isinstance(value, float) and value.is_integer():
        return int(value)
    return value
