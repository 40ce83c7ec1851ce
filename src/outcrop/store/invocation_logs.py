"""Model invocation logging's durable half, in SQLite: the logging configuration (one per server,
as one per account and Region on AWS) and the spool of log records not yet delivered.

A record is spooled when its invocation ends and deleted only once its destination has it, so a
destination that is down (S3 stopped, a full disk) delays records but loses none, across restarts
and crashes of the process too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .sqlite import SqliteStore, open_once

SCHEMA = """
CREATE TABLE IF NOT EXISTS logging_config (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS log_spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    destination TEXT NOT NULL,      -- s3 | cloudwatch
    created REAL NOT NULL,          -- Unix time the invocation ended
    record TEXT NOT NULL            -- the log record, JSON
);
"""


@dataclass(frozen=True)
class Spooled:
    seq: int
    destination: str
    created: float
    record: dict[str, Any]


class InvocationLogStore(SqliteStore):
    SCHEMA = SCHEMA

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        # Spooling is on every invocation's path: in WAL mode, NORMAL commits without waiting for
        # the disk (about 1 ms a record on this machine, 30x less without), and a committed record
        # still survives the process being killed; only a power cut can lose the last ones.
        self._db.execute("PRAGMA synchronous = NORMAL")

    def config(self) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT doc FROM logging_config WHERE id = 1").fetchone()
        return json.loads(row[0]) if row else None

    def set_config(self, doc: dict[str, Any] | None) -> None:
        with self._lock:
            if doc is None:
                self._db.execute("DELETE FROM logging_config")
            else:
                self._db.execute(
                    "INSERT INTO logging_config VALUES (1, ?)"
                    " ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
                    (json.dumps(doc),),
                )

    def spool(self, entries: list[tuple[str, float, str]]) -> None:
        """Keep records until delivered: (destination, time, the record as JSON) each."""
        rows = entries
        with self._lock:
            self._db.executemany(
                "INSERT INTO log_spool (destination, created, record) VALUES (?, ?, ?)", rows
            )

    def pending(self, destination: str, limit: int) -> list[Spooled]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, destination, created, record FROM log_spool WHERE destination = ? "
                "ORDER BY seq LIMIT ?",
                (destination, limit),
            ).fetchall()
        return [Spooled(seq, d, created, json.loads(record)) for seq, d, created, record in rows]

    def delivered(self, seqs: list[int]) -> None:
        with self._lock:
            self._db.executemany("DELETE FROM log_spool WHERE seq = ?", [(s,) for s in seqs])

    def backlog(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT destination, COUNT(*) FROM log_spool GROUP BY destination"
            ).fetchall()
        return {d: n for d, n in rows}


def open_store(state_dir: str) -> InvocationLogStore:
    return open_once(InvocationLogStore, state_dir, "invocation_logs.sqlite3")
