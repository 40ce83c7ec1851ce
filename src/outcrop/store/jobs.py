"""Async invocations, batch jobs and each batch record's output in SQLite, so that a job survives
a crash: a record's output is committed when it is produced, and a job resumed after a restart
skips the records it already has (none written twice, none skipped).

Jobs are JSON documents (``jobs/records.py``) keyed by kind and id, in submission order; list
filters run over them in Python (a local server holds hundreds, not millions).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from .sqlite import SqliteStore, open_once

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    token TEXT,
    doc TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS batch_records (
    job_id TEXT NOT NULL,
    file TEXT NOT NULL,
    line INTEGER NOT NULL,
    output TEXT NOT NULL,
    ok INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    PRIMARY KEY (job_id, file, line)
);
"""

ASYNC_INVOKE = "async-invoke"
BATCH_JOB = "model-invocation-job"


@dataclass(frozen=True)
class RecordOutput:
    """One batch record's output line, as written to its ``.out`` file."""

    file: str
    line: int
    output: str
    ok: bool
    input_tokens: int
    output_tokens: int


class JobStore(SqliteStore):
    SCHEMA = SCHEMA

    def put(self, kind: str, job_id: str, doc: dict[str, Any], token: str | None = None) -> None:
        """Insert or replace a job's document (its submission order kept)."""
        text = json.dumps(doc)
        with self._lock:
            updated = self._db.execute(
                "UPDATE jobs SET doc = ? WHERE kind = ? AND id = ?", (text, kind, job_id)
            ).rowcount
            if not updated:
                seq = self._db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs").fetchone()[0]
                self._db.execute("INSERT INTO jobs VALUES (?, ?, ?, ?, ?)", (kind, job_id, seq, token, text))

    def get(self, kind: str, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT doc FROM jobs WHERE kind = ? AND id = ?", (kind, job_id)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def by_token(self, kind: str, token: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT doc FROM jobs WHERE kind = ? AND token = ?", (kind, token)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def all(self, kind: str) -> list[dict[str, Any]]:
        """Every job of a kind, in submission order."""
        with self._lock:
            rows = self._db.execute("SELECT doc FROM jobs WHERE kind = ? ORDER BY seq", (kind,)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def add_record(self, job_id: str, record: RecordOutput) -> bool:
        """Keep a record's output; False if that record already has one (a resumed job)."""
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO batch_records VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (job_id, record.file, record.line, record.output, int(record.ok),
                     record.input_tokens, record.output_tokens),
                )  # fmt: skip
            except sqlite3.IntegrityError:
                return False
        return True

    def records(self, job_id: str) -> list[RecordOutput]:
        """A job's record outputs so far, by file and line."""
        with self._lock:
            rows = self._db.execute(
                "SELECT file, line, output, ok, input_tokens, output_tokens FROM batch_records "
                "WHERE job_id = ? ORDER BY file, line",
                (job_id,),
            ).fetchall()
        return [RecordOutput(f, n, o, bool(ok), i, t) for f, n, o, ok, i, t in rows]


def open_store(state_dir: str) -> JobStore:
    return open_once(JobStore, state_dir, "jobs.sqlite3")
