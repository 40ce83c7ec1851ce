"""An identity-based policy document in AWS's grammar, read into typed statements.

Supported: ``Version``, ``Statement`` (one or a list), ``Sid``, ``Effect``, ``Action`` /
``NotAction``, ``Resource`` / ``NotResource`` (a string or a list, with ``*`` and ``?``
wildcards), and ``Condition`` (operator → key → value or values; the operators in
``evaluate.py``). ``Principal`` belongs to resource-based policies and is refused here, as IAM
refuses it in an identity-based policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class PolicyError(ValueError):
    """A document IAM would refuse, with the reason."""


@dataclass(frozen=True)
class Statement:
    effect: str  # Allow | Deny
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    conditions: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    sid: str = ""


def _strings(value: Any, where: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(i, str) for i in items):
        raise PolicyError(f"{where} must be a string or a list of strings")
    return tuple(items)


def _values(value: Any, where: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, str | int | float):
            out.append(str(item))
        else:
            raise PolicyError(f"{where}: condition values are strings, numbers or booleans")
    return tuple(out)


def _optional(item: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    return _strings(item[key], f"{where} {key}") if key in item else ()


def parse(document: Any) -> tuple[Statement, ...]:
    from .evaluate import supported

    if not isinstance(document, dict):
        raise PolicyError("a policy document is a JSON object")
    if document.get("Version", "2012-10-17") not in ("2012-10-17", "2008-10-17"):
        raise PolicyError(f"unknown policy Version {document.get('Version')!r}")
    raw = document.get("Statement")
    items = raw if isinstance(raw, list) else [raw]
    if raw is None or not items:
        raise PolicyError("a policy needs a Statement")
    statements = []
    for n, item in enumerate(items):
        where = f"Statement[{n}]"
        if not isinstance(item, dict):
            raise PolicyError(f"{where} must be an object")
        if "Principal" in item or "NotPrincipal" in item:
            raise PolicyError(f"{where}: Principal is not allowed in an identity-based policy")
        effect = item.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f"{where}: Effect must be Allow or Deny")
        if ("Action" in item) == ("NotAction" in item):
            raise PolicyError(f"{where}: exactly one of Action and NotAction")
        if ("Resource" in item) == ("NotResource" in item):
            raise PolicyError(f"{where}: exactly one of Resource and NotResource")
        conditions: dict[str, dict[str, tuple[str, ...]]] = {}
        for operator, pairs in (item.get("Condition") or {}).items():
            if not isinstance(pairs, dict):
                raise PolicyError(f"{where}: Condition {operator} must map keys to values")
            if not supported(operator):
                raise PolicyError(f"{where}: condition operator {operator} is not supported")
            conditions[operator] = {key: _values(v, f"{where} {operator} {key}") for key, v in pairs.items()}
        statements.append(
            Statement(
                effect=effect,
                actions=_optional(item, "Action", where),
                not_actions=_optional(item, "NotAction", where),
                resources=_optional(item, "Resource", where),
                not_resources=_optional(item, "NotResource", where),
                conditions=conditions,
                sid=str(item.get("Sid", "")),
            )
        )
    return tuple(statements)
