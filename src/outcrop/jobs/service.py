"""The jobs service: the job store, the S3 connection (configured or embedded), and the tasks
that run async invocations and batch jobs, resumed when the server starts again.

Jobs share the engine with interactive requests at a lower priority: at most ``jobs.concurrency``
invocations from jobs run at once (one by default), interactive requests are never held for
them, and a job's next invocation waits while interactive generations are running (up to
``YIELD_SECONDS``, so a server that is never idle still makes progress on its jobs). A job's
invocation already running is not preempted: it shares the engine's batch until it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..auth import Identity
from ..store.jobs import JobStore, open_store
from .embedded_s3 import EmbeddedS3
from .objects import ObjectStore, S3Problem

if TYPE_CHECKING:
    from ..services import Services

log = logging.getLogger("outcrop.jobs")
YIELD_SECONDS = 10.0
EMBEDDED_CREDENTIALS = ("outcrop", "outcrop")  # open mode: SeaweedFS without identities takes any


def identity_doc(identity: Identity) -> dict[str, str]:
    doc = {"kind": identity.kind, "principal": identity.principal}
    if identity.user:
        doc["user"] = identity.user  # a job's invocations are authorized as its submitter
    return doc


def identity_of(doc: dict[str, str]) -> Identity:
    return Identity(doc.get("kind", "anonymous"), doc.get("principal", ""), doc.get("user"))


class Jobs:
    def __init__(self, services: Services) -> None:
        self.services = services
        settings = services.settings
        self.settings = settings.jobs
        self.store: JobStore = open_store(settings.state_dir)
        self.embedded: EmbeddedS3 | None = None
        self.objects: ObjectStore | None = None
        self.problem: str | None = None  # why there is no S3
        if self.settings.s3_endpoint:
            self.objects = ObjectStore(
                self.settings.s3_endpoint,
                region=self.settings.s3_region or settings.region,
                access_key_id=self.settings.s3_access_key_id,
                secret_access_key=self.settings.s3_secret_access_key,
            )
        elif self.settings.embedded_s3:
            self.embedded = EmbeddedS3(Path(settings.state_dir).expanduser())
        else:
            self.problem = "No S3 endpoint is configured and the embedded S3 server is off."
        self._s3_settled: asyncio.Event | None = None
        self._slots: asyncio.Semaphore | None = None
        self._job_generations = 0  # jobs' invocations on the engines now
        self._tasks: set[asyncio.Task[None]] = set()
        self.running: dict[str, str] = {}  # job id -> what it is doing, for health and `outcrop jobs`

    @property
    def s3_endpoint(self) -> str | None:
        return self.objects.endpoint if self.objects else None

    async def start(self) -> None:
        """Bring S3 up (the embedded server takes seconds), then resume unfinished jobs."""
        self._s3_settled = asyncio.Event()
        self._slots = asyncio.Semaphore(self.settings.concurrency)
        if self.embedded is not None:
            settings = self.services.settings
            # In open mode any credentials; else the server's own SigV4 pairs and one of its own.
            user, secret = EMBEDDED_CREDENTIALS
            identities = None
            if not settings.open_mode:
                user, secret = f"outcrop-{secrets.token_hex(6)}", secrets.token_urlsafe(30)
                identities = {**settings.credentials, user: secret}
            try:
                url = await self.embedded.start(identities)
            except (OSError, RuntimeError) as exc:
                self.problem = f"The embedded S3 server did not start: {exc}"
                log.error("%s", self.problem)
            else:
                region = settings.region
                self.objects = ObjectStore(url, region=region, access_key_id=user, secret_access_key=secret)
                log.info("S3 ready at %s (embedded SeaweedFS, %.1f s; data in %s)", url,
                         self.embedded.started_in or 0.0, self.embedded.dir)  # fmt: skip
        self._s3_settled.set()
        from . import async_invoke, batch

        resumed = async_invoke.resume(self) + batch.resume(self)
        if resumed:
            log.info("resuming %d unfinished job(s)", resumed)

    async def s3(self) -> ObjectStore:
        """The S3 connection once it is up; S3Problem if there is none."""
        if self._s3_settled is not None:
            await self._s3_settled.wait()
        if self.objects is None:
            raise S3Problem(self.problem or "S3 is not available yet.")
        return self.objects

    async def models_ready(self) -> None:
        while not self.services.ready:
            await asyncio.sleep(0.5)

    async def yield_to_interactive(self) -> None:
        """Before a job's invocation: wait while the engines run anything but jobs' invocations."""
        deadline = asyncio.get_running_loop().time() + YIELD_SECONDS
        while asyncio.get_running_loop().time() < deadline:
            busy = sum(
                e.activity().get("active_sequences", 0) + e.activity().get("waiting", 0)
                for e in self.services.engines.values()
            )
            if busy <= self._job_generations:
                return
            await asyncio.sleep(0.05)

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """A job's turn on the engine: a slot, after interactive requests have had theirs."""
        async with self.slot():
            await self.yield_to_interactive()
            self._job_generations += 1
            try:
                yield
            finally:
                self._job_generations -= 1

    def slot(self) -> asyncio.Semaphore:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.settings.concurrency)
        return self._slots

    def spawn(self, job_id: str, work: Coroutine[Any, Any, None], failed: Callable[[str], None]) -> None:
        """Run a job; ``failed`` records why it ended if an unexpected error ends it (a bug must
        neither take the server down nor leave a job that fails again at every start)."""

        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("job %s stopped on an unexpected error", job_id)
                failed(f"Outcrop failed to run this job: {type(exc).__name__}: {exc}")
            finally:
                self.running.pop(job_id, None)

        task = asyncio.ensure_future(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def health(self) -> dict[str, Any]:
        out: dict[str, Any] = {"s3_endpoint": self.s3_endpoint, "running": dict(self.running)}
        if self.problem:
            out["s3_problem"] = self.problem
        if self.embedded is not None and self.embedded.process is not None:
            out["s3_embedded_mb"] = self.embedded.resident_mb()
            out["s3_embedded_start_s"] = round(self.embedded.started_in or 0.0, 2)
        return out

    def close(self) -> None:
        """Stop running jobs where they are (they resume at the next start) and the embedded S3."""
        for task in list(self._tasks):
            task.cancel()
        if self.embedded is not None:
            self.embedded.stop()
