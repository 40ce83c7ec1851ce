"""Identity-based policy evaluation as IAM does it: a request is allowed when some statement
allows it and none denies it (an explicit Deny wins; nothing matching is an implicit deny).

A statement matches an action (``Action`` patterns, case-insensitive, or anything but
``NotAction``), a resource (``Resource`` / ``NotResource`` patterns, case-sensitive; ``*`` any
run of characters, ``?`` one), and every condition. Conditions: each operator's keys must all
match (AND), a key matches if any of the condition's values does (OR). Operators: String(Not)Equals,
String(Not)EqualsIgnoreCase, String(Not)Like, Arn(Not)Equals, Arn(Not)Like, Bool, Null, each with
``IfExists``, and the ``ForAnyValue:`` / ``ForAllValues:`` prefixes for multivalued keys such as
``aws:TagKeys``. A key missing from the request fails a condition, except under a negated
operator, ``IfExists``, ``ForAllValues:`` and ``Null: true``, as IAM's documentation says.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Mapping, Sequence

from .document import Statement

Context = Mapping[str, Sequence[str]]  # condition key (case-insensitive) -> its values


class Decision(enum.Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


@functools.lru_cache(maxsize=1024)
def _pattern(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    parts = ("." if c == "?" else ".*" if c == "*" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return _pattern(pattern, ignore_case).fullmatch(value) is not None


def decide(statements: Sequence[Statement], action: str, resource: str, context: Context) -> Decision:
    allowed = False
    for statement in statements:
        if not _applies(statement, action, resource, context):
            continue
        if statement.effect == "Deny":
            return Decision.EXPLICIT_DENY
        allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def _applies(statement: Statement, action: str, resource: str, context: Context) -> bool:
    if statement.actions:
        if not any(matches(p, action, ignore_case=True) for p in statement.actions):
            return False
    elif any(matches(p, action, ignore_case=True) for p in statement.not_actions):
        return False
    if statement.resources:
        if not any(matches(p, resource) for p in statement.resources):
            return False
    elif any(matches(p, resource) for p in statement.not_resources):
        return False
    keys = {k.lower(): v for k, v in context.items()}
    return all(
        _condition(operator, key, wanted, keys.get(key.lower()))
        for operator, pairs in statement.conditions.items()
        for key, wanted in pairs.items()
    )


def _positive(base: str, value: str, wanted: Sequence[str]) -> bool:
    if base in ("StringEquals", "ArnEquals"):
        return value in wanted
    if base == "StringEqualsIgnoreCase":
        return value.lower() in (w.lower() for w in wanted)
    if base in ("StringLike", "ArnLike"):
        return any(matches(w, value) for w in wanted)
    if base == "Bool":
        return value.lower() in (w.lower() for w in wanted)
    raise ValueError(f"unsupported condition operator {base}")


_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}
OPERATORS = {
    "StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike", "Bool", "Null", *_NEGATED,
}  # fmt: skip


def supported(operator: str) -> bool:
    base = operator.split(":", 1)[-1]
    base = base.removesuffix("IfExists")
    return base in OPERATORS


def _condition(operator: str, key: str, wanted: Sequence[str], present: Sequence[str] | None) -> bool:
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if base == "Null":
        absent = not present
        return any((w.lower() == "true") == absent for w in wanted)
    negated = base in _NEGATED
    positive = _NEGATED.get(base, base)
    if not present:
        return if_exists or negated or qualifier == "ForAllValues"
    if qualifier == "ForAllValues":
        hits = [_positive(positive, v, wanted) for v in present]
        return not any(hits) if negated else all(hits)
    hit = any(_positive(positive, v, wanted) for v in present)  # one value, or ForAnyValue
    return not hit if negated else hit
