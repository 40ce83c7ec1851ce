"""The embedded engine: a GGUF model run in-process by llama.cpp (llama-cpp-python).

Requests are rendered with the model's own chat template and tokenized here; a worker thread
runs the continuous-batching scheduler (``scheduler.py``), which decodes every admitted
generation together and streams each one's tokens back to its request's event loop as they are
sampled. The queue in front of it is bounded: a full queue is ``EngineBusy`` at once.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import re
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llama_cpp as L

from ...config import ServedModel
from ...constrained.tool_calls import template_tools
from ...conversation import Conversation, EngineEvent, Finished, InferenceParams
from ..base import Cancellation, Engine, Prompt, ensure_fits
from ..chat import chat_messages, template_messages
from ..default_system import DefaultSystem, default_system, without_default
from ..errors import (
    BUSY,
    LOADING,
    SHUTTING_DOWN,
    EngineBusy,
    EngineLoading,
    EngineUnavailable,
)
from ..prompt_cache import cache_prefix_length
from .model_files import resolve_model_path
from .scheduler import Scheduler

log = logging.getLogger("outcrop.engine")
# A chat template that reads the ``tools`` variable lists tools in the model's own syntax.
_HANDLES_TOOLS = re.compile(r"\btools\b")
# What a request too big for the window is cut to: ~7 s of prefill for SmolLM2-135M on 2 cores.
DEFAULT_FIT_TOKENS = 2048


@dataclass
class _Job:
    prompt: Prompt
    params: InferenceParams
    cancel: Cancellation
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue[EngineEvent | BaseException]
    submitted: float = field(default_factory=time.monotonic)  # its place in line, and its wait

    def emit(self, *items: EngineEvent | BaseException) -> None:
        """Hand events to the request's event loop (one wake-up for all of them)."""
        self.loop.call_soon_threadsafe(self._put, items)

    def _put(self, items: tuple[EngineEvent | BaseException, ...]) -> None:
        for item in items:
            self.events.put_nowait(item)


