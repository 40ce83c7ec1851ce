"""Word filters: custom words and phrases, and the managed PROFANITY list.

Matching is case-insensitive and whole-word (a word character may not touch either end), and a
phrase's spaces match any run of whitespace, so "cactus" does not fire inside "cactuses" and
"bad word" matches "Bad   word".
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from .spans import Span


def _pattern(words: list[str]) -> re.Pattern[str] | None:
    parts = []
    for word in sorted({w.strip() for w in words if w.strip()}, key=len, reverse=True):
        parts.append(r"\s+".join(re.escape(piece) for piece in word.split()))
    if not parts:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


@cache
def _compiled(words: tuple[str, ...]) -> re.Pattern[str] | None:
    return _pattern(list(words))


def find_words(text: str, words: list[str]) -> list[Span]:
    """Each occurrence of a configured word; ``label`` is the word as configured."""
    pattern = _compiled(tuple(words))
    if pattern is None:
        return []
    by_key = {" ".join(w.split()).casefold(): w for w in words}
    return [
        Span(m.start(), m.end(), m.group(0), by_key.get(" ".join(m.group(0).split()).casefold(), m.group(0)))
        for m in pattern.finditer(text)
    ]


@cache
def profanity() -> tuple[str, ...]:
    """The managed PROFANITY list (data/profanity.txt, one word or phrase a line, # comments)."""
    raw = resources.files(__package__).joinpath("data/profanity.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in raw.splitlines() if line.strip() and not line.startswith("#"))


def find_profanity(text: str) -> list[Span]:
    """Profane words; ``label`` is the word as the list has it (lower case)."""
    return [Span(s.start, s.end, s.text, s.text.casefold()) for s in find_words(text, list(profanity()))]
