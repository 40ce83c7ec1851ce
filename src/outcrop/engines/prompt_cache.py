"""Where a request's cache points fall in its prompt, in tokens.

Converse ``cachePoint`` blocks (and Anthropic ``cache_control``, once mapped to them) mark the end
of a prefix the caller wants cached. The engine reuses KV state for the longest prefix it still
holds, so the usage it reports is the truth about that reuse: tokens up to the last cache point
that were reused are cache reads, the rest of that prefix is a cache write.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from ..conversation import Block, Conversation, Message

# A run of text no request contains (invisible separators around a name), used to find the cache
# point's position in the rendered prompt.
MARKER = "\u2063outcrop-cache-point\u2063"


def _replace_last(blocks: list[Block]) -> list[Block] | None:
    for i in range(len(blocks) - 1, -1, -1):
        if "cachePoint" in blocks[i]:
            return [*blocks[:i], {"text": MARKER}, *blocks[i + 1 :]]
    return None


def marked(conversation: Conversation) -> Conversation | None:
    """A copy with the last cache point replaced by the marker, or None when there is none."""
    for index in range(len(conversation.messages) - 1, -1, -1):
        message = conversation.messages[index]
        content = _replace_last(message.content)
        if content is not None:
            messages = list(conversation.messages)
            messages[index] = Message(message.role, content)
            return dataclasses.replace(conversation, messages=messages)
    tools = (conversation.tool_config or {}).get("tools") or []
    if any(isinstance(t, dict) and "cachePoint" in t for t in tools) and conversation.messages:
        # Tools are rendered into the system section: the prefix ends where the first turn begins.
        first = conversation.messages[0]
        messages = [Message(first.role, [{"text": MARKER}, *first.content]), *conversation.messages[1:]]
        return dataclasses.replace(conversation, messages=messages)
    system = _replace_last(conversation.system)
    if system is not None:
        return dataclasses.replace(conversation, system=system)
    return None


def common_prefix(a: Sequence[object], b: Sequence[object]) -> int:
    """How many items ``a`` and ``b`` share from their starts (tokens, or a string's characters)."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def cache_prefix_length(
    conversation: Conversation,
    tokens: Sequence[int],
    render: Callable[[Conversation], str],
    tokenize: Callable[[str], Sequence[int]],
) -> int:
    """Tokens of ``tokens`` (the real prompt) that lie before the last cache point."""
    copy = marked(conversation)
    if copy is None:
        return 0
    text = render(copy)
    cut = text.find(MARKER)
    if cut <= 0:
        return 0
    return common_prefix(tokenize(text[:cut]), tokens)
