"""The embedded engine: a GGUF model run in-process by llama.cpp (llama-cpp-python).

One worker thread owns the model and serves a bounded queue of generations, so concurrent
requests never share or corrupt a context; each generation streams its tokens back to its
request's event loop as they are sampled, and stops at the next token if the client leaves.
``Llama.generate`` reuses the longest matching prefix of the previous prompt's KV cache, so a
repeated system prompt is not prefilled again.
"""

from __future__ import annotations

import asyncio
import codecs
import functools
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from ...config import ServedModel
from ...conversation import Conversation, InferenceParams, block_text
from ...protocol.errors import (
    ModelErrorException,
    ServiceUnavailableException,
    ThrottlingException,
    ValidationException,
)
from ..base import Cancellation, Engine, Event, Finished, Prompt, TextDelta
from ..stops import StopMatcher
from .model_files import resolve_model_path

log = logging.getLogger("outcrop.engine")

# Sampling used when a request leaves a parameter unset (documented in docs/configuration.md).
DEFAULT_TEMPERATURE = 0.7
DEFAULT_TOP_P = 0.9
DEFAULT_TOP_K = 40
REPEAT_PENALTY = 1.1


@dataclass
class _Job:
    prompt: Prompt
    params: InferenceParams
    cancel: Cancellation
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue[Event | BaseException]

    def emit(self, item: Event | BaseException) -> None:
        self.loop.call_soon_threadsafe(self.events.put_nowait, item)


@functools.lru_cache(maxsize=64)
def _compiled_grammar(text: str) -> Any:
    """Parsing a GBNF grammar costs milliseconds; tool sets repeat, so keep recent ones."""
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_string(text, verbose=False)


class Generation:
    """An admitted generation: iterate it for events; closing it cancels the work."""

    def __init__(self, job: _Job) -> None:
        self._job = job

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
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


class LlamaCppEngine(Engine):
    def __init__(self, model: ServedModel, *, threads: int, max_queue: int) -> None:
        self.name = model.name
        self._spec = model
        self.threads = model.threads or threads
        self._jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=max_queue)
        self._llm: Any = None
        self._formatter: Any = None
        self._worker: threading.Thread | None = None
        self.context_length = 0
        self.model_path = ""
        # Counters shown by /_outcrop/health (tests use them to see cancellation happen).
        self.stats = {"completed": 0, "cancelled": 0, "failed": 0}

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
        llm = Llama(
            model_path=self.model_path,
            n_ctx=self._spec.context_length or 0,
            n_threads=self.threads,
            n_threads_batch=self.threads,
            n_batch=self._spec.batch_size,
            verbose=False,
        )
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ValueError(f"{self.model_path} has no chat template in its GGUF metadata")
        vocab = llm._model
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=vocab.token_get_text(llm.token_eos()),
            bos_token=vocab.token_get_text(llm.token_bos()),
        )
        self.context_length = llm.n_ctx()
        self._llm = llm
        self._worker = threading.Thread(target=self._serve, name=f"engine-{self.name}", daemon=True)
        self._worker.start()

    # ---- prompts -------------------------------------------------------------------------

    def render(self, conversation: Conversation) -> str:
        messages: list[dict[str, str]] = []
        system = "\n\n".join(t for t in (block_text(b) for b in conversation.system) if t)
        if system:
            messages.append({"role": "system", "content": system})
        for message in conversation.messages:
            text = "\n".join(t for t in (block_text(b) for b in message.content) if t)
            messages.append({"role": message.role, "content": text})
        # A trailing assistant message is a prefill: the model continues it.
        prefill = messages[-1]["role"] == "assistant" if messages else False
        if prefill:
            last = messages.pop()
        result = self._formatter(messages=messages)
        text = str(result.prompt)
        if prefill:
            text += last["content"]
        return text

    def prepare(self, conversation: Conversation) -> Prompt:
        if self._llm is None:
            raise ServiceUnavailableException("The model is still loading. Try again shortly.")
        text = self.render(conversation)
        tokens = self._llm.tokenize(text.encode(), add_bos=False, special=True)
        if len(tokens) >= self.context_length:
            raise ValidationException("Input is too long for requested model.")
        return Prompt(tokens=list(tokens), text=text)

    # ---- generation ----------------------------------------------------------------------

    def submit(self, prompt: Prompt, params: InferenceParams, cancel: Cancellation) -> Generation:
        """Admit a generation or refuse it at once with AWS's throttling error."""
        if self._llm is None:
            raise ServiceUnavailableException("The model is still loading. Try again shortly.")
        job = _Job(prompt, params, cancel, asyncio.get_running_loop(), asyncio.Queue())
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            raise ThrottlingException("Too many requests, please wait before trying again.") from None
        return Generation(job)

    def generate(self, prompt: Prompt, params: InferenceParams, cancel: Cancellation) -> AsyncIterator[Event]:
        return aiter(self.submit(prompt, params, cancel))

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            if job.cancel.cancelled:
                self.stats["cancelled"] += 1
                continue
            try:
                self._run(job)
            except Exception as exc:  # the model failed: report it to that request only
                self.stats["failed"] += 1
                log.exception("generation failed")
                job.emit(ModelErrorException(f"The model failed to generate: {exc}"))

    def _run(self, job: _Job) -> None:
        from llama_cpp import llama_vocab_is_eog as is_eog

        llm = self._llm
        vocab = llm._model.vocab
        params = job.params
        n_prompt = len(job.prompt.tokens)
        room = self.context_length - n_prompt
        limit = min(params.max_tokens or room, room)
        temperature = DEFAULT_TEMPERATURE if params.temperature is None else params.temperature
        stops = StopMatcher(params.stop_sequences)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        produced = 0
        stop_reason = "max_tokens"
        matched: str | None = None
        started = time.perf_counter()
        if limit <= 0:
            job.emit(Finished("max_tokens", n_prompt, 0))
            return
        for token in llm.generate(
            job.prompt.tokens,
            temp=temperature,
            top_p=DEFAULT_TOP_P if params.top_p is None else params.top_p,
            top_k=DEFAULT_TOP_K if params.top_k is None else params.top_k,
            repeat_penalty=REPEAT_PENALTY,
            reset=True,
            grammar=_compiled_grammar(params.grammar) if params.grammar else None,
        ):
            if job.cancel.cancelled:
                self.stats["cancelled"] += 1
                log.info("generation cancelled after %d tokens (client went away)", produced)
                return
            if is_eog(vocab, token):
                stop_reason = "end_turn"
                break
            produced += 1
            piece = decoder.decode(llm.detokenize([token], special=False))
            text, matched = stops.feed(piece)
            if text:
                job.emit(TextDelta(text))
            if matched is not None:
                stop_reason = "stop_sequence"
                break
            if produced >= limit:
                break
        if matched is None:
            tail = decoder.decode(b"", final=True) + stops.flush()
            if tail:
                job.emit(TextDelta(tail))
        elapsed = time.perf_counter() - started
        log.debug("generated %d tokens in %.2fs (%s)", produced, elapsed, stop_reason)
        self.stats["completed"] += 1
        job.emit(Finished(stop_reason, n_prompt, produced, matched))

    def close(self) -> None:
        if self._worker is not None:
            while True:
                try:
                    pending = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if pending is not None:
                    pending.emit(ServiceUnavailableException("The server is shutting down."))
            self._jobs.put(None)
            self._worker.join(timeout=10)
            self._worker = None
