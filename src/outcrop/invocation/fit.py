"""Context fitting: a request that fits the Bedrock model's window but not the served model's is
shrunk, not refused, the same way for every API and family.

Claude clients are written for a 200K-token window; Claude Code sends ~22K tokens with its first
question, and AWS's document examples a 9K-token PDF. The default local model reads 8K tokens, and
on 2 CPU cores prefills a few hundred tokens per second. So when a prompt does not fit the served
window (less room for the answer), it is cut down, in this order:

1. reasoning of earlier turns is dropped; documents, tool calls and JSON tool results become the
   text the model reads for them; each tool is described by its signature and the first sentence
   of its description (the grammar still enforces the full schema);
2. every text block but the question (system prompt, earlier turns, tool results, documents) is
   shortened in proportion to its length, keeping its beginning and its end (each keeps at least
   120 characters, or less if that reaches the budget), until the prompt fits the served model's
   fit budget (``fit_tokens``, a per-model setting; at most the window). When the rest of the
   prompt (tool signatures, the question) leaves no room for that, the text is shortened only as
   far as the window demands. Then, only while the window still demands it:
3. that text and the tool descriptions are dropped;
4. the oldest turns are dropped;
5. the question itself (the last text of the newest user turn) is shortened to the fit budget,
   keeping its beginning and its end.

A trailing assistant turn (a prefill the model continues) is never altered. Requests that fit are
never altered. Usage bills the request as sent; the ``x-outcrop-context-fit`` header says what the
model read. What cannot be shortened (tool schemas, the chat template) can still overflow a small
window: that is ``CannotFit``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..conversation import Block, Conversation, Message
from ..documents import document_text
from ..engines.base import Prompt
from ..engines.chat import block_text

Prepare = Callable[[Conversation], Awaitable[Prompt]]

# Room kept for the answer when deciding whether a request fits: an eighth of the window (at
# least 256 tokens), or max_tokens if smaller.
_MIN_RESERVE = 256
_FLOOR_CHARS = 120  # the first shortening round leaves each block at least this much
_CUT_MARK = " […] "
_ROUNDS = 6  # proportional shortening converges in two or three measurements


class CannotFit(Exception):
    """Even with every step taken, the prompt does not fit the served model's window."""


@dataclass
class Fitted:
    conversation: Conversation
    prompt: Prompt
    altered: bool = False  # False: the request is read as sent
    steps: list[str] = field(default_factory=list)  # what was done, for the header


