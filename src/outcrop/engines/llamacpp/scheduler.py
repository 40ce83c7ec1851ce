"""Continuous batching over llama.cpp's batch API, in a KV cache of a fixed budget.

One llama.cpp context holds a unified KV cache of ``kv_tokens`` cells shared by up to ``parallel``
sequences: memory is bounded by the budget, not by slots times the window, so many short conversations run
together and one long one can still use the model's whole window. Each step builds one batch: the
next token of every generating sequence, then prompt tokens of sequences still in prefill
(chunked, so a long prompt never stalls running streams), and decodes it with a single
``llama_decode``. Each sequence has its own sampler chain (penalties, optional grammar, top-k/
top-p/min-p, temperature), so a grammar in one stream never touches another.

Cells are accounted exactly (``_Cells``: a reference count per cell, as llama.cpp keeps one set of
sequence ids per cell). A request is admitted when a slot is free and the cells its prompt needs
are free besides those the prompts already admitted will take. When a step still needs more cells
than are free (generations growing):

1. prefixes that idle slots keep for reuse are dropped, least recently used first;
2. the prefill chunks of the step are shortened;
3. the latest-arrived sequence is preempted: its cells are freed and it goes back to the head of the
   line with its prompt and everything generated so far, to be recomputed when there is room
   (a client whose answer had started sees only a pause; one whose answer had not may still be
   refused at the queue-time bound).

Prefix reuse: a slot keeps its KV after its sequence ends. A new prompt starts from the longest
prefix any slot holds (copied into its own slot with ``llama_memory_seq_cp``, which in a unified
cache only tags the cells), so a repeated system prompt, tool list or conversation history is not
prefilled again.

A request that waits in the queue longer than ``queue_timeout`` seconds is refused with
``EngineBusy`` rather than left to the client's read timeout (which would make it retry and
double the load).
"""

from __future__ import annotations

import codecs
import collections
import ctypes
import itertools
import logging
import queue
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import llama_cpp as L
from llama_cpp._utils import suppress_stdout_stderr

from ...conversation import Finished, Started, TextDelta
from .. import cores
from ..errors import (
    BUSY,
    SHUTTING_DOWN,
    EngineBusy,
    EngineError,
    EngineFailed,
    EngineInternal,
    EngineUnavailable,
)
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
IDLE_POLL = 0.05  # seconds between queue checks while requests wait for room


