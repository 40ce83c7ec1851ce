"""Guardrails inside inference: which guardrail a call names, which of its input is assessed, and
the fields AWS adds to a guarded response.

Converse names a guardrail in ``guardrailConfig`` and marks what to assess with ``guardContent``
blocks; InvokeModel names it in the ``X-Amzn-Bedrock-Guardrail*`` headers and marks what to assess
with ``<amazon-bedrock-guardrails-guardContent_{suffix}>`` tags, the suffix given in the body's
``amazon-bedrock-guardrailConfig`` (which never reaches the model). The checks themselves are
``guardrails/session.py``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from ...conversation import Block, Conversation, Message
from ...engines.base import Finished, TextDelta
from ...engines.tool_run import Answer, AnswerEvent
from ...guardrails import ids
from ...guardrails.session import INTERVENED, Guarding, Mode, guard_output
from ...protocol.errors import ValidationException
from ...store.guardrails import open_store
from ..registry import Call
from .apply_guardrail import NOT_FOUND

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


def guarding_for(
    call: Call, identifier: str | None, version: str | None, trace: str | None
) -> Guarding | None:
    """The guardrail version a call names, or None when it names none.

    A missing or unknown id or version is AWS's ValidationException (one message for both)."""
    if not identifier and not version:
        return None
    if not identifier or not version:
        raise ValidationException(
            "Both the guardrail identifier and the guardrail version must be provided to use a guardrail."
        )
    settings = call.services.settings
    guardrail_id = ids.parse(identifier, settings.region, settings.account_id)
    found = open_store(settings.state_dir).get(guardrail_id, version) if guardrail_id else None
    if found is None:
        raise ValidationException(NOT_FOUND)
    return Guarding(found.guardrail_id, version, found.document, (trace or "disabled").lower())


# ---- Converse -----------------------------------------------------------------------------------


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

    def put_back(self, outputs: list[Params]) -> None:
        """ApplyGuardrail's masked outputs (one per text block, in order) into the request."""
        for (blocks, index), output in zip(self.places, outputs, strict=False):
            block = blocks[index]
            if "guardContent" in block:
                inner = dict(block["guardContent"]["text"], text=output["text"])
                blocks[index] = {"guardContent": {**block["guardContent"], "text": inner}}
            elif "text" in block:
                blocks[index] = {"text": output["text"]}


def converse_input(params: Params) -> GuardedInput:
    """What a Converse guardrail assesses: the ``guardContent`` blocks if the messages have any
    (plus any in the system prompt); otherwise every message's text, plus the system prompt's
    ``guardContent``. Tool results, tool specs and reasoning are never assessed (AWS's rules)."""
    messages: list[Params] = params.get("messages") or []
    system: list[Block] = params.get("system") or []
    tagged = any("guardContent" in b for m in messages for b in m.get("content", []))
    out = GuardedInput()
    for index, block in enumerate(system):
        if "guardContent" in block:
            out.add(system, index, block["guardContent"])
    for message in messages:
        blocks = message.get("content", [])
        for index, block in enumerate(blocks):
            if "guardContent" in block:
                out.add(blocks, index, block["guardContent"])
            elif not tagged and "text" in block:
                out.add(blocks, index, {"text": {"text": block["text"]}})
            elif not tagged and "image" in block:
                out.content.append({"image": block["image"]})
    return out


# ---- InvokeModel --------------------------------------------------------------------------------


@dataclass
class InvokeGuard:
    guarding: Guarding
    mode: Mode  # for streams
    suffix: str | None
    references: list[Params] = field(default_factory=list)  # contextual grounding's source and query


def invoke_guard(call: Call, raw: bytes, *, streaming: bool) -> tuple[InvokeGuard | None, bytes]:
    """The guardrail an InvokeModel call names in its headers, and the body without Bedrock's
    ``amazon-bedrock-guardrailConfig`` member (the model never sees it)."""
    params = call.params
    guarding = guarding_for(
        call, params.get("guardrailIdentifier"), params.get("guardrailVersion"), params.get("trace")
    )
    config, raw = _body_config(raw)
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
    return InvokeGuard(guarding, mode if streaming else "whole", suffix), raw


def _body_config(raw: bytes) -> tuple[Params | None, bytes]:
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


