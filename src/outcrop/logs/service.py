"""Model invocation logging as a service: each logged invocation becomes Bedrock's log record,
spooled durably (store/invocation_logs.py); a background task delivers
the spool every ``flush_seconds``: to S3 as gzipped JSON-lines files under AWS's key layout, and to
the local CloudWatch sink (one JSON-lines file per log group). A destination that is down keeps
its records in the spool and is retried at the next flush; a restart delivers what was left.

Logging never slows or fails an invocation: the completion hook only hands the invocation over;
a worker thread builds the record and commits it to the spool within milliseconds; a failure there
is logged, never felt by the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gzip
import json
import logging
import secrets
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..invocation.record import InvocationRecord
from ..jobs.objects import S3Problem
from ..store.invocation_logs import InvocationLogStore, Spooled, open_store
from .config import LoggingConfig, S3Destination
from .records import LOGGED_OPERATIONS, blob, log_record, split_large

if TYPE_CHECKING:
    from ..services import Services

log = logging.getLogger("outcrop.invocation_logs")

S3 = "s3"
CLOUDWATCH = "cloudwatch"
BATCH = 500  # records per delivered file at most


def sink_path(state_dir: str, log_group: str) -> Path:
    """The local CloudWatch sink of a log group: ``<state_dir>/cloudwatch/<group>.jsonl``."""
    parts = [p for p in log_group.split("/") if p not in ("", ".", "..")]
    return Path(state_dir).expanduser() / "cloudwatch" / Path(*parts).with_suffix(".jsonl")


class InvocationLogging:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.settings = services.settings
        self._store: InvocationLogStore | None = None
        self.config: LoggingConfig | None = None
        self.delivered = {S3: 0, CLOUDWATCH: 0}
        self.failures = {S3: 0, CLOUDWATCH: 0}
        self.last_problem: str | None = None
        self._wake = asyncio.Event()
        self._pending: list[tuple[InvocationRecord, LoggingConfig]] = []  # not yet in the spool
        self._pending_lock = threading.Lock()
        self._writing = False
        self._tasks: set[asyncio.Task[None]] = set()
        doc = self.store.config() if self._exists() else None
        if doc is not None:
            self.config = LoggingConfig.of(doc)

    def _exists(self) -> bool:
        return (Path(self.settings.state_dir).expanduser() / "invocation_logs.sqlite3").exists()

    @property
    def store(self) -> InvocationLogStore:
        if self._store is None:
            self._store = open_store(self.settings.state_dir)
        return self._store

    # The configuration operations.

    def put(self, doc: dict[str, Any]) -> None:
        self.store.set_config(doc)
        self.config = LoggingConfig.of(doc)

    def get(self) -> dict[str, Any] | None:
        return self.config.doc if self.config else None

    def delete(self) -> None:
        if self.config is not None or self._exists():
            self.store.set_config(None)
        self.config = None

    # The completion hook.

    def observe(self, record: InvocationRecord) -> None:
        """The completion hook: the record is handed over (built and spooled by a worker thread,
        so no invocation waits for JSON or the disk; a commit takes ~0.15 ms here)."""
        config = self.config
        if config is None or record.operation not in LOGGED_OPERATIONS:
            return
        with self._pending_lock:
            self._pending.append((record, config))
            if self._writing:
                return
            self._writing = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a script): write now
            self._write_pending()
            return
        task = loop.create_task(asyncio.to_thread(self._write_pending))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _entries(self, record: InvocationRecord, config: LoggingConfig) -> list[tuple[str, float, str]]:
        """The spool's rows for one invocation: one per destination, each saying where it goes (so a
        configuration changed in between does not send it elsewhere)."""
        entry = json.dumps(log_record(record, self.settings, config), separators=(",", ":"), default=blob)
        when = record.started_at.timestamp() + record.latency_ms / 1000
        rows = []
        if config.s3 is not None:
            rows.append((S3, when, f'{{"to":{json.dumps(config.doc["s3Config"])},"record":{entry}}}'))
        if config.cloudwatch is not None:
            cw = config.doc["cloudWatchConfig"]
            route = {"logGroupName": cw["logGroupName"], "large": cw.get("largeDataDeliveryS3Config")}
            rows.append((CLOUDWATCH, when, f'{{"to":{json.dumps(route)},"record":{entry}}}'))
        return rows

    def _write_pending(self) -> None:
        """The worker: whatever has been handed over, in one transaction, until nothing is left."""
        while True:
            with self._pending_lock:
                handed, self._pending = self._pending, []
                if not handed:
                    self._writing = False
                    return
            rows = []
            for record, config in handed:
                try:
                    rows += self._entries(record, config)
                except Exception:
                    log.exception("could not build the invocation log record of %s", record.request_id)
            try:
                self.store.spool(rows)
            except Exception:
                log.exception("could not spool %d invocation log record(s)", len(rows))

    # Delivery.

    async def run(self) -> None:
        """Deliver the spool every flush interval, for as long as the server runs."""
        interval = self.settings.invocation_logs.flush_seconds
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval)
            self._wake.clear()
            await self.flush()

    def flush_soon(self) -> None:
        self._wake.set()

    async def flush(self) -> None:
        if self._pending or self._writing:  # records handed over but not yet in the spool
            await asyncio.to_thread(self._spooled)
        if not self._exists():  # logging never configured here: nothing to deliver
            return
        await self._deliver(S3)
        await self._deliver(CLOUDWATCH)

    async def _deliver(self, destination: str) -> None:
        while True:
            batch = self.store.pending(destination, BATCH)
            if not batch:
                return
            try:
                if destination == S3:
                    await self._to_s3(batch)
                else:
                    await self._to_sink(batch)
            except (S3Problem, OSError) as exc:
                self.failures[destination] += len(batch)
                problem = f"invocation logs for {destination} not delivered yet ({len(batch)} waiting): {exc}"
                if problem != self.last_problem:
                    log.warning(
                        "%s; retrying every %.0f s", problem, self.settings.invocation_logs.flush_seconds
                    )
                self.last_problem = problem
                return
            self.last_problem = None

    def _done(self, destination: str, seqs: list[int]) -> None:
        """These records are where they belong: out of the spool (file by file, so a failure
        half-way through a batch never delivers a record twice)."""
        self.store.delivered(seqs)
        self.delivered[destination] += len(seqs)

    def _hour(self, spooled: Spooled) -> str:
        return dt.datetime.fromtimestamp(spooled.created, dt.UTC).strftime("%Y/%m/%d/%H")

    async def _to_s3(self, batch: list[Spooled]) -> None:
        objects = await self.services.jobs.s3()
        account, region = self.settings.account_id, self.settings.region
        files: dict[tuple[S3Destination, str], list[Spooled]] = {}
        for spooled in batch:
            to = S3Destination.of(spooled.record["to"])
            assert to is not None
            files.setdefault((to, self._hour(spooled)), []).append(spooled)
        for (to, hour), spooled_records in files.items():
            records = [
                await split_large(s.record["record"], objects, to, account, region, hour)
                for s in spooled_records
            ]
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
            name = f"{stamp}Z_{secrets.token_hex(8)}.json.gz"
            key = to.key("AWSLogs", account, "BedrockModelInvocationLogs", region, hour, name)
            lines = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
            await objects.put(to.bucket, key, gzip.compress(lines.encode()), "application/x-gzip")
            self._done(S3, [s.seq for s in spooled_records])

    async def _to_sink(self, batch: list[Spooled]) -> None:
        account, region = self.settings.account_id, self.settings.region
        groups: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for spooled in batch:
            route, record = spooled.record["to"], spooled.record["record"]
            large = S3Destination.of(route.get("large"))
            if large is not None:
                objects = await self.services.jobs.s3()
                record = await split_large(record, objects, large, account, region, self._hour(spooled))
            groups.setdefault(route["logGroupName"], []).append((spooled.seq, record))
        for group, entries in groups.items():
            path = sink_path(self.settings.state_dir, group)
            lines = "".join(json.dumps(r, separators=(",", ":")) + "\n" for _, r in entries)
            await asyncio.to_thread(_append, path, lines)
            self._done(CLOUDWATCH, [seq for seq, _ in entries])

    def _spooled(self) -> None:
        """Until every record built so far is in the spool."""
        while True:
            with self._pending_lock:
                if not self._pending and not self._writing:
                    return
                idle = not self._writing
                if idle:
                    self._writing = True
            if idle:
                self._write_pending()
            else:
                time.sleep(0.005)

    def health(self) -> dict[str, Any]:
        out: dict[str, Any] = {"enabled": self.config is not None}
        if self.config is not None or self._exists():
            out["waiting"] = self.store.backlog()
            out["delivered"] = dict(self.delivered)
        if self.last_problem:
            out["problem"] = self.last_problem
        return out

    async def close(self, seconds: float = 5.0) -> None:
        """One last delivery before the server stops (what it cannot deliver stays spooled)."""
        started = time.monotonic()
        try:
            await asyncio.wait_for(self.flush(), timeout=seconds)
        except TimeoutError:
            log.warning("invocation logs still spooled after %.0f s; they are delivered at the next start",
                        time.monotonic() - started)  # fmt: skip


def _append(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text)
