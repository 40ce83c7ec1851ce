"""The guardrail steps of an invocation: which guardrail a call names, what of its input is assessed
(and masked before the model reads it), and the answer's events with the output checked.

Converse names a guardrail in ``guardrailConfig`` and marks what to assess with ``guardContent``
blocks; InvokeModel names it in the ``X-Amzn-Bedrock-Guardrail*`` headers and marks what to assess
with ``<amazon-bedrock-guardrails-guardContent_{suffix}>`` tags, the suffix given in the body's
``amazon-bedrock-guardrailConfig`` (which never reaches the model). The checks themselves are
``guardrails/session.py``; which members a guarded response carries is the codec's API's
(``Guarding.converse_trace`` / ``Guarding.invoke_fields``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..conversation import AnswerEvent, Block, Conversation, Finished, Started, TextDelta
from ..guardrails.lookup import find_version
from ..guardrails.session import INTERVENED, Guarding, Mode, guard_output
from ..protocol.errors import ValidationException

Params = dict[str, Any]
BODY_CONFIG = "amazon-bedrock-guardrailConfig"
TAG_PREFIX = "amazon-bedrock-guardrails-guardContent_"
# Contextual grounding's source and query inside an InvokeModel prompt, and their qualifiers.
REFERENCE_TAGS = {
    "amazon-bedrock-guardrails-groundingSource_": "grounding_source",
    "amazon-bedrock-guardrails-query_": "query",
}
ACTION_HEADER = "x-amzn-bedrock-guardrailaction"
_SUFFIX = re.compile(r"[A-Za-z0-9]{1,20}")


@dataclass
class AppliedGuardrail:
    """One invocation's guardrail: its session (the checks and what they found), how streamed
    output is checked, and for InvokeModel the tag suffix that marks guarded input.
    ``references`` are contextual grounding's source and query, found in the input."""

    session: Guarding
    mode: Mode
    suffix: str | None = None
    references: list[Params] = field(default_factory=list)


def guarding_for(
    state_dir: str,
    region: str,
    account_id: str,
    identifier: str | None,
    version: str | None,
    trace: str | None,
) -> Guarding | None:
    """The guardrail version a call names, or None when it names none.

    A missing or unknown id or version is AWS's ValidationException (one message for both)."""
    if not identifier and not version:
        return None
    if not identifier or not version:
        raise ValidationException(
            "Both the guardrail identifier and the guardrail version must be provided to use a guardrail."
        )
    found = find_version(state_dir, region, account_id, identifier, version)
    return Guarding(found.guardrail_id, version, found.document, (trace or "disabled").lower())


Lookup = Callable[[str | None, str | None, str | None], Guarding | None]


def converse_guard(params: Mapping[str, Any], lookup: Lookup, *, streaming: bool) -> AppliedGuardrail | None:
    """The guardrail Converse's ``guardrailConfig`` names (``streamProcessingMode`` for streams)."""
    config = params.get("guardrailConfig")
    if not config:
        return None
    guarding = lookup(config.get("guardrailIdentifier"), config.get("guardrailVersion"), config.get("trace"))
    if guarding is None:
        return None
    mode: Mode = "whole"
    if streaming:
        mode = "async" if config.get("streamProcessingMode") == "async" else "sync"
    return AppliedGuardrail(guarding, mode)


