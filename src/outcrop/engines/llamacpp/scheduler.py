"""Continuous batching over llama.cpp's batch API.

One llama.cpp context holds up to ``parallel`` sequences (slots) in a unified KV cache. Each step
builds one batch: the next token of every generating sequence, then prompt tokens of sequences
still in prefill (chunked, so a long prompt never stalls running streams), and decodes it with a
single ``llama_decode``. Sequences join between steps and leave when they finish or their client
goes away. Each sequence has its own sampler chain (penalties, optional grammar, top-k/top-p/
min-p, temperature), so a grammar in one stream never touches another.

Prefix reuse: a slot keeps its KV after its sequence ends. A new prompt starts from the longest
prefix any slot holds (copied into its own slot with ``llama_memory_seq_cp``, which in a unified
cache only tags the cells), so a repeated system prompt, tool list or conversation history is not
prefilled again.
"""

from __future__ import annotations

import codecs
import ctypes
import logging
import queue
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import llama_cpp as L
from llama_cpp._utils import suppress_stdout_stderr

from ...conversation import Finished, Started, TextDelta
from ..errors import EngineFailed, EngineUnavailable
from ..prompt_cache import common_prefix
from ..stops import StopMatcher

if TYPE_CHECKING:
    from .engine import _Job

log = logging.getLogger("outcrop.engine")

DEFAULT_TEMPERATURE = 0.7
DEFAULT_TOP_P = 0.9
DEFAULT_TOP_K = 40
MIN_P = 0.05
REPEAT_PENALTY = 1.1
PENALTY_LAST_N = 64


@dataclass
class _Slot:
    seq_id: int
    cached: list[int] = field(default_factory=list)  # tokens whose KV this slot holds, in order
    active: _Sequence | None = None
    last_used: float = 0.0


@dataclass
class _Sequence:
    job: _Job
    slot: _Slot
    pending: list[int]  # prompt tokens still to decode
    limit: int  # most tokens it may generate
    sampler: Any
    stops: StopMatcher
    decoder: Any
    cache_read: int
    cache_write: int
    produced: int = 0
    started: bool = False  # Started sent (with the first token, to wake the caller's loop once)
    next_token: int | None = None  # sampled, not yet decoded into the KV
    batch_index: int = -1  # where its logits are in the current batch

    @property
    def n_prompt(self) -> int:
        return len(self.job.prompt.tokens)


