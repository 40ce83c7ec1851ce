"""Converse and ConverseStream on the served engines: text, reasoning and tool use.

One answer is planned and run by ``engines.tool_run.Answer`` (shared with the Anthropic
format), and its events are rendered here into Converse's content blocks and stream events.
"""

from __future__ import annotations

import copy
import secrets
import string
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from ...catalog import ModelRef
from ...engines.base import Finished, TextDelta
from ...engines.tool_run import Answer, AnswerEvent, ReasoningDelta, ToolInputDelta, ToolUseEnd, ToolUseStart
from ...formats.capabilities import check_converse
from ...formats.converse import converse_request
from ...guardrails.session import INTERVENED, Guarding, Mode, guard_output
from ...protocol import eventstream
from ...protocol.errors import ValidationException
from ..registry import Call, Reply, StreamReply, operation
from .guarded import converse_input, guarding_for

SERVED_MODEL_HEADER = "x-outcrop-served-model"
_ID_ALPHABET = string.ascii_letters + string.digits + "-_"


def new_tool_use_id() -> str:
    """Bedrock's Converse tool-use ids look like ``tooluse_kZJMlvQmRJ6eAyJE5GIl7Q``."""
    return "tooluse_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(22))


def require_text_model(ref: ModelRef, *, streaming: bool = False) -> None:
    if "TEXT" not in ref.output_modalities:
        raise ValidationException(
            "This action doesn't support the model that you provided. Try again with a supported text "
            "or chat model."
        )
    if streaming and not ref.streaming:
        raise ValidationException("The model is unsupported for streaming.")


@dataclass
class Planned:
    answer: Answer
    served: str  # the local model that answers
    cached: bool  # the request has cache points
    prompt_tokens: int


def plan_answer(call: Call, params: dict[str, Any], *, streaming: bool) -> Planned:
    """Resolve the model, check the request, and admit its generation (or raise AWS's error)."""
    ref = call.services.catalog.resolve(params["modelId"])
    require_text_model(ref, streaming=streaming)
    check_converse(ref, params, streaming=streaming)
    request = converse_request(params, ref.provider)
    engine = call.services.engine_for(ref)
    answer = Answer(
        engine, request.conversation, new_tool_use_id=new_tool_use_id, reasoning=request.reasoning
    )
    prompt = answer.prompt()
    answer.start(prompt)
    return Planned(answer, engine.name, prompt.cache_prefix > 0, len(prompt.tokens))


def _usage(done: Finished, cached: bool) -> dict[str, int]:
    """Converse usage. With cache points, inputTokens counts only tokens outside the cached
    prefix, and the prefix is reported as cache reads (reused KV) and writes (computed now)."""
    if not cached:
        total = done.input_tokens + done.output_tokens
        return {"inputTokens": done.input_tokens, "outputTokens": done.output_tokens, "totalTokens": total}
    fresh = done.input_tokens - done.cache_read_tokens - done.cache_write_tokens
    return {
        "inputTokens": fresh,
        "outputTokens": done.output_tokens,
        "totalTokens": done.input_tokens + done.output_tokens,
        "cacheReadInputTokens": done.cache_read_tokens,
        "cacheWriteInputTokens": done.cache_write_tokens,
    }


@dataclass
class _Guard:
    """A Converse call's guardrail: checked input, and the references its output is grounded on."""

    guarding: Guarding
    references: list[dict[str, Any]]

    @property
    def blocked(self) -> bool:
        return self.guarding.input_blocked


async def _guard_input(call: Call, params: dict[str, Any]) -> _Guard | None:
    """Check the input against ``guardrailConfig``; masked text replaces the original in
    ``params`` (a deep copy) before the model sees it."""
    config = params.get("guardrailConfig")
    if not config:
        return None
    guarding = guarding_for(
        call, config.get("guardrailIdentifier"), config.get("guardrailVersion"), config.get("trace")
    )
    if guarding is None:
        return None
    guarded = converse_input(params)
    result = await guarding.check_input(guarded.content)
    if result["action"] == "GUARDRAIL_INTERVENED" and not guarding.input_blocked:
        guarded.put_back(result["outputs"])
    return _Guard(guarding, guarded.references)


def _blocked_usage() -> dict[str, int]:
    return {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}


def _with_trace(data: dict[str, Any], guard: _Guard | None) -> dict[str, Any]:
    trace = guard.guarding.trace_data() if guard else None
    if trace is not None:
        data["trace"] = {"guardrail": trace}
    return data


def _guarded_events(guard: _Guard | None, planned: Planned, mode: Mode) -> AsyncIterator[AnswerEvent]:
    events = planned.answer.events()
    if guard is None:
        return events
    return guard_output(
        guard.guarding,
        events,
        mode,
        planned.answer.cancel,
        references=guard.references,
        input_tokens=planned.prompt_tokens,
    )