def invoke_guard(
    params: Mapping[str, Any], lookup: Lookup, *, streaming: bool
) -> tuple[AppliedGuardrail | None, bytes]:
    """The guardrail an InvokeModel call names in its headers, and the body without Bedrock's
    ``amazon-bedrock-guardrailConfig`` member (the model never sees it)."""
    raw = bytes(params.get("body") or b"")
    guarding = lookup(params.get("guardrailIdentifier"), params.get("guardrailVersion"), params.get("trace"))
    config, raw = strip_body_config(raw)
    if config is not None and guarding is None:
        raise ValidationException(
            f"{BODY_CONFIG} was provided in the request body but no guardrail identifier was given."
        )
    if guarding is None:
        return None, raw
    content_type = str(params.get("contentType") or "application/json").split(";")[0].strip()
    if content_type != "application/json":
        raise ValidationException("Guardrails can only be used with the application/json content type.")
    config = config or {}
    suffix = config.get("tagSuffix")
    if suffix is not None and not (isinstance(suffix, str) and _SUFFIX.fullmatch(suffix)):
        raise ValidationException("The tagSuffix must be 1 to 20 alphanumeric characters.")
    mode_name = config.get("streamProcessingMode", "SYNCHRONOUS")
    if mode_name not in ("SYNCHRONOUS", "ASYNCHRONOUS"):
        raise ValidationException("streamProcessingMode must be SYNCHRONOUS or ASYNCHRONOUS.")
    mode: Mode = "async" if mode_name == "ASYNCHRONOUS" else "sync"
    return AppliedGuardrail(guarding, mode if streaming else "whole", suffix), raw


def strip_body_config(raw: bytes) -> tuple[Params | None, bytes]:
    """An InvokeModel body's ``amazon-bedrock-guardrailConfig``, and the body without it."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None, raw  # the codec reports the malformed body
    if not isinstance(body, dict) or BODY_CONFIG not in body:
        return None, raw
    config = body.pop(BODY_CONFIG)
    if not isinstance(config, dict):
        raise ValidationException(f"{BODY_CONFIG} must be an object.")
    return config, json.dumps(body, ensure_ascii=False).encode()


# ---- the input --------------------------------------------------------------------------------


@dataclass
class GuardedInput:
    """The input blocks a guardrail assesses, and where each came from so masked text can be put
    back before the model sees it."""

    content: list[Params] = field(default_factory=list)
    places: list[tuple[list[Block], int]] = field(default_factory=list)  # text blocks only
    references: list[Params] = field(default_factory=list)  # grounding_source / query blocks

    def add(self, blocks: list[Block], index: int, block: Params) -> None:
        self.content.append(block)
        if "text" in block:
            self.places.append((blocks, index))
            qualifiers = set(block["text"].get("qualifiers") or [])
            if qualifiers and "guard_content" not in qualifiers:
                self.references.append(block)

    def put_back(self, outputs: list[str]) -> None:
        """ApplyGuardrail's masked outputs (one per text block, in order) into the conversation."""
        for (blocks, index), text in zip(self.places, outputs, strict=False):
            block = blocks[index]
            if "guardContent" in block:
                inner = dict(block["guardContent"]["text"], text=text)
                blocks[index] = {"guardContent": {**block["guardContent"], "text": inner}}
            elif "text" in block:
                blocks[index] = {"text": text}


def converse_input(conversation: Conversation) -> GuardedInput:
    """What a Converse guardrail assesses: the ``guardContent`` blocks if the messages have any
    (plus any in the system prompt); otherwise every message's text, plus the system prompt's
    ``guardContent``. Tool results, tool specs and reasoning are never assessed (AWS's rules)."""
    tagged = any("guardContent" in b for m in conversation.messages for b in m.content)
    out = GuardedInput()
    for index, block in enumerate(conversation.system):
        if "guardContent" in block:
            out.add(conversation.system, index, block["guardContent"])
    for message in conversation.messages:
        for index, block in enumerate(message.content):
            if "guardContent" in block:
                out.add(message.content, index, block["guardContent"])
            elif not tagged and "text" in block:
                out.add(message.content, index, {"text": {"text": block["text"]}})
            elif not tagged and "image" in block:
                out.content.append({"image": block["image"]})
    return out


def _tag_pattern(suffix: str, prefix: str = TAG_PREFIX) -> re.Pattern[str]:
    tag = re.escape(prefix + suffix)
    return re.compile(rf"<{tag}>(.*?)</{tag}>", re.DOTALL)