class _Cells:
    """The KV cache's cells, as llama.cpp counts them: a cell is used while any sequence refers
    to it. Each slot's cells are listed in position order; copying a prefix shares them."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.refs: dict[int, int] = {}
        self._ids = itertools.count()

    @property
    def used(self) -> int:
        return len(self.refs)

    @property
    def free(self) -> int:
        return self.budget - len(self.refs)

    def new(self, n: int) -> list[int]:
        cells = [next(self._ids) for _ in range(n)]
        for cell in cells:
            self.refs[cell] = 1
        return cells

    def share(self, cells: list[int]) -> list[int]:
        for cell in cells:
            self.refs[cell] += 1
        return list(cells)

    def drop(self, cells: list[int]) -> None:
        for cell in cells:
            left = self.refs[cell] - 1
            if left:
                self.refs[cell] = left
            else:
                del self.refs[cell]


@dataclass
class _Slot:
    seq_id: int
    cached: list[int] = field(default_factory=list)  # tokens whose KV this slot holds, in order
    cells: list[int] = field(default_factory=list)  # the cells they are in (``_Cells`` ids)
    active: _Sequence | None = None
    last_used: float = 0.0


@dataclass
class _Sequence:
    job: _Job
    tokens: list[int]  # everything to have in the KV before the next sample: prompt (+ generated)
    limit: int  # most tokens it may generate
    sampler: Any
    stops: StopMatcher
    decoder: Any
    cache_read: int
    cache_write: int
    slot: _Slot | None = None
    pending: list[int] = field(default_factory=list)  # of ``tokens``, those still to decode
    produced: int = 0
    started: bool = False  # Started sent (with the first token, to wake the caller's loop once)
    next_token: int | None = None  # sampled, not yet decoded into the KV
    batch_index: int = -1  # where its logits are in the current batch

    @property
    def n_prompt(self) -> int:
        return len(self.job.prompt.tokens)


@dataclass
class _Waiting:
    job: _Job
    resumed: _Sequence | None = None  # a preempted sequence to recompute


class Scheduler:
    """Owns one llama.cpp context; ``run`` is the worker thread's loop."""

    def __init__(
        self,
        model: Any,
        *,
        parallel: int,
        kv_tokens: int,
        context_length: int,
        threads: int,
        batch_size: int,
        queue_timeout: float,
        stats: dict[str, int],
    ) -> None:
        self.model = model
        self.vocab = L.llama_model_get_vocab(model)
        self.n_vocab = L.llama_vocab_n_tokens(self.vocab)
        self.context_length = context_length
        self.batch_size = batch_size
        self.queue_timeout = queue_timeout
        self.stats = stats
        params = L.llama_context_default_params()
        params.n_ctx = kv_tokens
        params.n_batch = params.n_ubatch = batch_size
        params.n_seq_max = parallel
        params.n_threads = params.n_threads_batch = threads
        params.kv_unified = True
        params.no_perf = True
        # llama.cpp warns when the cache differs from the training context; each sequence is held
        # to context_length here, so the warning is noise on the user's terminal.
        with suppress_stdout_stderr(disable=False):
            self.ctx = L.llama_init_from_model(model, params)
        if not self.ctx:
            raise RuntimeError("llama.cpp could not create a context (not enough memory for the KV cache?)")
        self.memory = L.llama_get_memory(self.ctx)
        self.cells = _Cells(L.llama_n_ctx(self.ctx))
        self.batch = L.llama_batch_init(batch_size, 0, parallel)
        self.slots = [_Slot(i) for i in range(parallel)]
        self.active: list[_Sequence] = []
        self.waiting: collections.deque[_Waiting] = collections.deque()
        self.preemptions = 0
        # Prompt tokens of admitted requests, and those whose KV was reused from a cached prefix.
        self.prompt_tokens = 0
        self.reused_tokens = 0
        self.refused_batches = 0  # llama_decode found no room where the accounting saw some
        self._piece = ctypes.create_string_buffer(256)
        self._generating = False  # what ``cores`` was last told
        self.threads = self._threads_now = threads

    # ---- the loop ----------------------------------------------------------------------------

    def run(self, jobs: queue.Queue[_Job | None]) -> None:
        """Serve jobs until a ``None`` arrives on the queue."""
        while self.tick(jobs):
            pass
        self._shutdown()

    def tick(self, jobs: queue.Queue[_Job | None], *, block: bool = True) -> bool:
        """One turn of the loop: take new jobs, admit, decode one step. False at shutdown. An
        unexpected error ends the requests held and resets the cache; the loop goes on."""
        try:
            if not self._take(jobs, block=block):
                return False
            self._expire()
            self._admit_waiting()
            for seq in [s for s in self.active if s.job.cancel.cancelled]:
                self.stats["cancelled"] += 1
                log.info("generation cancelled after %d tokens (client went away)", seq.produced)
                self._release(seq)
            self._tell_cores()
            if self.active:
                self._step()
                self._tell_cores()
            elif self.waiting and block:
                time.sleep(IDLE_POLL)  # nothing runs, yet something waits: do not spin
        except Exception:
            log.exception("the engine's scheduler failed; ending the requests it held")
            self._reset()
        return True

    def _tell_cores(self) -> None:
        if bool(self.active) != self._generating:
            self._generating = bool(self.active)
            cores.set_generating(self, self._generating)

    def _reset(self) -> None:
        message = "The engine failed while serving this request."
        self._end_active(EngineInternal, message, forget=False)  # the accounting is not trusted here
        for waiting in self.waiting:
            waiting.job.emit(EngineInternal(message))
            if waiting.resumed is not None:
                L.llama_sampler_free(waiting.resumed.sampler)
        self.waiting.clear()
        for slot in self.slots:
            L.llama_memory_seq_rm(self.memory, slot.seq_id, -1, -1)
            slot.cached, slot.cells, slot.active = [], [], None
        self.cells = _Cells(self.cells.budget)
        self._tell_cores()

    def _take(self, jobs: queue.Queue[_Job | None], *, block: bool = True) -> bool:
        """Move new jobs into the waiting line; block only when there is nothing else to do.
        False once the shutdown marker arrives."""
        wait = block and not self.active and not self.waiting
        while True:
            try:
                job = jobs.get() if wait else jobs.get_nowait()
            except queue.Empty:
                return True
            if job is None:
                return False
            self.waiting.append(_Waiting(job))
            wait = False

    def _expire(self) -> None:
        """Refuse what waited too long (counted from its arrival; not a request whose answer has
        started and was paused); forget what its client gave up on."""
        now = time.monotonic()
        kept: collections.deque[_Waiting] = collections.deque()
        for waiting in self.waiting:
            started = waiting.resumed is not None and waiting.resumed.started
            if waiting.job.cancel.cancelled:
                self.stats["cancelled"] += 1
            elif not started and now - waiting.job.submitted > self.queue_timeout:
                self.stats["refused"] += 1
                waiting.job.emit(EngineBusy(BUSY))
            else:
                kept.append(waiting)
                continue
            if waiting.resumed is not None:
                L.llama_sampler_free(waiting.resumed.sampler)
        self.waiting = kept

    # ---- admission ---------------------------------------------------------------------------

    def _admit_waiting(self) -> None:
        """Admit from the head of the line while a slot and the cells for its prompt are free."""
        while self.waiting:
            waiting = self.waiting[0]
            try:
                admitted = self._admit(waiting)
            except EngineFailed as exc:  # the model's own refusal (a grammar it cannot compile)
                self.waiting.popleft()
                waiting.job.emit(EngineFailed(f"The model failed to start generating: {exc.message}"))
                continue
            if not admitted:
                return
            self.waiting.popleft()

    def _admit(self, waiting: _Waiting) -> bool:
        job = waiting.job
        seq = waiting.resumed
        tokens = seq.tokens if seq is not None else job.prompt.tokens
        free = [s for s in self.slots if s.active is None]
        if not free:
            return False
        source, reused = self._longest_prefix(tokens)
        if not self._make_room(len(tokens) - reused + 1, keep=source if reused else None):
            # The prefix it would reuse is in the way: drop it too, if that makes room.
            if not reused or not self._make_room(len(tokens) + 1, keep=None):
                return False
            source, reused = self._longest_prefix(tokens)
        own = [s for s in free if common_prefix(s.cached, tokens) >= reused]
        slot = own[0] if own and reused > 0 else min(free, key=lambda s: (len(s.cached) > 0, s.last_used))
        if reused > 0 and common_prefix(slot.cached, tokens) < reused:
            self._forget(slot)
            L.llama_memory_seq_cp(self.memory, source.seq_id, slot.seq_id, 0, reused)
            slot.cached = list(tokens[:reused])
            slot.cells = self.cells.share(source.cells[:reused])
        else:
            self._truncate(slot, reused)
        if seq is None:
            seq = self._new_sequence(job, reused)
            self.prompt_tokens += len(tokens)
            self.reused_tokens += reused
        seq.slot = slot
        seq.pending = list(tokens[reused:])
        slot.active = seq
        self.active.append(seq)
        if seq.limit <= 0:
            self._finish(seq, "max_tokens")
        return True

    def _longest_prefix(self, tokens: list[int]) -> tuple[_Slot, int]:
        """The slot holding the longest prefix of ``tokens`` (the last token is always decoded
        again, for its logits)."""
        source, reused = max(((s, common_prefix(s.cached, tokens)) for s in self.slots), key=lambda p: p[1])
        return source, min(reused, len(tokens) - 1)

    def _new_sequence(self, job: _Job, reused: int) -> _Sequence:
        prompt = job.prompt.tokens
        params = job.params
        room = self.context_length - len(prompt)
        cache_read = min(reused, job.prompt.cache_prefix)
        return _Sequence(
            job=job,
            tokens=list(prompt),
            limit=min(params.max_tokens or room, room),
            sampler=self._sampler(params),
            stops=StopMatcher(params.stop_sequences),
            decoder=codecs.getincrementaldecoder("utf-8")(errors="replace"),
            cache_read=cache_read,
            cache_write=job.prompt.cache_prefix - cache_read,
        )

    def _committed(self) -> int:
        """Cells the admitted sequences are about to take: the rest of their prompts, and the next
        token of each one generating."""
        return sum(len(s.pending) if s.next_token is None else 1 for s in self.active)

    def _make_room(self, needed: int, keep: _Slot | None, *, beyond_committed: bool = True) -> bool:
        """Make ``needed`` cells available (beyond those admitted sequences are about to take,
        unless ``beyond_committed`` is False), by dropping idle slots' prefixes, least recently
        used first (but ``keep``'s)."""
        idle = sorted(
            (s for s in self.slots if s.active is None and s.cells and s is not keep),
            key=lambda s: s.last_used,
        )
        committed = self._committed() if beyond_committed else 0
        for slot in idle:
            if self.cells.free - committed >= needed:
                break
            self._forget(slot)
        return self.cells.free - committed >= needed

    def _forget(self, slot: _Slot) -> None:
        self._truncate(slot, 0)

    def _truncate(self, slot: _Slot, keep: int) -> None:
        if len(slot.cells) > keep:
            if not L.llama_memory_seq_rm(self.memory, slot.seq_id, keep, -1):
                # A memory that cannot cut a sequence part-way (recurrent models): drop it all.
                L.llama_memory_seq_rm(self.memory, slot.seq_id, -1, -1)
                keep = 0
            self.cells.drop(slot.cells[keep:])
            del slot.cells[keep:]
            del slot.cached[keep:]

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

    # ---- one step ----------------------------------------------------------------------------

    def _step(self) -> None:
        threads = max(1, self.threads - 1) if cores.embedding() else self.threads
        if threads != self._threads_now:
            L.llama_set_n_threads(self.ctx, threads, threads)
            self._threads_now = threads
        planned = self._plan()
        if not planned:
            return
        batch = self.batch
        batch.n_tokens = 0
        for seq, tokens, logits_at_end in planned:
            assert seq.slot is not None
            position = len(seq.slot.cached)
            for j, token in enumerate(tokens):
                i = batch.n_tokens
                batch.token[i] = token
                batch.pos[i] = position + j
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = seq.slot.seq_id
                last = j == len(tokens) - 1
                batch.logits[i] = logits_at_end and last
                if logits_at_end and last:
                    seq.batch_index = i
                batch.n_tokens += 1
        rc = L.llama_decode(self.ctx, batch)
        if rc == 1:  # llama.cpp found no room the accounting saw: free some, else end the batch
            self.refused_batches += 1
            log.warning("llama.cpp refused a %d-token batch for want of KV cells", batch.n_tokens)
            free = self.cells.free
            self._make_room(self.cells.budget, keep=None, beyond_committed=False)  # every idle prefix
            if self.cells.free == free and not self._preempt_newest():
                self._fail_batch(rc)
            return
        if rc != 0:
            self._fail_batch(rc)
            return
        for seq, tokens, _ in planned:  # commit what the decode stored
            assert seq.slot is not None
            seq.slot.cached.extend(tokens)
            seq.slot.cells.extend(self.cells.new(len(tokens)))
            if seq.next_token is not None:
                seq.next_token = None
            else:
                del seq.pending[: len(tokens)]
        for seq, _, logits_at_end in planned:
            if logits_at_end and seq in self.active:
                token = L.llama_sampler_sample(seq.sampler, self.ctx, seq.batch_index)
                self._accept(seq, token)

    def _plan(self) -> list[tuple[_Sequence, list[int], bool]]:
        """What this step decodes: each generating sequence's next token, then prompt chunks, as
        far as free cells allow (making room, and preempting, when even the next tokens do not fit)."""
        while True:
            decoding = [s for s in self.active if s.next_token is not None]
            if self._make_room(len(decoding), keep=None, beyond_committed=False):
                break
            if not self._preempt_newest():
                self._stuck()
                return []
        planned: list[tuple[_Sequence, list[int], bool]] = []
        for seq in decoding:
            assert seq.next_token is not None
            planned.append((seq, [seq.next_token], True))
        prefilling = [s for s in self.active if s.next_token is None and s.pending]
        wanted = len(decoding) + sum(len(s.pending) for s in prefilling)
        if self.cells.free < wanted:
            self._make_room(wanted, keep=None, beyond_committed=False)  # as much as idle prefixes give
        budget = min(self.batch_size, self.cells.free) - len(decoding)
        for seq in prefilling:
            if budget <= 0:
                break
            chunk = seq.pending[:budget]
            planned.append((seq, chunk, len(chunk) == len(seq.pending)))
            budget -= len(chunk)
        if not planned and self.active and not self._preempt_newest():
            # Every sequence is in prefill, not one token fits, and none can wait: end them.
            self._stuck()
        return planned

    def _stuck(self) -> None:
        """No step can be made and nothing can be preempted (the accounting and llama.cpp
        disagree): end the running sequences rather than spin."""
        log.error("the KV cache has no room for any running sequence; ending them")
        self._end_active(EngineInternal, "The engine ran out of KV cache for this request.")

    def _preempt_newest(self) -> bool:
        """Free the latest-arrived sequence's cells; it waits at the head of the line to be
        recomputed (its prompt and what it generated so far), its client seeing only a pause."""
        candidates = [s for s in self.active if s.slot is not None]
        if len(candidates) <= 1:  # the only one running is never preempted for those waiting
            if candidates and self.cells.free == 0:
                # A lone sequence filled the whole cache: it ends at its window.
                self._finish(candidates[0], "max_tokens")
                return True
            return False
        seq = max(candidates, key=lambda s: s.job.submitted)
        slot = seq.slot
        assert slot is not None
        done = slot.cached + ([seq.next_token] if seq.next_token is not None else [])
        seq.tokens = done + [t for t in seq.pending if seq.next_token is None]
        seq.next_token = None
        slot.active = None
        slot.last_used = time.monotonic()
        self._forget(slot)
        seq.slot = None
        self.active.remove(seq)
        self.waiting.appendleft(_Waiting(seq.job, resumed=seq))
        self.preemptions += 1
        log.info("KV cache full: a %d-token sequence waits to be recomputed", len(seq.tokens))
        return True

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
        if seq.slot is not None:
            seq.slot.active = None
            seq.slot.last_used = time.monotonic()
        if seq in self.active:
            self.active.remove(seq)

    def _fail_batch(self, rc: int) -> None:
        """A failed decode leaves the batch's KV state unknown: fail those sequences, forget their
        slots' caches, and carry on with the next requests."""
        log.error("llama_decode failed with %d", rc)
        self._end_active(EngineFailed, "The model failed to generate (decode error).")

    def _end_active(self, error: type[EngineError], message: str, *, forget: bool = True) -> None:
        """End every running sequence with ``error``; their slots' KV state is unknown, so it is
        forgotten (``forget``) or left to the caller to clear."""
        for seq in list(self.active):
            if forget and seq.slot is not None:
                self._forget(seq.slot)
            self.stats["failed"] += 1
            seq.job.emit(error(message))
            self._release(seq)

    def _shutdown(self) -> None:
        for seq in list(self.active):
            seq.job.emit(EngineUnavailable(SHUTTING_DOWN))
            self._release(seq)
        self._tell_cores()
        for waiting in self.waiting:
            waiting.job.emit(EngineUnavailable(SHUTTING_DOWN))
        L.llama_batch_free(self.batch)
        L.llama_free(self.ctx)

    def usage(self) -> dict[str, int]:
        """For health: the cache and the line (read from another thread: plain counters)."""
        return {
            "kv_budget_tokens": self.cells.budget,
            "kv_used_tokens": self.cells.used,
            "active_sequences": len(self.active),
            "waiting": len(self.waiting),
            "preemptions": self.preemptions,
            "prompt_tokens": self.prompt_tokens,
            "reused_prompt_tokens": self.reused_tokens,
            "refused_batches": self.refused_batches,
        }