@operation("Converse")
async def converse(call: Call) -> Reply:
    started = time.perf_counter()
    params = copy.deepcopy(call.params) if call.params.get("guardrailConfig") else call.params
    guard = await _guard_input(call, params)
    if guard is not None and guard.blocked:
        blocked: dict[str, Any] = {
            "output": {
                "message": {"role": "assistant", "content": [{"text": guard.guarding.blocked_input_message}]}
            },
            "stopReason": INTERVENED,
            "usage": _blocked_usage(),
            "metrics": {"latencyMs": int((time.perf_counter() - started) * 1000)},
        }
        return Reply(_with_trace(blocked, guard))
    planned = plan_answer(call, params, streaming=False)
    reasoning: list[str] = []
    text: list[str] = []
    tool_uses: list[dict[str, Any]] = []
    tool_use_id = ""
    done: Finished | None = None
    async for event in _guarded_events(guard, planned, "whole"):
        if isinstance(event, ReasoningDelta):
            reasoning.append(event.text)
        elif isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, ToolUseStart):
            tool_use_id = event.tool_use_id
        elif isinstance(event, ToolUseEnd) and event.call is not None:
            tool_uses.append(
                {"toolUse": {"toolUseId": tool_use_id, "name": event.call.name, "input": event.call.input}}
            )
        elif isinstance(event, Finished):
            done = event
    assert done is not None
    blocks: list[dict[str, Any]] = []
    if reasoning:
        blocks.append({"reasoningContent": {"reasoningText": {"text": "".join(reasoning)}}})
    if "".join(text):
        blocks.append({"text": "".join(text)})
    blocks.extend(tool_uses)
    data: dict[str, Any] = {
        "output": {"message": {"role": "assistant", "content": blocks}},
        "stopReason": done.stop_reason,
        "usage": _usage(done, planned.cached),
        "metrics": {"latencyMs": int((time.perf_counter() - started) * 1000)},
    }
    return Reply(_with_trace(data, guard), headers=[(SERVED_MODEL_HEADER, planned.served)])


def _event(event_type: str, body: dict[str, Any]) -> bytes:
    return eventstream.event(event_type, body, pad=True)


@dataclass
class _StreamRenderer:
    """Turns answer events into ConverseStream events, numbering content blocks as AWS does:
    a new index whenever the kind of block changes; contentBlockStart only for tool use."""

    index: int = -1
    kind: str | None = None
    frames: list[bytes] = field(default_factory=list)

    def _open(self, kind: str) -> None:
        if self.kind == kind:
            return
        self.close()
        self.index += 1
        self.kind = kind

    def close(self) -> None:
        if self.kind is not None:
            self.frames.append(_event("contentBlockStop", {"contentBlockIndex": self.index}))
            self.kind = None

    def feed(self, event: AnswerEvent) -> list[bytes]:
        self.frames = []
        if isinstance(event, ReasoningDelta):
            self._open("reasoning")
            delta = {"reasoningContent": {"text": event.text}}
            self.frames.append(_event("contentBlockDelta", {"contentBlockIndex": self.index, "delta": delta}))
        elif isinstance(event, TextDelta):
            self._open("text")
            self.frames.append(
                _event("contentBlockDelta", {"contentBlockIndex": self.index, "delta": {"text": event.text}})
            )
        elif isinstance(event, ToolUseStart):
            self._open("tool")
            start = {"toolUse": {"toolUseId": event.tool_use_id, "name": event.name}}
            self.frames.append(_event("contentBlockStart", {"contentBlockIndex": self.index, "start": start}))
        elif isinstance(event, ToolInputDelta):
            delta = {"toolUse": {"input": event.json}}
            self.frames.append(_event("contentBlockDelta", {"contentBlockIndex": self.index, "delta": delta}))
        elif isinstance(event, ToolUseEnd):
            self.close()
        return self.frames


async def _blocked_stream(guard: _Guard, started: float) -> AsyncIterator[bytes]:
    """The stream AWS sends when the input is blocked: the blocked message as the only text."""
    yield _event("messageStart", {"role": "assistant"})
    delta = {"text": guard.guarding.blocked_input_message}
    yield _event("contentBlockDelta", {"contentBlockIndex": 0, "delta": delta})
    yield _event("contentBlockStop", {"contentBlockIndex": 0})
    yield _event("messageStop", {"stopReason": INTERVENED})
    metadata = {
        "usage": _blocked_usage(),
        "metrics": {"latencyMs": int((time.perf_counter() - started) * 1000)},
    }
    yield _event("metadata", _with_trace(metadata, guard))


@operation("ConverseStream")
async def converse_stream(call: Call) -> StreamReply:
    started = time.perf_counter()
    params = copy.deepcopy(call.params) if call.params.get("guardrailConfig") else call.params
    guard = await _guard_input(call, params)
    if guard is not None and guard.blocked:
        return StreamReply(_blocked_stream(guard, started))
    mode: Mode = (
        "async" if (params.get("guardrailConfig") or {}).get("streamProcessingMode") == "async" else "sync"
    )
    planned = plan_answer(call, params, streaming=True)
    answer = planned.answer

    async def events() -> AsyncIterator[bytes]:
        try:
            yield _event("messageStart", {"role": "assistant"})
            renderer = _StreamRenderer()
            done: Finished | None = None
            async for event in _guarded_events(guard, planned, mode):
                if isinstance(event, Finished):
                    done = event
                    continue
                for frame in renderer.feed(event):
                    yield frame
            assert done is not None
            renderer.frames = []
            if renderer.index < 0:  # nothing generated: AWS still closes an (empty) text block
                renderer.index, renderer.kind = 0, "text"
            renderer.close()
            for frame in renderer.frames:
                yield frame
            yield _event("messageStop", {"stopReason": done.stop_reason})
            metadata = {
                "usage": _usage(done, planned.cached),
                "metrics": {"latencyMs": int((time.perf_counter() - started) * 1000)},
            }
            yield _event("metadata", _with_trace(metadata, guard))
        finally:
            answer.cancel()

    return StreamReply(events(), headers=[(SERVED_MODEL_HEADER, planned.served)])