class Scheduler:
    """Owns one llama.cpp context; ``run`` is the worker thread's loop."""

    def __init__(
        self,
        model: Any,
        *,
        parallel: int,
        context_length: int,
        threads: int,
        batch_size: int,
        stats: dict[str, int],
    ) -> None:
        self.model = model
        self.vocab = L.llama_model_get_vocab(model)
        self.n_vocab = L.llama_vocab_n_tokens(self.vocab)
        self.context_length = context_length
        self.batch_size = batch_size
        self.stats = stats
        params = L.llama_context_default_params()
        # Every slot may fill its whole context: the unified cache is sized for that, so a decode
        # never runs out of cells mid-generation.
        params.n_ctx = context_length * parallel
        params.n_batch = params.n_ubatch = batch_size
        params.n_seq_max = parallel
        params.n_threads = params.n_threads_batch = threads
        params.kv_unified = True
        params.no_perf = True
        # llama.cpp warns that a unified cache exceeds the training context; each sequence is held
        # to context_length here, so the warning is noise on the user's terminal.
        with suppress_stdout_stderr(disable=False):
            self.ctx = L.llama_init_from_model(model, params)
        if not self.ctx:
            raise RuntimeError("llama.cpp could not create a context (not enough memory for the KV cache?)")
        self.memory = L.llama_get_memory(self.ctx)
        self.batch = L.llama_batch_init(batch_size, 0, parallel)
        self.slots = [_Slot(i) for i in range(parallel)]
        self.active: list[_Sequence] = []
        self._piece = ctypes.create_string_buffer(256)

    # ---- admission ---------------------------------------------------------------------------

    def _admit(self, job: _Job) -> None:
        prompt = job.prompt.tokens
        free = [s for s in self.slots if s.active is None]
        # The longest prefix of this prompt held anywhere (the last prompt token is always decoded
        # again, for its logits).
        source, reused = max(
            ((s, common_prefix(s.cached, prompt)) for s in self.slots), key=lambda pair: pair[1]
        )
        reused = min(reused, len(prompt) - 1)
        own = [s for s in free if common_prefix(s.cached, prompt) >= reused]
        slot = own[0] if own and reused > 0 else min(free, key=lambda s: (len(s.cached) > 0, s.last_used))
        if slot is not source and reused > 0:
            L.llama_memory_seq_rm(self.memory, slot.seq_id, -1, -1)
            L.llama_memory_seq_cp(self.memory, source.seq_id, slot.seq_id, 0, reused)
        else:
            L.llama_memory_seq_rm(self.memory, slot.seq_id, reused, -1)
        slot.cached = list(prompt[:reused])
        params = job.params
        room = self.context_length - len(prompt)
        cache_read = min(reused, job.prompt.cache_prefix)
        seq = _Sequence(
            job=job,
            slot=slot,
            pending=list(prompt[reused:]),
            limit=min(params.max_tokens or room, room),
            sampler=self._sampler(params),
            stops=StopMatcher(params.stop_sequences),
            decoder=codecs.getincrementaldecoder("utf-8")(errors="replace"),
            cache_read=cache_read,
            cache_write=job.prompt.cache_prefix - cache_read,
        )
        slot.active = seq
        self.active.append(seq)
        if seq.limit <= 0:
            self._finish(seq, "max_tokens")

    def _sampler(self, params: Any) -> Any:
        chain = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params())
        add = L.llama_sampler_chain_add
        add(chain, L.llama_sampler_init_penalties(self.n_vocab, PENALTY_LAST_N, REPEAT_PENALTY, 0.0, 0.0))
        if params.grammar:
            grammar = L.llama_sampler_init_grammar(self.vocab, params.grammar.encode(), b"root")
            if not grammar:
                L.llama_sampler_free(chain)
                raise EngineFailed("The output grammar could not be compiled.")
            add(chain, grammar)
        temperature = DEFAULT_TEMPERATURE if params.temperature is None else params.temperature
        if temperature <= 0:
            add(chain, L.llama_sampler_init_greedy())
            return chain
        top_k = DEFAULT_TOP_K if params.top_k is None else params.top_k
        if top_k > 0:
            add(chain, L.llama_sampler_init_top_k(top_k))
        add(chain, L.llama_sampler_init_top_p(DEFAULT_TOP_P if params.top_p is None else params.top_p, 1))
        add(chain, L.llama_sampler_init_min_p(MIN_P, 1))
        add(chain, L.llama_sampler_init_temp(temperature))
        add(chain, L.llama_sampler_init_dist(L.LLAMA_DEFAULT_SEED))
        return chain

    # ---- the loop ----------------------------------------------------------------------------

    def run(self, jobs: queue.Queue[_Job | None]) -> None:
        """Serve jobs until a ``None`` arrives on the queue."""
        while True:
            # Block for work only when idle; otherwise take what arrived since the last step.
            while any(s.active is None for s in self.slots):
                try:
                    job = jobs.get(block=not self.active)
                except queue.Empty:
                    break
                if job is None:
                    self._shutdown()
                    return
                if job.cancel.cancelled:
                    self.stats["cancelled"] += 1
                    continue
                try:
                    self._admit(job)
                except Exception as exc:
                    log.exception("could not start a generation")
                    job.emit(EngineFailed(f"The model failed to start generating: {exc}"))
            for seq in [s for s in self.active if s.job.cancel.cancelled]:
                self.stats["cancelled"] += 1
                log.info("generation cancelled after %d tokens (client went away)", seq.produced)
                self._release(seq)
            if self.active:
                self._step()

    def _step(self) -> None:
        batch = self.batch
        batch.n_tokens = 0

        def add(token: int, seq: _Sequence, logits: bool) -> None:
            i = batch.n_tokens
            batch.token[i] = token
            batch.pos[i] = len(seq.slot.cached)
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq.slot.seq_id
            batch.logits[i] = logits
            batch.n_tokens += 1
            seq.slot.cached.append(token)
            if logits:
                seq.batch_index = i

        for seq in self.active:
            seq.batch_index = -1
            if seq.next_token is not None:
                add(seq.next_token, seq, True)
                seq.next_token = None
        budget = self.batch_size - batch.n_tokens
        for seq in self.active:
            if budget <= 0:
                break
            if seq.pending:
                chunk, seq.pending = seq.pending[:budget], seq.pending[budget:]
                for j, token in enumerate(chunk):
                    add(token, seq, not seq.pending and j == len(chunk) - 1)
                budget -= len(chunk)
        if batch.n_tokens == 0:
            return
        rc = L.llama_decode(self.ctx, batch)
        if rc != 0:
            self._fail_batch(rc)
            return
        for seq in list(self.active):
            if seq.batch_index >= 0:
                token = L.llama_sampler_sample(seq.sampler, self.ctx, seq.batch_index)
                self._accept(seq, token)

    def _accept(self, seq: _Sequence, token: int) -> None:
        if L.llama_vocab_is_eog(self.vocab, token):
            self._finish(seq, "end_turn")
            return
        seq.produced += 1
        n = L.llama_token_to_piece(self.vocab, token, self._piece, len(self._piece), 0, False)
        piece = seq.decoder.decode(self._piece.raw[: max(n, 0)])
        text, matched = seq.stops.feed(piece)
        if text:
            self._send(seq, TextDelta(text))
        if matched is not None:
            self._finish(seq, "stop_sequence", matched)
        elif seq.produced >= seq.limit:
            self._finish(seq, "max_tokens")
        else:
            seq.next_token = token

    def _finish(self, seq: _Sequence, reason: str, matched: str | None = None) -> None:
        out: list[TextDelta | Finished] = []
        if matched is None:
            tail = seq.decoder.decode(b"", final=True) + seq.stops.flush()
            if tail:
                out.append(TextDelta(tail))
        self.stats["completed"] += 1
        out.append(Finished(reason, seq.n_prompt, seq.produced, matched, seq.cache_read, seq.cache_write))
        self._send(seq, *out)
        self._release(seq)

    def _send(self, seq: _Sequence, *events: TextDelta | Finished) -> None:
        """A sequence's events; the first ones are preceded by its admission (``Started``)."""
        if not seq.started:
            seq.started = True
            seq.job.emit(Started(seq.n_prompt, seq.cache_read, seq.cache_write), *events)
        else:
            seq.job.emit(*events)

    def _release(self, seq: _Sequence) -> None:
        L.llama_sampler_free(seq.sampler)
        seq.slot.active = None
        seq.slot.last_used = time.monotonic()
        self.active.remove(seq)

    def _fail_batch(self, rc: int) -> None:
        """A failed decode leaves the batch's KV state unknown: fail those sequences, forget their
        slots' caches, and carry on with the next requests."""
        log.error("llama_decode failed with %d", rc)
        for seq in list(self.active):
            L.llama_memory_seq_rm(self.memory, seq.slot.seq_id, -1, -1)
            seq.slot.cached = []
            self.stats["failed"] += 1
            seq.job.emit(EngineFailed("The model failed to generate (decode error)."))
            self._release(seq)

    def _shutdown(self) -> None:
        for seq in list(self.active):
            seq.job.emit(EngineUnavailable("The server is shutting down."))
            self._release(seq)
        L.llama_batch_free(self.batch)
        L.llama_free(self.ctx)
