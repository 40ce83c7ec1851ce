"""The KV-budget scheduler, step by step, over a test double of llama.cpp's C API
(tests/fake_llama.py: its cell model and a deterministic stand-in for the weights). The scheduler,
its jobs and their event queues are the real ones."""

from __future__ import annotations

import asyncio
import queue
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import fake_llama
from outcrop.conversation import Finished, InferenceParams, Started, TextDelta
from outcrop.engines.base import Cancellation, Prompt
from outcrop.engines.errors import EngineBusy, EngineInternal
from outcrop.engines.llamacpp import scheduler as scheduler_module
from outcrop.engines.llamacpp.engine import _Job
from outcrop.engines.llamacpp.scheduler import Scheduler


@dataclass
class Run:
    """A scheduler over the fake, and its jobs' events as the request side sees them."""

    scheduler: Scheduler
    loop: asyncio.AbstractEventLoop
    jobs: queue.Queue[_Job | None] = field(default_factory=queue.Queue)
    sent: list[_Job] = field(default_factory=list)

    def submit(self, tokens: list[int], max_tokens: int | None) -> _Job:
        job = _Job(
            Prompt(tokens=tokens, text=""),
            InferenceParams(max_tokens=max_tokens, temperature=0.0),
            Cancellation(),
            self.loop,
            asyncio.Queue(),
        )
        self.jobs.put(job)
        self.sent.append(job)
        return job

    def tick(self) -> None:
        assert self.scheduler.tick(self.jobs, block=False)
        self.loop.run_until_complete(asyncio.sleep(0))  # deliver what the scheduler emitted
        context = self.scheduler.ctx
        assert context.used == self.scheduler.cells.used, "the accounting matches llama.cpp's cells"
        for slot in self.scheduler.slots:
            assert context.history(slot.seq_id) == tuple(slot.cached), "each slot's KV is what it thinks"

    def until_done(self, limit: int = 20_000) -> None:
        for _ in range(limit):
            if not self.scheduler.active and not self.scheduler.waiting and self.jobs.empty():
                return
            self.tick()
        raise AssertionError("the scheduler did not finish")

    @staticmethod
    def events(job: _Job) -> list[Any]:
        out = []
        while not job.events.empty():
            out.append(job.events.get_nowait())
        return out


@pytest.fixture
def make_run(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    loops: list[asyncio.AbstractEventLoop] = []

    def make(
        *, budget: int, parallel: int = 16, window: int = 512, batch: int = 512, eog_every: int = 0
    ) -> Run:
        monkeypatch.setattr(scheduler_module, "L", fake_llama.fake_llama(eog_every))
        loop = asyncio.new_event_loop()
        loops.append(loop)
        stats = {"completed": 0, "cancelled": 0, "failed": 0, "refused": 0}
        scheduler = Scheduler(
            object(),
            parallel=parallel,
            kv_tokens=budget,
            context_length=window,
            threads=1,
            batch_size=batch,
            queue_timeout=1e9,  # the tests that want the bound set it
            stats=stats,
        )
        return Run(scheduler, loop)

    yield make
    for loop in loops:
        loop.close()


def answer(events: list[Any]) -> tuple[str, Finished]:
    assert isinstance(events[0], Started), "Started comes first, once"
    assert sum(isinstance(e, Started) for e in events) == 1
    assert isinstance(events[-1], Finished) and sum(isinstance(e, Finished) for e in events) == 1
    return "".join(e.text for e in events if isinstance(e, TextDelta)), events[-1]


def workload(seed: int, count: int) -> list[tuple[list[int], int]]:
    rng = random.Random(seed)
    shared = [rng.randrange(10, 90) for _ in range(rng.randint(0, 60))]  # a common system prompt
    return [
        (shared + [rng.randrange(10, 90) for _ in range(rng.randint(5, 150))], rng.randint(5, 120))
        for _ in range(count)
    ]


@pytest.mark.parametrize("seed", range(6))
def test_a_tight_cache_gives_every_answer_exactly_as_an_ample_one(make_run: Any, seed: int) -> None:
    jobs = workload(seed, 14)
    results: list[list[str]] = []
    preempted = 0
    for budget in (8192, 640):
        run = make_run(budget=budget, parallel=8, window=512, batch=64, eog_every=97)
        for tokens, max_tokens in jobs:
            run.submit(tokens, max_tokens)
        run.until_done()
        results.append([answer(run.events(job))[0] for job in run.sent])
        preempted = run.scheduler.preemptions
        assert fake_llama.FakeSampler.live == 0, "every sampler freed, none twice"
    assert results[0] == results[1], "recomputed after preemption, every answer is the same"
    assert preempted > 0, "the tight cache did preempt"


def test_prompts_are_admitted_only_as_far_as_the_cache_holds_them(make_run: Any) -> None:
    run = make_run(budget=1024, parallel=16, window=512, batch=512)
    for i in range(16):
        run.submit([10 + (i + j) % 80 for j in range(200)], 100)
    run.tick()
    assert len(run.scheduler.active) <= 5, "five 200-token prompts fit 1,024 cells, not sixteen"
    unstarted_preemptions = 0
    for _ in range(20_000):
        if not run.scheduler.active and not run.scheduler.waiting:
            break
        before = {id(s) for s in run.scheduler.active if not s.started}
        run.tick()
        unstarted_preemptions += sum(
            1 for w in run.scheduler.waiting if w.resumed and id(w.resumed) in before
        )
    assert unstarted_preemptions == 0, "no prompt is admitted only to be thrown back before its first token"
    for job in run.sent:
        text, done = answer(run.events(job))
        assert done.output_tokens == 100 and text


def test_the_latest_arrival_is_preempted_not_the_longest(make_run: Any) -> None:
    run = make_run(budget=512, parallel=4, window=512, batch=64)
    old = run.submit([11] * 50, 300)
    for _ in range(5):
        run.tick()
    young = run.submit([12] * 50, 300)
    run.until_done()
    assert run.scheduler.preemptions > 0
    assert answer(run.events(old))[1].output_tokens == 300
    assert answer(run.events(young))[1].output_tokens == 300


def test_an_unstarted_request_waiting_too_long_is_refused(make_run: Any) -> None:
    run = make_run(budget=512, parallel=1, window=512, batch=64)
    run.scheduler.queue_timeout = 0.3
    first = run.submit([11] * 20, 50)
    run.tick()
    second = run.submit([12] * 20, 50)
    time.sleep(0.4)  # the only slot is busy all this while
    run.until_done()
    assert answer(run.events(first))[1].output_tokens == 50
    (refused,) = run.events(second)
    assert isinstance(refused, EngineBusy)


def test_an_error_inside_the_loop_ends_what_it_held_and_the_loop_goes_on(make_run: Any) -> None:
    run = make_run(budget=1024, parallel=4, window=512, batch=64)
    held = run.submit([11] * 30, 40)
    run.tick()
    run.scheduler.ctx.raise_next = RuntimeError("a bug")
    run.tick()
    assert any(isinstance(e, EngineInternal) for e in run.events(held))
    later = run.submit([12] * 30, 40)
    run.until_done()
    assert answer(run.events(later))[1].output_tokens == 40


def test_a_batch_llama_cpp_keeps_refusing_ends_instead_of_spinning(make_run: Any) -> None:
    run = make_run(budget=1024, parallel=4, window=512, batch=64)
    job = run.submit([11] * 30, 40)
    run.scheduler.ctx.refuse = 10**6
    run.until_done(limit=50)
    events = run.events(job)
    assert events and not isinstance(events[-1], Finished)
    assert run.scheduler.refused_batches >= 1
