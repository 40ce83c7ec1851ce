"""Context fitting: a request too big for the served model is shrunk, not refused.

Claude clients are written for a 200K-token window; Claude Code sends ~22K tokens (a 28K-char
system prompt, system reminders, a dozen tool definitions) with its first question. The default
local model reads 8K tokens, and on 2 CPU cores prefills ~280 tokens/s, so even a request that
squeezed into 8K would cost ~30 s before the first token. So when a prompt does not fit the
window (less room for the answer), it is cut down, in this order, until it fits ``FIT_TOKENS``:

1. reasoning blocks of earlier turns are dropped, and each tool is described by its signature
   and the first sentence of its description (the grammar still enforces the full schema);
2. every text block (system prompt, earlier turns, tool results) is cut to its first 2000, 1000,
   500, 250, then 120 characters, marked with "[…]";
3. tool descriptions and all non-essential text are dropped;
4. the oldest turns are dropped.

The last text block of the newest user turn (the question) is never cut. If it alone cannot
fit, the request gets AWS's "Input is too long for requested model." Requests that fit are
never altered. ``usage.input_tokens`` counts the prompt the model actually read.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..conversation import Block, Conversation, Message
from ..engines.base import Prompt
from ..protocol.errors import ValidationException

# The prompt size a fitted request is cut to: ~7 s of prefill for SmolLM2-135M on 2 cores.
FIT_TOKENS = 2048
# Room kept for the answer when deciding whether a request fits: an eighth of the window (at
# least 256 tokens), or max_tokens if smaller.
_MIN_RESERVE = 256
_TEXT_LIMITS = (2000, 1000, 500, 250, 120, 0)
_CUT_MARK = " […]"
TOO_LONG = "Input is too long for requested model."


@dataclass
class Fitted:
    conversation: Conversation
    prompt: Prompt
    trimmed: str | None = None  # what was done, for the x-outcrop-context-fit header


def answer_room(context_length: int, max_tokens: int | None) -> int:
    reserve = max(_MIN_RESERVE, context_length // 8)
    return min(max_tokens, reserve) if max_tokens else reserve


def fit(conversation: Conversation, prepare: Callable[[Conversation], Prompt], context_length: int) -> Fitted:
    """The conversation as the model will read it, and its prompt."""
    limit = context_length - answer_room(context_length, conversation.params.max_tokens)
    prompt = _measure(prepare, conversation)
    if prompt is not None and len(prompt.tokens) <= limit:
        return Fitted(conversation, prompt)
    target = min(limit, FIT_TOKENS)
    work = _copy(conversation)
    _drop_reasoning(work)
    _describe_briefly(work, 200)
    steps = ["tools described briefly"]
    for chars in _TEXT_LIMITS:
        _cut_text(work, chars)
        if chars == 0:
            _describe_briefly(work, 0)
        prompt = _measure(prepare, work)
        if chars and prompt is not None and len(prompt.tokens) <= target:
            steps.append(f"text blocks cut to {chars} characters")
            return Fitted(work, prompt, _note(steps, prompt))
    steps.append("extra text dropped")
    if prompt is not None and len(prompt.tokens) <= limit:
        return Fitted(work, prompt, _note(steps, prompt))
    while len(work.messages) > 1:
        drop = 2 if len(work.messages) > 2 and work.messages[0].role == "user" else 1
        work.messages = work.messages[drop:]
        prompt = _measure(prepare, work)
        if prompt is not None and len(prompt.tokens) <= limit:
            steps.append("oldest turns dropped")
            return Fitted(work, prompt, _note(steps, prompt))
    if prompt is not None and len(prompt.tokens) < context_length:
        return Fitted(work, prompt, _note(steps, prompt))
    raise ValidationException(TOO_LONG)


def _note(steps: list[str], prompt: Prompt) -> str:
    return f"{len(prompt.tokens)} tokens; " + ", ".join(steps)


def _measure(prepare: Callable[[Conversation], Prompt], conversation: Conversation) -> Prompt | None:
    try:
        return prepare(conversation)
    except ValidationException:
        return None


def _copy(conversation: Conversation) -> Conversation:
    return dataclasses.replace(
        conversation,
        messages=[Message(m.role, [dict(b) for b in m.content]) for m in conversation.messages],
        system=[dict(b) for b in conversation.system],
        tool_config=copy.deepcopy(conversation.tool_config),
    )


def _drop_reasoning(conversation: Conversation) -> None:
    for message in conversation.messages:
        message.content = [b for b in message.content if "reasoningContent" not in b]


def _first_sentence(text: str, limit: int) -> str:
    text = " ".join(text.split())
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    sentence = match.group(1) if match else text
    return sentence if len(sentence) <= limit else sentence[:limit].rstrip() + _CUT_MARK


def _describe_briefly(conversation: Conversation, limit: int) -> None:
    for tool in (conversation.tool_config or {}).get("tools") or []:
        spec = tool.get("toolSpec") or {}
        if limit <= 0:
            spec.pop("description", None)
        elif spec.get("description"):
            spec["description"] = _first_sentence(str(spec["description"]), limit)


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    head = text[:limit]
    space = head.rfind(" ")
    if space > limit // 2:
        head = head[:space]
    return head.rstrip() + _CUT_MARK


def _cut_text(conversation: Conversation, limit: int) -> None:
    protected = _protected(conversation)
    conversation.system = [b for b in (_cut_block(b, limit) for b in conversation.system) if b]
    for message in conversation.messages:
        kept: list[Block] = []
        for block in message.content:
            if block is protected:
                kept.append(block)
                continue
            cut = _cut_block(block, limit)
            if cut:
                kept.append(cut)
        message.content = kept


def _protected(conversation: Conversation) -> Block | None:
    """The question: the last text block of the newest turn, when it is the user's."""
    if not conversation.messages or conversation.messages[-1].role != "user":
        return None
    texts = [b for b in conversation.messages[-1].content if "text" in b]
    return texts[-1] if texts else None


def _cut_block(block: Block, limit: int) -> Block | None:
    if "text" in block:
        text = _cut(str(block["text"]), limit)
        return {**block, "text": text} if text else None
    if "toolResult" in block:
        result = dict(block["toolResult"])
        items = []
        for item in result.get("content") or []:
            if "text" in item:
                items.append({**item, "text": _cut(str(item["text"]), max(limit, 120))})
            else:
                items.append(item)
        result["content"] = items
        return {"toolResult": result}
    return block