def invoke_input(conversation: Conversation, suffix: str | None) -> GuardedInput:
    """What an InvokeModel guardrail assesses, taking the tags out of the (copied) conversation.

    With a tag suffix and tags in the prompt, only tagged text is assessed (and the tags are
    removed, keeping their text); otherwise the whole prompt's text is, system prompt included.
    Grounding-source and query tags mark contextual grounding's references (kept for the model).
    """
    pattern = _tag_pattern(suffix) if suffix else None
    all_blocks = [conversation.system, *[m.content for m in conversation.messages]]
    tagged = pattern is not None and any(
        pattern.search(str(b.get("text", ""))) for blocks in all_blocks for b in blocks
    )
    out = GuardedInput()
    for prefix, qualifier in REFERENCE_TAGS.items() if suffix else ():
        reference = _tag_pattern(suffix or "", prefix)
        for blocks in all_blocks:
            for block in blocks:
                if "text" in block:
                    parts = [m.group(1) for m in reference.finditer(str(block["text"]))]
                    block["text"] = reference.sub(lambda m: m.group(1), str(block["text"]))
                    out.references += [{"text": {"text": p, "qualifiers": [qualifier]}} for p in parts]
    for blocks in all_blocks:
        for index, block in enumerate(blocks):
            if "text" not in block:
                continue
            text = str(block["text"])
            if tagged and pattern is not None:
                parts = [m.group(1) for m in pattern.finditer(text)]
                block["text"] = pattern.sub(lambda m: m.group(1), text)
                for part in parts:
                    out.content.append({"text": {"text": part}})
            else:
                out.add(blocks, index, {"text": {"text": text}})
    return out


async def check_input(
    guard: AppliedGuardrail, conversation: Conversation, *, converse: bool
) -> Conversation | None:
    """The conversation the model reads (tags removed, masked text in place; the request as sent
    is left as it was), or None when the guardrail blocks the input and the model must not run."""
    seen = conversation.copy()
    guarded = converse_input(seen) if converse else invoke_input(seen, guard.suffix)
    guard.references = guarded.references
    verdict = await guard.session.check_input(guarded.content)
    if verdict.blocked:
        return None
    if verdict.intervened:
        guarded.put_back(verdict.outputs)
    return seen


# ---- the output -------------------------------------------------------------------------------


async def blocked_input(guard: AppliedGuardrail) -> AsyncIterator[AnswerEvent]:
    """The answer when the input is blocked: the blocked message as its whole text, nothing billed."""
    for event in (Started(0), TextDelta(guard.session.blocked_input_message), Finished(INTERVENED, 0, 0)):
        yield event


def check_output(
    guard: AppliedGuardrail, events: AsyncIterator[AnswerEvent], cancel: Callable[[], None], input_tokens: int
) -> AsyncIterator[AnswerEvent]:
    """The answer's events with the output checked; contextual grounding (if the guardrail has
    it) scores the output against the references the input named, for Converse and InvokeModel."""
    return guard_output(
        guard.session, events, guard.mode, cancel, references=guard.references, input_tokens=input_tokens
    )


async def without_intervention_stop(events: AsyncIterator[AnswerEvent]) -> AsyncIterator[AnswerEvent]:
    """Native bodies have no guardrail stop reason: an intervention reads as the end of the turn,
    and ``amazon-bedrock-guardrailAction`` says what happened."""
    async for event in events:
        if isinstance(event, Finished) and event.stop_reason == INTERVENED:
            event = dataclasses.replace(event, stop_reason="end_turn", stop_sequence=None)
        yield event


def response_fields(guard: AppliedGuardrail, *, converse: bool) -> Params:
    """The members a guarded response carries: Converse's trace, or InvokeModel's action and trace."""
    return guard.session.converse_trace() if converse else guard.session.invoke_fields()


def action(guard: AppliedGuardrail) -> str:
    return "INTERVENED" if guard.session.intervened else "NONE"
