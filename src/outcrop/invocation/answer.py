"""One assistant answer, with tools: free text, and a grammar-constrained call when one is made.

``tool_choice`` modes, as a small local model can honour them:

* ``auto``: the model writes freely (full speed, no grammar) with ``<tool_call>`` as a stop
  sequence. If it opens a call, generation continues from exactly that point under the call
  grammar, so the call is always well-formed; otherwise its text is the answer. Whether to call
  is the model's own choice, as with Claude (a 135M model seldom makes it).
* ``any`` / ``tool``: the answer is prefilled with ``<tool_call>`` and generated under the
  grammar of all tools (or of the one named), so it is always exactly one valid call.
* ``none``: tools are not offered; plain text.

Reasoning, when the request asks for it (Claude's ``thinking``, Nova's ``reasoningConfig``), runs
as a phase of its own on engines that take it (``Engine.reasoning_phase``: the embedded one): the
answer is prefilled with ``<think>`` so the model writes its reasoning first (a model that reasons
natively does exactly this on its own), up to the thinking budget or ``</think>``; then the answer
is generated with that reasoning in context, from the rest of ``max_tokens``. The reasoning comes
out as reasoning events, billed as output like Claude's. A forced tool call does not reason
(Claude refuses that combination outright when thinking is ``enabled``). On other engines a leading
``<think>…</think>`` the model writes itself is split into reasoning events. Every API renders
these events its own way.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterable, AsyncIterator, Callable

from ..constrained.tool_calls import (
    CALL_OPENERS,
    TOOL_OPEN,
    BareCalls,
    CallStream,
    call_grammar,
    parse_call,
    partial_input,
    tool_mode,
    tool_specs,
)
from ..conversation import (
    AnswerEvent,
    Conversation,
    EngineEvent,
    Finished,
    InferenceParams,
    Message,
    ReasoningDelta,
    Started,
    TextDelta,
    ToolInputDelta,
    ToolUseEnd,
    ToolUseStart,
)
from ..engines.base import Cancellation, Engine, Prompt
from ..engines.chat import THINK_CLOSE, THINK_OPEN, block_text
from ..engines.errors import ContextOverflow, EngineBusy

DEFAULT_REASONING_BUDGET = 512  # thinking tokens when the request names no budget
THINKING_PREFILL = THINK_OPEN + "\n"


def with_prefill(conversation: Conversation, text: str) -> Conversation:
    """The conversation with ``text`` appended to the answer the model continues."""
    messages = list(conversation.messages)
    if messages and messages[-1].role == "assistant":
        earlier = "\n".join(t for t in (block_text(b) for b in messages[-1].content) if t)
        messages[-1] = Message("assistant", [{"text": earlier + text}])
    else:
        messages.append(Message("assistant", [{"text": text}]))
    return dataclasses.replace(conversation, messages=messages)


class Answer:
    """Plans and runs one answer. ``prompt`` renders what the model reads (the forced call's
    opening included); ``start`` admits the generation at once (so a full queue is an HTTP error,
    not a broken stream); ``events`` streams it."""

    def __init__(
        self,
        engine: Engine,
        conversation: Conversation,
        *,
        new_tool_use_id: Callable[[], str],
        reasoning: bool = False,
        reasoning_phase: bool = False,
        reasoning_budget: int | None = None,
    ) -> None:
        self.engine = engine
        self.conversation = conversation
        self.params = conversation.params
        self.specs = tool_specs(conversation.tool_config)
        self.mode = tool_mode(conversation.tool_config)
        self.tools_on = bool(self.specs) and self.mode.kind != "none"
        self.forced = self.tools_on and self.mode.forced
        self.new_tool_use_id = new_tool_use_id
        self.reasoning = reasoning and not self.forced
        # A reasoning phase of its own: asked for by the request, run where the engine takes it.
        self.thinks_first = self.reasoning and reasoning_phase and engine.reasoning_phase
        self.reasoning_budget = reasoning_budget
        # One per generation (a generation's end cancels its own, so a later phase of this answer
        # needs a fresh one); ``cancel`` ends them all.
        self._cancels: list[Cancellation] = []
        self._cancelled = False
        self._first: AsyncIterable[EngineEvent] | None = None

    async def prompt(self, conversation: Conversation | None = None) -> Prompt:
        """The prompt for ``conversation`` (by default the answer's own), as this answer sends it."""
        conversation = conversation or self.conversation
        if self.forced:
            return await self.engine.prepare(with_prefill(conversation, TOOL_OPEN))
        if self.thinks_first:
            return await self.engine.prepare(with_prefill(conversation, THINKING_PREFILL))
        return await self.engine.prepare(conversation)

    def start(self, prompt: Prompt, conversation: Conversation | None = None) -> None:
        """Admit the generation of ``prompt`` (rendered from ``conversation``, by default the
        answer's own: a fitted conversation when the request was too big for the model)."""
        if conversation is not None:
            self.conversation = conversation
        if self.forced:
            params = self._call_params(self.params.max_tokens)
        elif self.thinks_first:
            params = self._thinking_params()
        elif self.tools_on:
            params = self._answer_params(self.params.max_tokens)
        else:
            params = self.params
        self._first = self.engine.submit(prompt, params, self._cancellation())

    def cancel(self) -> None:
        self._cancelled = True
        for cancel in self._cancels:
            cancel.cancel()

    def _cancellation(self) -> Cancellation:
        cancel = Cancellation()
        if self._cancelled:  # the client left between two phases
            cancel.cancel()
        self._cancels.append(cancel)
        return cancel

    def _thinking_params(self) -> InferenceParams:
        """The reasoning phase: up to the budget (leaving the answer at least one token)."""
        budget = self.reasoning_budget or DEFAULT_REASONING_BUDGET
        limit = self.params.max_tokens
        if limit is not None:  # a named budget may take all but one token; the default, half
            budget = min(budget, limit - 1) if self.reasoning_budget else min(budget, limit // 2)
            budget = max(1, budget)
        return dataclasses.replace(self.params, max_tokens=budget, stop_sequences=[THINK_CLOSE], grammar=None)

    def _answer_params(self, max_tokens: int | None) -> InferenceParams:
        """Free text: the request's own limits, with the tool-call openings as stops when tools
        are offered."""
        stops = [*self.params.stop_sequences, *CALL_OPENERS] if self.tools_on else self.params.stop_sequences
        return dataclasses.replace(self.params, max_tokens=max_tokens, stop_sequences=stops)

    def _call_params(self, max_tokens: int | None) -> InferenceParams:
        grammar = call_grammar(self.specs, self.mode.name if self.mode.kind == "tool" else None)
        return dataclasses.replace(self.params, max_tokens=max_tokens, stop_sequences=[], grammar=grammar)

    async def events(self) -> AsyncIterator[AnswerEvent]:
        assert self._first is not None, "start() first"
        try:
            if self.forced:
                async for event in self._call(self._first, None):
                    yield event
            elif self.thinks_first:
                async for event in self._reason_then_answer(self._first):
                    yield event
            else:
                async for event in self._free(self._first, None, ""):
                    yield event
        finally:
            self.cancel()

    async def _reason_then_answer(self, generation: AsyncIterable[EngineEvent]) -> AsyncIterator[AnswerEvent]:
        thought: list[str] = []
        thinking: Finished | None = None
        async for event in generation:
            if isinstance(event, Started):
                yield event
            elif isinstance(event, TextDelta):
                piece = event.text.lstrip("\n") if not thought else event.text
                if piece:
                    thought.append(piece)
                    yield ReasoningDelta(piece)
            else:
                thinking = event
        assert thinking is not None
        if not thought:  # a thinking block all the same (empty), as a client sends it back
            yield ReasoningDelta("")
        used = thinking.output_tokens
        left = None if self.params.max_tokens is None else self.params.max_tokens - used
        reasoned = dataclasses.replace(thinking, stop_reason="max_tokens", stop_sequence=None)
        if left is not None and left <= 0:
            yield reasoned
            return
        prefix = f"{THINKING_PREFILL}{''.join(thought).rstrip()}\n{THINK_CLOSE}\n\n"
        prompt = await self.engine.prepare(with_prefill(self.conversation, prefix))
        try:
            answer = self.engine.submit(prompt, self._answer_params(left), self._cancellation())
        except (ContextOverflow, EngineBusy):  # the reasoning filled the window, or the line is full
            yield reasoned
            return
        async for out in self._free(answer, reasoned, prefix):
            yield out

    async def _free(
        self, generation: AsyncIterable[EngineEvent], first: Finished | None, prefix: str
    ) -> AsyncIterator[AnswerEvent]:
        """Free text (a leading ``<think>`` split off when reasoning was asked for and had no phase
        of its own), and the tool call it opens, if it does. ``first``: what an earlier phase of
        this answer generated (billed with it: its prompt, plus both phases' output)."""
        text: list[str] = []
        splitter = _ThinkSplitter() if self.reasoning and first is None else None
        bare = BareCalls() if self.tools_on else None
        done: Finished | None = None
        async for event in generation:
            if isinstance(event, Started):
                if first is None:
                    yield event
            elif isinstance(event, TextDelta):
                text.append(event.text)
                for out in splitter.feed(event.text) if splitter else [event]:
                    if bare is not None and isinstance(out, TextDelta):
                        out = TextDelta(bare.feed(out.text))
                        if not out.text:
                            continue
                    yield out
            else:
                done = event
        assert done is not None
        if splitter:
            for out in splitter.flush():
                if bare is not None and isinstance(out, TextDelta):
                    out = TextDelta(bare.feed(out.text))
                    if not out.text:
                        continue
                yield out
        if first is not None:
            done = dataclasses.replace(
                first,
                stop_reason=done.stop_reason,
                stop_sequence=done.stop_sequence,
                output_tokens=first.output_tokens + done.output_tokens,
            )
        opened = (
            self.tools_on
            and done.stop_reason == "stop_sequence"
            and done.stop_sequence in CALL_OPENERS
            and done.stop_sequence not in self.params.stop_sequences
        )
        if bare is not None and bare.held:
            calls = None if opened else bare.calls(self.specs)
            if calls is None:  # it was text after all
                yield TextDelta(bare.held)
            else:
                for call in calls:
                    yield ToolUseStart(self.new_tool_use_id(), call.name)
                    yield ToolInputDelta(json.dumps(call.input, ensure_ascii=False))
                    yield ToolUseEnd(call)
                yield dataclasses.replace(done, stop_reason="tool_use", stop_sequence=None)
                return
        if not opened:
            yield done
            return
        async for out in self._continue_with_call(prefix + "".join(text), done):
            yield out

    async def _continue_with_call(self, text: str, first: Finished) -> AsyncIterator[AnswerEvent]:
        left = None if self.params.max_tokens is None else self.params.max_tokens - first.output_tokens
        out_of_room = dataclasses.replace(first, stop_reason="max_tokens", stop_sequence=None)
        if left is not None and left <= 0:
            yield out_of_room
            return
        prompt = await self.engine.prepare(with_prefill(self.conversation, text + TOOL_OPEN))
        try:
            generation = self.engine.submit(prompt, self._call_params(left), self._cancellation())
        except (ContextOverflow, EngineBusy):  # no room left for the call, in the context or the line
            yield out_of_room
            return
        async for event in self._call(generation, first):
            yield event

    async def _call(
        self, generation: AsyncIterable[EngineEvent], first: Finished | None
    ) -> AsyncIterator[AnswerEvent]:
        """Stream one call. Usage is billed on the first prompt (and its cache accounting) plus
        everything generated, when the call continues an answer that started as free text."""
        stream = CallStream()
        done: Finished | None = None
        started = False
        arguments = ""
        async for event in generation:
            if isinstance(event, Started):
                if first is None:  # a continuation's admission is not the answer's
                    yield event
                continue
            if isinstance(event, Finished):
                done = event
                break
            name, args = stream.feed(event.text)
            if name is not None:
                started = True
                yield ToolUseStart(self.new_tool_use_id(), name)
            if args:
                arguments += args
                yield ToolInputDelta(args)
        assert done is not None
        rest = stream.finish()
        if rest:
            arguments += rest
            yield ToolInputDelta(rest)
        call = parse_call(stream.text, self.specs)
        if started:
            yield ToolUseEnd(call, partial_input(arguments) if call is None else {})
        stop = "tool_use" if call is not None else "max_tokens"
        billed = first or done
        produced = done.output_tokens + (first.output_tokens if first else 0)
        yield dataclasses.replace(billed, stop_reason=stop, stop_sequence=None, output_tokens=produced)


class _ThinkSplitter:
    """Routes a leading ``<think>…</think>`` to reasoning events, the rest to text."""

    def __init__(self) -> None:
        self._state = "start"  # start | thinking | text
        self._held = ""

    def feed(self, piece: str) -> list[AnswerEvent]:
        self._held += piece
        out: list[AnswerEvent] = []
        if self._state == "start":
            stripped = self._held.lstrip()
            if THINK_OPEN.startswith(stripped):
                return out  # could still become <think>
            if stripped.startswith(THINK_OPEN):
                self._state = "thinking"
                self._held = stripped[len(THINK_OPEN) :]
            else:
                self._state = "text"
        if self._state == "thinking":
            at = self._held.find(THINK_CLOSE)
            if at < 0:
                keep = _partial_suffix(self._held, THINK_CLOSE)
                ready, self._held = self._held[: len(self._held) - keep], self._held[len(self._held) - keep :]
                if ready:
                    out.append(ReasoningDelta(ready))
                return out
            if at:
                out.append(ReasoningDelta(self._held[:at]))
            self._held = self._held[at + len(THINK_CLOSE) :].lstrip()
            self._state = "text"
        if self._state == "text" and self._held:
            out.append(TextDelta(self._held))
            self._held = ""
        return out

    def flush(self) -> list[AnswerEvent]:
        held, self._held = self._held, ""
        if not held:
            return []
        return [ReasoningDelta(held) if self._state == "thinking" else TextDelta(held)]


def _partial_suffix(text: str, marker: str) -> int:
    for k in range(min(len(marker) - 1, len(text)), 0, -1):
        if text.endswith(marker[:k]):
            return k
    return 0
