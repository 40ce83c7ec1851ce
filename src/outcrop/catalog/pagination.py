"""Opaque ``nextToken`` paging for list operations, so clients' paginators work unchanged."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any, TypeVar

from ..protocol.errors import ValidationException

T = TypeVar("T")

INVALID_TOKEN = "The provided pagination token is invalid."


def encode_token(offset: int) -> str:
    raw = json.dumps({"v": 1, "offset": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> int:
    """The offset a token we issued stands for; anything else is a ValidationException."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        offset = data["offset"] if isinstance(data, dict) and data.get("v") == 1 else None
    except (binascii.Error, ValueError, UnicodeDecodeError, KeyError, RecursionError):
        offset = None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ValidationException(INVALID_TOKEN)
    return offset


def page(items: Sequence[T], max_results: int | None, next_token: str | None) -> tuple[list[T], str | None]:
    """One page of ``items`` and the token for the next one (None on the last page)."""
    start = decode_token(next_token) if next_token else 0
    if start > len(items):
        raise ValidationException(INVALID_TOKEN)
    end = len(items) if max_results is None else min(len(items), start + max_results)
    return list(items[start:end]), (encode_token(end) if end < len(items) else None)


def paged_reply(items: Sequence[T], params: dict[str, Any], member: str) -> dict[str, Any]:
    """A list operation's output: one page of ``items`` under ``member``, and ``nextToken`` when
    there is more (``maxResults`` / ``nextToken`` read from the operation's input)."""
    shown, token = page(items, params.get("maxResults"), params.get("nextToken"))
    data: dict[str, Any] = {member: shown}
    if token:
        data["nextToken"] = token
    return data
