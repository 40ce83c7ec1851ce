"""Custom regexes of the sensitive-information policy.

Patterns are Python ``re`` syntax (AWS uses Java's; the common subset behaves the same). A
pattern is checked at create/update time, so a bad one (or one that backtracks exponentially) is
a ValidationException there.
"""

from __future__ import annotations

import importlib
import re
from functools import cache
from typing import Any

from .spans import Span

_PARSER: Any = importlib.import_module("re._parser")  # the stdlib's own regex parser


def _nested_unbounded(items: Any, inside: bool = False) -> bool:
    """An unbounded repeat inside another (``(a+)+``): exponential backtracking on a near-miss."""
    for op, arg in items:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            unbounded = arg[1] == _PARSER.MAXREPEAT
            if unbounded and inside:
                return True
            if _nested_unbounded(arg[2], inside or unbounded):
                return True
        elif name in ("SUBPATTERN", "ATOMIC_GROUP"):
            if _nested_unbounded(arg[-1], inside):
                return True
        elif name == "BRANCH":
            if any(_nested_unbounded(branch, inside) for branch in arg[1]):
                return True
        elif name in ("ASSERT", "ASSERT_NOT") and _nested_unbounded(arg[1], inside):
            return True
    return False


def compile_error(pattern: str) -> str | None:
    """Why ``pattern`` cannot be used, or None. Nested unbounded repeats are refused: matching runs
    on the server's event loop and Python's engine cannot be interrupted."""
    try:
        re.compile(pattern)
        if _nested_unbounded(_PARSER.parse(pattern)):
            return "nested unbounded quantifiers (such as (a+)+) can take exponential time"
    except (re.error, OverflowError, RecursionError) as exc:
        return str(exc)
    return None


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def find_regex(text: str, name: str, pattern: str) -> list[Span]:
    """Non-empty matches of ``pattern``; ``label`` is the regex's configured name."""
    return [
        Span(m.start(), m.end(), m.group(0), name)
        for m in _compiled(pattern).finditer(text)
        if m.end() > m.start()
    ]