class Generation:
    """An admitted generation: iterate it for events; closing it cancels the work."""

    def __init__(self, job: _Job) -> None:
        self._job = job

    def __aiter__(self) -> AsyncIterator[EngineEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[EngineEvent]:
        try:
            while True:
                item = await self._job.events.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if isinstance(item, Finished):
                    return
        finally:
            self._job.cancel.cancel()


def kv_bytes_per_token(model: Any, metadata: dict[str, str]) -> int:
    """A token's keys and values over every layer, in f16 (the cache's type). The key and value
    sizes come from the GGUF's metadata where it states them (Qwen3, Gemma: not n_embd / n_head)."""
    arch = metadata.get("general.architecture", "")
    n_embd_head = L.llama_model_n_embd(model) // max(1, L.llama_model_n_head(model))
    key = int(metadata.get(f"{arch}.attention.key_length", n_embd_head))
    value = int(metadata.get(f"{arch}.attention.value_length", n_embd_head))
    return L.llama_model_n_layer(model) * L.llama_model_n_head_kv(model) * (key + value) * 2


class LlamaCppEngine(Engine):
    reasoning_phase = True

    def __init__(
        self, model: ServedModel, *, threads: int, max_queue: int, queue_timeout: float = 30.0
    ) -> None:
        self.name = model.name
        self._spec = model
        self.threads = model.threads or threads
        self.parallel = model.parallel
        self.max_queue = max_queue
        self.queue_timeout = queue_timeout
        self.kv_tokens = 0  # the KV cache's budget, known once loaded
        self.kv_mb = 0
        budget = DEFAULT_FIT_TOKENS if model.fit_tokens is None else model.fit_tokens
        self.fit_tokens = budget or None
        self._jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=max_queue)
        self._llm: Any = None
        self._formatter: Any = None
        self._default_system: DefaultSystem | None = None  # the template's own, left out
        self._tools_in_template = False  # offer tools through the chat template (it handles them)
        self._template_refused = False  # said once in the log
        self._worker: threading.Thread | None = None
        self._scheduler: Scheduler | None = None
        self.context_length = 0
        self.model_path = ""
        # Counters shown by /_outcrop/health (tests use them to see cancellation happen).
        self.stats = {"completed": 0, "cancelled": 0, "failed": 0, "refused": 0}

    @property
    def ready(self) -> bool:
        return self._llm is not None

    def load(self, on_stage: Callable[[str], None] | None = None) -> None:
        """Load the weights (seconds for small models) and start the worker thread."""
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.model_path = resolve_model_path(self._spec.path)
        if on_stage:
            on_stage(f"loading {self.model_path}")
        # This Llama object provides the vocabulary, tokenizer and chat template; its own context is
        # kept tiny, since generation runs in the scheduler's context.
        llm = Llama(model_path=self.model_path, n_ctx=256, n_batch=256, n_threads=1, verbose=False)
        template: str | None = llm.metadata.get("tokenizer.chat_template")
        if self._spec.chat_template:
            template = Path(self._spec.chat_template).expanduser().read_text()
        if not template:
            raise ValueError(
                f"{self.model_path} has no chat template in its GGUF metadata: give one with chat_template"
            )
        vocab = llm._model
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=vocab.token_get_text(llm.token_eos()),
            bos_token=vocab.token_get_text(llm.token_bos()),
        )
        self._default_system = default_system(lambda m: str(self._formatter(messages=m).prompt))
        if self._default_system:
            log.info("model %s: its chat template's default system prompt is left out of requests "
                     "that have none", self.name)  # fmt: skip
        self._tools_in_template = (
            self._spec.tool_prompt == "auto" and _HANDLES_TOOLS.search(template) is not None
        )
        if self._tools_in_template:
            log.info("model %s: tools are offered through its chat template", self.name)
        window = self._spec.context_length or llm._model.n_ctx_train()
        per_token = kv_bytes_per_token(llm.model, llm.metadata)
        self.kv_tokens = self._kv_budget(per_token, window)
        if self.kv_tokens < window:
            log.warning(
                "model %s: the KV budget (%d tokens) is smaller than its window (%d): requests are held to "
                "the budget", self.name, self.kv_tokens, window,
            )  # fmt: skip
        self.context_length = min(window, self.kv_tokens)
        scheduler = Scheduler(
            llm.model,
            parallel=self.parallel,
            kv_tokens=self.kv_tokens,
            context_length=self.context_length,
            threads=self.threads,
            batch_size=self._spec.batch_size,
            queue_timeout=self.queue_timeout,
            stats=self.stats,
        )
        self.kv_tokens = scheduler.cells.budget
        self.kv_mb = round(self.kv_tokens * per_token / 2**20)
        self._scheduler = scheduler
        self._llm = llm
        self._worker = threading.Thread(
            target=scheduler.run, args=(self._jobs,), name=f"engine-{self.name}", daemon=True
        )
        self._worker.start()

    def _kv_budget(self, per_token: int, window: int) -> int:
        """Cells of the shared KV cache: ``kv_tokens``, else ``kv_mb`` converted, else one window."""
        if self._spec.kv_tokens:
            return self._spec.kv_tokens
        if self._spec.kv_mb:
            return max(256, int(self._spec.kv_mb * 1024 * 1024 / per_token))
        return window

    # ---- prompts -------------------------------------------------------------------------

    def render(self, conversation: Conversation) -> str:
        if self._tools_in_template and _has_tools(conversation):
            try:
                return self._render(template_messages(conversation), template_tools(conversation.tool_config))
            except Exception as exc:  # a template that wants more (Mistral's 9-character call ids…)
                level = logging.DEBUG if self._template_refused else logging.WARNING
                self._template_refused = True
                log.log(level, "model %s: its chat template could not render a conversation's tools (%s); "
                        "Outcrop's tool prompt is used for it", self.name, exc)  # fmt: skip
        return self._render(chat_messages(conversation), None)

    def _render(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> str:
        # A trailing assistant message is a prefill: the model continues it.
        prefill = (
            messages[-1]["role"] == "assistant" and not messages[-1].get("tool_calls") if messages else False
        )
        if prefill:
            last = messages.pop()
        text = str(self._formatter(messages=messages, tools=tools).prompt)
        if not any(m["role"] == "system" for m in messages):
            text = without_default(text, self._default_system, tools_offered=tools is not None)
        if prefill:
            text += last["content"]
        return text

    async def prepare(self, conversation: Conversation) -> Prompt:
        """Rendered and tokenized here: llama.cpp tokenizes tens of thousands of tokens in a few
        milliseconds, less than a hop to a worker thread would cost."""
        if self._llm is None:
            raise EngineLoading(LOADING)
        text = self.render(conversation)
        tokens = self._tokenize(text)
        cached = cache_prefix_length(conversation, tokens, self.render, self._tokenize)
        return Prompt(tokens=tokens, text=text, cache_prefix=cached)

    def _tokenize(self, text: str) -> list[int]:
        return list(self._llm.tokenize(text.encode(), add_bos=False, special=True))

    # ---- generation ----------------------------------------------------------------------

    def submit(self, prompt: Prompt, params: InferenceParams, cancel: Cancellation) -> Generation:
        """Admit a generation, or refuse it at once when the queue is full."""
        if self._llm is None:
            raise EngineLoading(LOADING)
        ensure_fits(prompt, self.context_length)
        waiting = len(self._scheduler.waiting) if self._scheduler else 0
        job = _Job(prompt, params, cancel, asyncio.get_running_loop(), asyncio.Queue())
        try:
            if waiting + self._jobs.qsize() >= self.max_queue:
                raise queue.Full
            self._jobs.put_nowait(job)
        except queue.Full:
            self.stats["refused"] += 1
            raise EngineBusy(BUSY) from None
        return Generation(job)

    def activity(self) -> dict[str, int]:
        if self._scheduler is None:
            return {"active_sequences": 0, "waiting": self._jobs.qsize()}
        usage = self._scheduler.usage()
        usage["waiting"] += self._jobs.qsize()
        usage["kv_budget_mb"] = self.kv_mb
        return usage

    def close(self) -> None:
        if self._worker is not None:
            while True:
                try:
                    pending = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if pending is not None:
                    pending.emit(EngineUnavailable(SHUTTING_DOWN))
            self._jobs.put(None)
            self._worker.join(timeout=10)
            self._worker = None


def _has_tools(conversation: Conversation) -> bool:
    """Tools offered, or calls and results in the history."""
    if (conversation.tool_config or {}).get("tools"):
        return True
    return any("toolUse" in b or "toolResult" in b for m in conversation.messages for b in m.content)