def answer_room(context_length: int, max_tokens: int | None) -> int:
    reserve = max(_MIN_RESERVE, context_length // 8)
    return min(max_tokens, reserve) if max_tokens else reserve


def window_limit(context_length: int, max_tokens: int | None) -> int:
    """The most prompt tokens the served window takes, leaving room for the answer."""
    return context_length - answer_room(context_length, max_tokens)


async def fit(
    conversation: Conversation,
    prepare: Prepare,
    *,
    context_length: int,
    fit_tokens: int | None,
    prompt: Prompt | None = None,
) -> Fitted:
    """The conversation as the served model will read it, and its prompt. ``prompt`` is the
    conversation's own, when the caller has already prepared it."""
    limit = window_limit(context_length, conversation.params.max_tokens)
    prompt = prompt or await prepare(conversation)
    if len(prompt.tokens) <= limit:
        return Fitted(conversation, prompt)
    target = min(limit, fit_tokens) if fit_tokens else limit
    work = conversation.copy()
    kept = _Kept.of(work)
    steps = [step for step, changed in _cheap_steps(work) if changed]
    prompt = await prepare(work)
    context = [ref for ref in _text_refs(work) if not kept.holds(work, ref)]
    if len(prompt.tokens) > target and context:
        prompt = await _shorten(work, prepare, prompt, context, target, floor=_FLOOR_CHARS)
        if len(prompt.tokens) > target:  # below the floor, toward the budget if it can be met
            floored, texts = prompt, [ref.get() for ref in context]
            prompt = await _shorten(work, prepare, prompt, context, target, floor=0)
            if len(prompt.tokens) > target:  # it cannot (the rest is too big): the window will do
                for ref, text in zip(context, texts, strict=True):
                    ref.set(text)
                prompt = floored
                if len(prompt.tokens) > limit:
                    prompt = await _shorten(work, prepare, prompt, context, limit, floor=0)
        steps.append("earlier text shortened, keeping each block's beginning and end")
    if len(prompt.tokens) <= limit:  # the budget is best effort: the window is what must hold
        return Fitted(work, prompt, True, steps)
    emptied = any(ref.get() for ref in context)
    for ref in context:
        ref.set("")
    described = _describe_briefly(work, 0)
    _drop_empty(work, kept)
    if emptied or described:
        steps.append("earlier text and tool descriptions dropped")
        prompt = await prepare(work)
    if len(prompt.tokens) > limit:
        before = len(work.messages)
        prompt = await _drop_oldest(work, prepare, prompt, limit, kept)
        if len(work.messages) < before:
            steps.append("oldest turns dropped")
    if len(prompt.tokens) > limit and kept.question is not None:
        question = _TextRef(kept.turn(work).content, kept.question, None)
        prompt = await _shorten(work, prepare, prompt, [question], target, floor=0)
        steps.append("the question shortened, keeping its beginning and end")
    if len(prompt.tokens) <= limit:
        return Fitted(work, prompt, True, steps)
    raise CannotFit(f"{len(prompt.tokens)} tokens after every step; the served window takes {limit}")


# ---- what is never cut -----------------------------------------------------------------------


@dataclass
class _Kept:
    """Where the question is (its turn counted from the end, and its block), and whether a
    trailing assistant turn (a prefill) follows it. Positions in those turns never move."""

    from_end: int  # 1: the question's turn is the last message; 2: a prefill follows it
    question: int | None

    @classmethod
    def of(cls, conversation: Conversation) -> _Kept:
        messages = conversation.messages
        from_end = 2 if len(messages) >= 2 and messages[-1].role == "assistant" else 1
        turn = messages[-from_end] if len(messages) >= from_end else None
        if turn is None or turn.role != "user":
            return cls(from_end, None)
        texts = [i for i, b in enumerate(turn.content) if "text" in b or "guardContent" in b]
        return cls(from_end, texts[-1] if texts else None)

    def turn(self, conversation: Conversation) -> Message:
        return conversation.messages[-self.from_end]

    def holds(self, conversation: Conversation, ref: _TextRef) -> bool:
        """The question, or any text of the prefill."""
        messages = conversation.messages
        if self.from_end == 2 and ref.blocks is messages[-1].content:
            return True
        if self.question is None or len(messages) < self.from_end:
            return False
        return (
            ref.blocks is self.turn(conversation).content and ref.index == self.question and ref.item is None
        )

    def protected(self, conversation: Conversation) -> set[int]:
        """Indexes of the messages that are never dropped."""
        n = len(conversation.messages)
        return set(range(max(0, n - self.from_end), n))


# ---- text places ----------------------------------------------------------------------------


@dataclass
class _TextRef:
    """One piece of text in the conversation that can be shortened in place."""

    blocks: list[Block]
    index: int
    item: int | None  # the text item inside a toolResult, or None for the block itself

    @property
    def block(self) -> Block:
        return self.blocks[self.index]

    def get(self) -> str:
        block = self.block
        if self.item is not None:
            return str(block["toolResult"]["content"][self.item].get("text", ""))
        if "guardContent" in block:
            return str(block["guardContent"].get("text", {}).get("text", ""))
        return str(block.get("text", ""))

    def set(self, text: str) -> None:
        block = self.block
        if self.item is not None:
            result = dict(block["toolResult"])
            items = list(result.get("content") or [])
            items[self.item] = {**items[self.item], "text": text}
            result["content"] = items
            self.blocks[self.index] = {"toolResult": result}
        elif "guardContent" in block:
            inner = dict(block["guardContent"].get("text") or {}, text=text)
            self.blocks[self.index] = {"guardContent": {**block["guardContent"], "text": inner}}
        else:
            self.blocks[self.index] = {**block, "text": text}


def _text_refs(conversation: Conversation) -> list[_TextRef]:
    refs: list[_TextRef] = []
    for blocks in (conversation.system, *(m.content for m in conversation.messages)):
        for index, block in enumerate(blocks):
            if "text" in block or "guardContent" in block:
                refs.append(_TextRef(blocks, index, None))
            elif "toolResult" in block:
                for item, part in enumerate(block["toolResult"].get("content") or []):
                    if isinstance(part, dict) and "text" in part:
                        refs.append(_TextRef(blocks, index, item))
    return refs


# ---- shortening -----------------------------------------------------------------------------


async def _shorten(
    work: Conversation, prepare: Prepare, prompt: Prompt, refs: list[_TextRef], target: int, *, floor: int
) -> Prompt:
    """Shorten ``refs`` in proportion to their length until the prompt fits ``target`` tokens,
    estimating characters per token from the measured prompt each round."""
    originals = [ref.get() for ref in refs]
    longest = max((len(o) for o in originals), default=0)
    keep = 1.0
    for _ in range(_ROUNDS):
        excess = len(prompt.tokens) - target
        current = sum(len(ref.get()) for ref in refs)
        if excess <= 0 or current == 0 or keep * longest <= floor:
            break  # fits, or every block is at its floor: shortening cannot give more
        chars_per_token = max(1.0, len(prompt.text) / max(1, len(prompt.tokens)))
        wanted = max(0.0, current - excess * chars_per_token * 1.05)
        keep = min(keep * 0.9, keep * wanted / current)
        for ref, original in zip(refs, originals, strict=True):
            ref.set(head_and_tail(original, max(floor, int(len(original) * keep))))
        prompt = await prepare(work)
    return prompt


def head_and_tail(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters, keeping its beginning and its end (cut at word
    boundaries where there are any), joined by a mark that says text was left out."""
    if len(text) <= limit:
        return text
    if limit <= len(_CUT_MARK) + 2:
        return ""
    room = limit - len(_CUT_MARK)
    head, tail = text[: room * 3 // 5], text[len(text) - (room - room * 3 // 5) :]
    space = head.rfind(" ")
    if space > len(head) // 2:
        head = head[:space]
    space = tail.find(" ")
    if 0 <= space < len(tail) // 2:
        tail = tail[space + 1 :]
    return head.rstrip() + _CUT_MARK + tail.lstrip()


async def _drop_oldest(
    work: Conversation, prepare: Prepare, prompt: Prompt, limit: int, kept: _Kept
) -> Prompt:
    """Drop the oldest turns (never the question's turn or a prefill), as many at once as the
    measured excess needs, so a long history costs a few measurements rather than one per turn."""
    while len(prompt.tokens) > limit:
        droppable = len(work.messages) - kept.from_end
        if droppable <= 0:
            break
        excess_chars = (len(prompt.tokens) - limit) * len(prompt.text) / max(1, len(prompt.tokens))
        drop = freed = 0
        while drop < droppable and freed < excess_chars:
            freed += sum(len(block_text(b)) for b in work.messages[drop].content)
            drop += 1
        while drop < droppable and work.messages[drop].role != "user":
            drop += 1  # a conversation starts with the user's turn
        if drop == droppable and work.messages[drop].role != "user":
            break  # nothing more can go without breaking the turns' order
        work.messages = work.messages[drop:]
        prompt = await prepare(work)
    return prompt


# ---- the cheap steps ------------------------------------------------------------------------


def _cheap_steps(work: Conversation) -> list[tuple[str, bool]]:
    return [
        ("earlier reasoning dropped", _drop_reasoning(work)),
        ("documents, tool calls and results read as text", _as_text(work)),
        ("tools described briefly", _describe_briefly(work, 200)),
    ]


def _drop_reasoning(conversation: Conversation) -> bool:
    """Reasoning of earlier turns (the newest turn keeps its blocks where they are)."""
    changed = False
    for message in conversation.messages[:-1]:
        kept = [b for b in message.content if "reasoningContent" not in b]
        changed = changed or len(kept) < len(message.content)
        message.content = kept
    return changed


def _as_text(conversation: Conversation) -> bool:
    """Documents, earlier tool calls and JSON tool results become the text the model reads for
    them (in place: block positions stay), so they can be shortened like text."""
    changed = False
    for position, message in enumerate(conversation.messages):
        prefill = position == len(conversation.messages) - 1 and message.role == "assistant"
        for i, block in enumerate(message.content):
            if "document" in block:
                message.content[i] = {"text": document_text(block)}
            elif "toolUse" in block and not prefill:
                message.content[i] = {"text": block_text(block)}
            elif "toolResult" in block:
                message.content[i] = {"toolResult": _result_as_text(block["toolResult"])}
            else:
                continue
            changed = True
    return changed


def _result_as_text(result: dict[str, Any]) -> dict[str, Any]:
    items = []
    for part in result.get("content") or []:
        if isinstance(part, dict) and "document" in part:
            items.append({"text": document_text(part)})
        elif isinstance(part, dict) and "json" in part:
            items.append({"text": json.dumps(part["json"], sort_keys=True)})
        else:
            items.append(part)
    return {**result, "content": items}


def _drop_empty(conversation: Conversation, kept: _Kept) -> None:
    """Blocks emptied by shortening, but in the turns whose positions must not move."""
    conversation.system = [b for b in conversation.system if not _empty(b)]
    protected = kept.protected(conversation)
    for position, message in enumerate(conversation.messages):
        if position in protected:
            continue
        remaining = [b for b in message.content if not _empty(b)]
        message.content = remaining or message.content[:1]


def _empty(block: Block) -> bool:
    if "text" in block:
        return not str(block["text"])
    if "guardContent" in block:
        return not str(block["guardContent"].get("text", {}).get("text", ""))
    return False


def _first_sentence(text: str, limit: int) -> str:
    text = " ".join(text.split())
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    sentence = match.group(1) if match else text
    return sentence if len(sentence) <= limit else sentence[:limit].rstrip() + _CUT_MARK.rstrip()


def _describe_briefly(conversation: Conversation, limit: int) -> bool:
    changed = False
    for tool in (conversation.tool_config or {}).get("tools") or []:
        spec = tool.get("toolSpec") or {}
        description = spec.get("description")
        if not description:
            continue
        brief = _first_sentence(str(description), limit) if limit > 0 else ""
        if brief != description:
            changed = True
            if brief:
                spec["description"] = brief
            else:
                spec.pop("description", None)
    return changed
