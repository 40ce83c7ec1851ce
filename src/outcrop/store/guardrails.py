"""Guardrails and their versions in SQLite, so they survive a restart.

One row per guardrail (identity, name, tags, version counter) and one per version (DRAFT and the
numbered snapshots) holding the GetGuardrail-shaped policy document as JSON. A lock serialises
access: handlers run on one event loop, and each statement is a few microseconds.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from .sqlite import SqliteStore, open_once

SCHEMA = """
CREATE TABLE IF NOT EXISTS guardrails (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    tags TEXT NOT NULL,
    next_version INTEGER NOT NULL,
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS guardrail_versions (
    id TEXT NOT NULL REFERENCES guardrails(id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    document TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (id, version)
);
"""


@dataclass
class GuardrailVersion:
    """One version of a guardrail: its policy document (GetGuardrail's members) and times."""

    guardrail_id: str
    name: str
    version: str
    document: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


class NameTaken(Exception):
    """Another guardrail already has this name."""


class GuardrailStore(SqliteStore):
    SCHEMA = SCHEMA

    def create(
        self, guardrail_id: str, name: str, document: dict[str, Any], tags: list[dict[str, str]]
    ) -> dt.datetime:
        now = _now()
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                seq = self._db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM guardrails").fetchone()[0]
                self._db.execute(
                    "INSERT INTO guardrails VALUES (?, ?, ?, ?, 1, ?)",
                    (guardrail_id, name, now.isoformat(), json.dumps(tags), seq),
                )
                self._insert_version(guardrail_id, "DRAFT", document, now, now)
                self._db.execute("COMMIT")
            except sqlite3.IntegrityError:
                self._db.execute("ROLLBACK")
                raise NameTaken(name) from None
        return now

    def update_draft(self, guardrail_id: str, name: str, document: dict[str, Any]) -> dt.datetime:
        now = _now()
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("UPDATE guardrails SET name = ? WHERE id = ?", (name, guardrail_id))
                self._db.execute(
                    "UPDATE guardrail_versions SET document = ?, updated_at = ? "
                    "WHERE id = ? AND version = 'DRAFT'",
                    (json.dumps(document), now.isoformat(), guardrail_id),
                )
                self._db.execute("COMMIT")
            except sqlite3.IntegrityError:
                self._db.execute("ROLLBACK")
                raise NameTaken(name) from None
        return now

    def snapshot(self, guardrail_id: str, description: str | None) -> str:
        """Copy DRAFT into the next numbered version; numbers are never reused."""
        now = _now()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            number = self._db.execute(
                "SELECT next_version FROM guardrails WHERE id = ?", (guardrail_id,)
            ).fetchone()[0]
            draft = json.loads(
                self._db.execute(
                    "SELECT document FROM guardrail_versions WHERE id = ? AND version = 'DRAFT'",
                    (guardrail_id,),
                ).fetchone()[0]
            )
            if description is not None:
                draft["description"] = description
            self._insert_version(guardrail_id, str(number), draft, now, now)
            self._db.execute(
                "UPDATE guardrails SET next_version = ? WHERE id = ?", (number + 1, guardrail_id)
            )
            self._db.execute("COMMIT")
        return str(number)

    def get(self, guardrail_id: str, version: str = "DRAFT") -> GuardrailVersion | None:
        rows = self._select("WHERE v.id = ? AND v.version = ?", (guardrail_id, version))
        return rows[0] if rows else None

    def versions(self, guardrail_id: str) -> list[GuardrailVersion]:
        rows = self._select("WHERE v.id = ?", (guardrail_id,))
        return sorted(rows, key=lambda r: -1 if r.version == "DRAFT" else int(r.version))

    def drafts(self) -> list[GuardrailVersion]:
        return self._select("WHERE v.version = 'DRAFT'", ())

    def tags(self, guardrail_id: str) -> list[dict[str, str]]:
        with self._lock:
            row = self._db.execute("SELECT tags FROM guardrails WHERE id = ?", (guardrail_id,)).fetchone()
        return list(json.loads(row[0])) if row else []

    def set_tags(self, guardrail_id: str, tags: list[dict[str, str]]) -> None:
        with self._lock:
            self._db.execute("UPDATE guardrails SET tags = ? WHERE id = ?", (json.dumps(tags), guardrail_id))

    def delete(self, guardrail_id: str, version: str | None = None) -> bool:
        with self._lock:
            if version is None:
                cur = self._db.execute("DELETE FROM guardrails WHERE id = ?", (guardrail_id,))
            else:
                cur = self._db.execute(
                    "DELETE FROM guardrail_versions WHERE id = ? AND version = ?", (guardrail_id, version)
                )
            return cur.rowcount > 0

    def _insert_version(
        self,
        guardrail_id: str,
        version: str,
        document: dict[str, Any],
        created: dt.datetime,
        updated: dt.datetime,
    ) -> None:
        self._db.execute(
            "INSERT INTO guardrail_versions VALUES (?, ?, ?, ?, ?)",
            (guardrail_id, version, json.dumps(document), created.isoformat(), updated.isoformat()),
        )

    def _select(self, where: str, args: tuple[str, ...]) -> list[GuardrailVersion]:
        with self._lock:
            rows = self._db.execute(
                "SELECT v.id, g.name, v.version, v.document, v.created_at, v.updated_at "
                f"FROM guardrail_versions v JOIN guardrails g ON g.id = v.id {where} ORDER BY g.seq",
                args,
            ).fetchall()
        return [
            GuardrailVersion(r[0], r[1], r[2], json.loads(r[3]), _stamp(r[4]), _stamp(r[5])) for r in rows
        ]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _stamp(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def open_store(state_dir: str) -> GuardrailStore:
    return open_once(GuardrailStore, state_dir, "guardrails.sqlite3")
