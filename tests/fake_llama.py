"""A test double of llama.cpp's C API (the outside edge of the embedded engine), enough to drive the
scheduler deterministically without a model: a unified KV cache with llama.cpp's cell model (each
cell holds one position and a set of sequence ids; ``seq_cp`` adds ids, ``seq_rm`` removes them
and frees a cell whose set empties; ``decode`` places a batch in any empty cells, answers 1 when
there are too few, and -1 when a sequence's positions do not continue), and a "model" whose next
token is a hash of the sequence's whole KV history, so a wrong recompute changes the text.
"""

from __future__ import annotations

import hashlib
import types
from dataclasses import dataclass, field
from typing import Any

EOG = 2


@dataclass
class Cell:
    pos: int
    token: int
    seqs: set[int]


@dataclass
class FakeContext:
    size: int
    cells: list[Cell | None] = field(default_factory=list)
    logits: dict[int, tuple[int, ...]] = field(default_factory=dict)  # batch row -> history
    decodes: int = 0
    refuse: int = 0  # answer 1 to the next ``refuse`` decodes
    raise_next: Exception | None = None

    def __post_init__(self) -> None:
        self.cells = [None] * self.size

    def history(self, seq: int) -> tuple[int, ...]:
        return tuple(
            c.token for c in sorted((c for c in self.cells if c and seq in c.seqs), key=lambda c: c.pos)
        )

    @property
    def used(self) -> int:
        return sum(1 for c in self.cells if c)


class FakeBatch:
    def __init__(self, capacity: int, n_seq: int) -> None:
        self.capacity = capacity
        self.token = [0] * capacity
        self.pos = [0] * capacity
        self.n_seq_id = [0] * capacity
        self.seq_id = [[0] * n_seq for _ in range(capacity)]
        self.logits = [False] * capacity
        self.n_tokens = 0


class FakeSampler:
    live = 0

    def __init__(self) -> None:
        FakeSampler.live += 1
        self.freed = False


def next_token(history: tuple[int, ...], eog_every: int) -> int:
    digest = int(hashlib.sha256(repr(history).encode()).hexdigest(), 16)
    return EOG if eog_every and digest % eog_every == 0 else 10 + digest % 80


def fake_llama(eog_every: int = 0) -> Any:
    """A namespace with the ``llama_cpp`` functions the scheduler calls."""
    L = types.SimpleNamespace(LLAMA_DEFAULT_SEED=0)
    L.llama_model_get_vocab = lambda model: "vocab"
    L.llama_vocab_n_tokens = lambda vocab: 100
    L.llama_context_default_params = lambda: types.SimpleNamespace()
    L.llama_init_from_model = lambda model, params: FakeContext((params.n_ctx + 255) // 256 * 256)
    L.llama_get_memory = lambda ctx: ctx
    L.llama_n_ctx = lambda ctx: ctx.size
    L.llama_batch_init = lambda n, embd, n_seq: FakeBatch(n, n_seq)
    L.llama_batch_free = lambda batch: None
    L.llama_free = lambda ctx: None

    def seq_rm(ctx: FakeContext, seq: int, p0: int, p1: int) -> bool:
        p0, p1 = max(p0, 0), (1 << 30) if p1 < 0 else p1
        for i, cell in enumerate(ctx.cells):
            if cell and seq in cell.seqs and p0 <= cell.pos < p1:
                cell.seqs.discard(seq)
                if not cell.seqs:
                    ctx.cells[i] = None
        return True

    def seq_cp(ctx: FakeContext, src: int, dst: int, p0: int, p1: int) -> None:
        p1 = (1 << 30) if p1 < 0 else p1
        for cell in ctx.cells:
            if cell and src in cell.seqs and p0 <= cell.pos < p1:
                cell.seqs.add(dst)

    def decode(ctx: FakeContext, batch: FakeBatch) -> int:
        ctx.decodes += 1
        if ctx.raise_next is not None:
            error, ctx.raise_next = ctx.raise_next, None
            raise error
        if ctx.refuse:
            ctx.refuse -= 1
            return 1
        n = batch.n_tokens
        if n > batch.capacity:
            return -1
        starts: dict[int, int] = {}
        for i in range(n):
            starts.setdefault(batch.seq_id[i][0], batch.pos[i])
        for seq, pos in starts.items():
            if pos != len(ctx.history(seq)):
                return -1
        free = [i for i, cell in enumerate(ctx.cells) if cell is None]
        if len(free) < n:
            return 1
        for i in range(n):
            ctx.cells[free[i]] = Cell(batch.pos[i], batch.token[i], {batch.seq_id[i][0]})
        ctx.logits = {i: ctx.history(batch.seq_id[i][0]) for i in range(n) if batch.logits[i]}
        return 0

    def free_sampler(sampler: FakeSampler) -> None:
        assert not sampler.freed, "sampler freed twice"
        sampler.freed = True
        FakeSampler.live -= 1

    def sample(sampler: FakeSampler, ctx: FakeContext, row: int) -> int:
        assert not sampler.freed, "sampler used after free"
        return next_token(ctx.logits[row], eog_every)

    def piece(vocab: Any, token: int, buffer: Any, size: int, lstrip: int, special: bool) -> int:
        data = f"<{token}>".encode()
        buffer.value = data
        return len(data)

    L.llama_memory_seq_rm = seq_rm
    L.llama_memory_seq_cp = seq_cp
    L.llama_decode = decode
    L.llama_sampler_chain_default_params = lambda: None
    L.llama_sampler_chain_init = lambda params: FakeSampler()
    L.llama_sampler_chain_add = lambda chain, sampler: None
    for name in ("penalties", "grammar", "greedy", "top_k", "top_p", "min_p", "temp", "dist"):
        setattr(L, f"llama_sampler_init_{name}", lambda *args: object())
    L.llama_sampler_free = free_sampler
    L.llama_sampler_sample = sample
    L.llama_vocab_is_eog = lambda vocab, token: token == EOG
    L.llama_token_to_piece = piece
    return L