def _tag_pattern(suffix: str, prefix: str = TAG_PREFIX) -> re.Pattern[str]:
    tag = re.escape(prefix + suffix)
    return re.compile(rf"<{tag}>(.*?)</{tag}>", re.DOTALL)


def invoke_input(conversation: Conversation, suffix: str | None) -> tuple[GuardedInput, Conversation]:
    """What an InvokeModel guardrail assesses, and the conversation the model will see.

    With a tag suffix and tags in the prompt, only tagged text is assessed (and the tags are
    removed, keeping their text); otherwise the whole prompt's text is, system prompt included.
    Grounding-source and query tags mark contextual grounding's references (kept for the model).
    """
    pattern = _tag_pattern(suffix) if suffix else None
    system = [dict(b) for b in conversation.system]
    messages = [Message(m.role, [dict(b) for b in m.content]) for m in conversation.messages]
    all_blocks = [system, *[m.content for m in messages]]
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
    guarded = Conversation(messages, system, conversation.tool_config, conversation.params)
    return out, guarded


def invoke_fields(guarding: Guarding) -> Params:
    """The members Bedrock adds to a guarded InvokeModel body (or its last stream chunk)."""
    fields: Params = {"amazon-bedrock-guardrailAction": "INTERVENED" if guarding.intervened else "NONE"}
    if guarding.trace == "disabled":
        return fields
    trace: Params = {"actionReason": guarding.action_reason()}
    if guarding.input_result is not None:
        trace["input"] = {guarding.guardrail_id: guarding.input_result["assessments"][0]}
    if guarding.output_results:
        trace["outputs"] = [{guarding.guardrail_id: r["assessments"][0]} for r in guarding.output_results]
    if guarding.trace == "enabled_full" and guarding.model_output:
        trace["modelOutput"] = ["".join(guarding.model_output)]
    fields["amazon-bedrock-trace"] = {"guardrail": trace}
    return fields


async def guard_invoke_input(guard: InvokeGuard | None, conversation: Conversation) -> Conversation | None:
    """The conversation the model sees (tags removed, masked text in place), or None when the
    guardrail blocks the input and the model must not run."""
    if guard is None:
        return conversation
    guarded, seen = invoke_input(conversation, guard.suffix)
    guard.references = guarded.references
    result = await guard.guarding.check_input(guarded.content)
    if guard.guarding.input_blocked:
        return None
    if result["action"] == "GUARDRAIL_INTERVENED":
        guarded.put_back(result["outputs"])
    return seen


async def replayed(events: list[AnswerEvent]) -> AsyncIterator[AnswerEvent]:
    """Fixed events as an answer stream (what renderers are fed for a blocked input)."""
    for event in events:
        yield event


def blocked_input_events(guard: InvokeGuard | None) -> list[AnswerEvent]:
    """What a family renderer is fed when the input is blocked: the blocked message as the whole
    answer, nothing billed."""
    assert guard is not None
    return [TextDelta(guard.guarding.blocked_input_message), Finished("end_turn", 0, 0)]


async def _native_stop(events: AsyncIterator[AnswerEvent]) -> AsyncIterator[AnswerEvent]:
    """Native bodies have no guardrail stop reason: an intervention reads as the end of the turn,
    and ``amazon-bedrock-guardrailAction`` says what happened."""
    async for event in events:
        if isinstance(event, Finished) and event.stop_reason == INTERVENED:
            event = dataclasses.replace(event, stop_reason="end_turn", stop_sequence=None)
        yield event


def guard_invoke_events(
    guard: InvokeGuard | None, answer: Answer, prompt_tokens: int
) -> AsyncIterator[AnswerEvent]:
    if guard is None:
        return answer.events()
    guarded = guard_output(
        guard.guarding, answer.events(), guard.mode, answer.cancel, input_tokens=prompt_tokens
    )
    return _native_stop(guarded)


def with_guard_fields(guard: InvokeGuard | None, body: Params) -> Params:
    if guard is not None:
        body.update(invoke_fields(guard.guarding))
    return body


def guard_headers(guard: InvokeGuard | None) -> list[tuple[str, str]]:
    """Outcrop's convenience header (AWS reports the action only in the body)."""
    if guard is None:
        return []
    return [(ACTION_HEADER, "INTERVENED" if guard.guarding.intervened else "NONE")]
