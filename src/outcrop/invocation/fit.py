"""Context fitting: a request that fits the Bedrock model's window but not the served model's is
shrunk, not refused, the same way for every API and family.

Claude clients are written for a 200K-token window; Claude Code sends ~22K tokens with its first
question, and AWS's document examples a 9K-token PDF. The default local model reads 8K tokens, and
on 2 CPU cores prefills ~280 tokens/s. So when a prompt does not fit the served window (less room
for the answer), it is cut down, in this order, until it fits the served model's fit budget
(``fit_tokens``, a per-model setting; at most the window):

1. reasoning blocks of earlier turns are dropped, documents become their extracted text, and each
   tool is described by its signature and the first sentence of its description (the grammar
   still enforces the full schema);
2. every text block but the question (system prompt, earlier turns, tool results, documents) is
   shortened in proportion, keeping its beginning and its end, until the prompt fits;
3. that text and the tool descriptions are dropped;
4. the oldest turns are dropped;
5. the question itself (the last text of the newest user turn) is shortened, keeping its
   beginning and its end.

Steps 3-5 only run when the budget cannot be met before them, and stop as soon as the prompt fits
the window. Requests that fit are never altered. Usage bills the request as sent; what the model
read is reported in the ``x-outcrop-context-fit`` header.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..conversation import Block, Conversation, Message
from ..documents import document_text
from ..engines.base import Prompt

Prepare = Callable[[Conversation], Awaitable[Prompt]]

# Room kept for the answer when deciding whether a request fits: an eighth of the window (at
# least 256 tokens), or max_tokens if smaller.
_MIN_RESERVE = 256
_FLOOR_CHARS = 120  # a shortened block keeps at least this much while others can still give
_CUT_MARK = " […] "
_ROUNDS = 6  # proportional shortening converges in two or three measurements


class CannotFit(Exception):
    """Even with every step taken, the prompt does not fit the served model's window."""


@dataclass
class Fitted:
    conversation: Conversation
    prompt: Prompt
    steps: list[str] = dataclasses.field(default_factory=list)  # empty: the request was not altered

    @property
    def altered(self) -> bool:
        return bool(self.steps)


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
    work = _copy(conversation)
    asked = _question_index(work)  # positions in the newest turn never move below
    _drop_reasoning(work)
    _documents_as_text(work)
    _describe_briefly(work, 200)
    steps = ["tools described briefly"] if (work.tool_config or {}).get("tools") else []
    context = [ref for ref in _text_refs(work) if not _is_question(work, ref, asked)]
    prompt = await prepare(work)
    if len(prompt.tokens) > target and context:
        prompt = await _shorten(work, prepare, prompt, context, target)
        steps.append("text shortened, keeping each block's beginning and end")
    if len(prompt.tokens) <= target:
        return Fitted(work, prompt, steps)
    for ref in context:
        ref.set("")
    _describe_briefly(work, 0)
    _drop_empty(work)
    prompt = await prepare(work)
    steps.append("earlier text and tool descriptions dropped")
    if len(prompt.tokens) <= limit:
        return Fitted(work, prompt, steps)
    dropped = False
    while len(work.messages) > 1 and len(prompt.tokens) > limit:
        drop = 2 if len(work.messages) > 2 and work.messages[0].role == "user" else 1
        work.messages = work.messages[drop:]
        prompt = await prepare(work)
        dropped = True
    if dropped:
        steps.append("oldest turns dropped")
    if len(prompt.tokens) <= limit:
        return Fitted(work, prompt, steps)
    if asked is not None:
        question = _TextRef(work.messages[-1].content, asked, None)
        prompt = await _shorten(work, prepare, prompt, [question], target, floor=0)
        steps.append("the question shortened, keeping its beginning and end")
    if len(prompt.tokens) <= limit:
        return Fitted(work, prompt, steps)
    raise CannotFit(f"{len(prompt.tokens)} tokens after every step; the served window takes {limit}")


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


def _question_index(conversation: Conversation) -> int | None:
    """Where the question is: the last text block of the newest turn, when it is the user's."""
    if not conversation.messages or conversation.messages[-1].role != "user":
        return None
    content = conversation.messages[-1].content
    texts = [i for i, b in enumerate(content) if "text" in b]
    return texts[-1] if texts else None


def _is_question(conversation: Conversation, ref: _TextRef, asked: int | None) -> bool:
    return (
        asked is not None
        and ref.blocks is conversation.messages[-1].content
        and ref.index == asked
        and ref.item is None
    )


# ---- shortening -----------------------------------------------------------------------------


async def _shorten(
    work: Conversation,
    prepare: Prepare,
    prompt: Prompt,
    refs: list[_TextRef],
    target: int,
    *,
    floor: int = _FLOOR_CHARS,
) -> Prompt:
    """Shorten ``refs`` in proportion to their length until the prompt fits ``target`` tokens,
    estimating characters per token from the measured prompt each round."""
    originals = [ref.get() for ref in refs]
    keep = 1.0
    for _ in range(_ROUNDS):
        excess = len(prompt.tokens) - target
        current = sum(len(ref.get()) for ref in refs)
        if excess <= 0 or current == 0:
            break
        chars_per_token = max(1.0, len(prompt.text) / max(1, len(prompt.tokens)))
        wanted = max(0.0, current - excess * chars_per_token * 1.05)
        keep = min(keep * 0.9, keep * wanted / current) if current else 0.0
        for ref, original in zip(refs, originals, strict=True):
            ref.set(head_and_tail(original, max(floor, int(len(original) * keep))))
        prompt = await prepare(work)
        if keep * max(len(o) for o in originals) <= floor:
            break  # every block is at its floor: shortening cannot give more
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


# ---- the cheap steps ------------------------------------------------------------------------


def _copy(conversation: Conversation) -> Conversation:
    return dataclasses.replace(
        conversation,
        messages=[Message(m.role, [dict(b) for b in m.content]) for m in conversation.messages],
        system=[dict(b) for b in conversation.system],
        tool_config=copy.deepcopy(conversation.tool_config),
    )


def _drop_reasoning(conversation: Conversation) -> None:
    """Reasoning of earlier turns (the newest turn keeps its blocks where they are)."""
    for message in conversation.messages[:-1]:
        message.content = [b for b in message.content if "reasoningContent" not in b]


def _documents_as_text(conversation: Conversation) -> None:
    """Documents become the text the model reads for them (in place: block positions stay), so
    they can be shortened like text."""
    for message in conversation.messages:
        for i, block in enumerate(message.content):
            if "document" in block:
                message.content[i] = {"text": document_text(block)}
            if "toolResult" in block:
                result = dict(block["toolResult"])
                result["content"] = [
                    {"text": document_text(p)} if isinstance(p, dict) and "document" in p else p
                    for p in result.get("content") or []
                ]
                message.content[i] = {"toolResult": result}


def _drop_empty(conversation: Conversation) -> None:
    """Blocks emptied by shortening, but in the newest turn (whose positions must not move)."""
    conversation.system = [b for b in conversation.system if not _empty(b)]
    for message in conversation.messages[:-1]:
        kept = [b for b in message.content if not _empty(b)]
        message.content = kept or message.content[:1]


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


def _describe_briefly(conversation: Conversation, limit: int) -> None:
    for tool in (conversation.tool_config or {}).get("tools") or []:
        spec = tool.get("toolSpec") or {}
        if limit <= 0:
            spec.pop("description", None)
        elif spec.get("description"):
            spec["description"] = _first_sentence(str(spec["description"]), limit)
