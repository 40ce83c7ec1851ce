"""Constraint checks from the service model, with the messages AWS's front end produces.

AWS reports every violated constraint at once, for example::

    1 validation error detected: Value '0' at 'inferenceConfig.maxTokens' failed to satisfy
    constraint: Member must have value greater than or equal to 1

List elements are addressed as ``messages.1.member.role`` (1-based), as AWS does.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from botocore.model import Shape, StructureShape

from .errors import ValidationException


def _show(value: Any, depth: int = 0) -> str:
    """A value as AWS's validation messages show it (Java's toString); deep values are elided."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return f"java.nio.HeapByteBuffer[pos=0 lim={len(value)} cap={len(value)}]"
    if isinstance(value, list | dict) and depth >= _SHOW_DEPTH:
        return "[...]" if isinstance(value, list) else "{...}"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v, depth + 1) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_show(v, depth + 1)}" for k, v in value.items()) + "}"
    return str(value)


_SHOW_DEPTH = 32


class _Failure:
    """The start of a constraint message, rendered only when a constraint fails. A sensitive
    member's value is never shown (AWS: ``Value at 'body' failed to satisfy constraint…``)."""

    def __init__(self, value: Any, path: str, sensitive: bool = False) -> None:
        self.value, self.path, self.sensitive = value, path, sensitive

    @property
    def text(self) -> str:
        shown = "" if self.sensitive else f" '{_show(self.value)}'"
        return f"Value{shown} at '{self.path}' failed to satisfy constraint: Member must"


@functools.cache
def _pattern(text: str) -> re.Pattern[str] | None:
    try:
        return re.compile(text)
    except re.error:
        return None


def _check(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if value is None or shape.metadata.get("document"):
        return
    meta = shape.metadata
    kind = shape.type_name
    fail = _Failure(value, path, bool(meta.get("sensitive")))
    if kind == "string":
        if "enum" in meta and value not in meta["enum"]:
            errors.append(f"{fail.text} satisfy enum value set: [{', '.join(meta['enum'])}]")
        if "min" in meta and len(value) < meta["min"]:
            errors.append(f"{fail.text} have length greater than or equal to {meta['min']}")
        if "max" in meta and len(value) > meta["max"]:
            errors.append(f"{fail.text} have length less than or equal to {meta['max']}")
        if "pattern" in meta:
            compiled = _pattern(meta["pattern"])
            if compiled is not None and not compiled.fullmatch(value):
                errors.append(f"{fail.text} satisfy regular expression pattern: {meta['pattern']}")
    elif kind in ("integer", "long", "float", "double"):
        if "min" in meta and value < meta["min"]:
            errors.append(f"{fail.text} have value greater than or equal to {_show(meta['min'])}")
        if "max" in meta and value > meta["max"]:
            errors.append(f"{fail.text} have value less than or equal to {_show(meta['max'])}")
    elif kind in ("list", "map", "blob"):
        if "min" in meta and len(value) < meta["min"]:
            errors.append(f"{fail.text} have length greater than or equal to {meta['min']}")
        if "max" in meta and len(value) > meta["max"]:
            errors.append(f"{fail.text} have length less than or equal to {meta['max']}")
        if kind == "list":
            member = shape.member
            for i, item in enumerate(value):
                item_path = f"{path}.{i + 1}.member"
                if item is None:
                    errors.append(
                        f"Value null at '{item_path}' failed to satisfy constraint: Member must not be null"
                    )
                _check(member, item, item_path, errors)
        elif kind == "map":
            for key, item in value.items():
                _check(shape.key, key, f"{path}.key", errors)
                _check(shape.value, item, f"{path}.{key}", errors)
    elif kind == "structure":
        assert isinstance(shape, StructureShape)
        for name in shape.required_members:
            if value.get(name) is None:
                where = f"{path}.{name}" if path else name
                errors.append(
                    f"Value null at '{where}' failed to satisfy constraint: Member must not be null"
                )
        for name, item in value.items():
            member = shape.members.get(name)
            if member is not None:
                _check(member, item, f"{path}.{name}" if path else name, errors)
        if shape.metadata.get("union"):
            set_members = [k for k, v in value.items() if v is not None]
            if len(set_members) != 1:
                errors.append(
                    f"Value '{_show(value)}' at '{path}' failed to satisfy constraint: "
                    "Member must have exactly one field set"
                )


def validation_errors(shape: Shape | None, params: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    if shape is not None:
        _check(shape, params, "", errors)
    return errors


def validate(shape: Shape | None, params: dict[str, Any]) -> None:
    """Raise AWS's aggregated ValidationException if any constraint fails."""
    errors = validation_errors(shape, params)
    if errors:
        raise _aggregated(errors)


def _aggregated(errors: list[str]) -> ValidationException:
    noun = "error" if len(errors) == 1 else "errors"
    return ValidationException(f"{len(errors)} validation {noun} detected: " + "; ".join(errors))


def payload_limit(shape: Shape | None) -> tuple[int, ValidationException] | None:
    """The most bytes an operation's payload member may have (InvokeModel's ``body``: 25,000,000)
    and the error AWS gives past it, so a body can be refused before it is read."""
    if not isinstance(shape, StructureShape):
        return None
    name = shape.serialization.get("payload")
    member = shape.members.get(name) if name else None
    if member is None or member.type_name != "blob" or "max" not in member.metadata:
        return None
    limit = int(member.metadata["max"])
    text = _Failure(None, name, sensitive=True).text  # the value is not read: never shown
    return limit, _aggregated([f"{text} have length less than or equal to {limit}"])
