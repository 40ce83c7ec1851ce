"""Application inference profiles and the usage attributed to each, in SQLite: a profile outlives
a restart, and so do its counts (attributing usage is what profiles are for)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from .sqlite import SqliteStore, open_once

SCHEMA = """
CREATE TABLE IF NOT EXISTS application_profiles (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    name TEXT NOT NULL UNIQUE,
    token TEXT,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS profile_usage (
    arn TEXT PRIMARY KEY,
    invocations INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL
);
"""


class NameTaken(Exception):
    """Another application profile already has this name."""


class ProfileStore(SqliteStore):
    SCHEMA = SCHEMA

    def add(self, profile_id: str, name: str, doc: dict[str, Any], token: str | None) -> None:
        with self._lock:
            seq = self._db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM application_profiles").fetchone()[0]
            try:
                self._db.execute(
                    "INSERT INTO application_profiles VALUES (?, ?, ?, ?, ?)",
                    (profile_id, seq, name, token, json.dumps(doc)),
                )
            except sqlite3.IntegrityError:
                raise NameTaken(name) from None

    def update(self, profile_id: str, doc: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE application_profiles SET doc = ? WHERE id = ?", (json.dumps(doc), profile_id)
            )

    def get(self, profile_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT doc FROM application_profiles WHERE id = ?", (profile_id,)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def by_token(self, token: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT doc FROM application_profiles WHERE token = ?", (token,)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT doc FROM application_profiles ORDER BY seq").fetchall()
        return [json.loads(r[0]) for r in rows]

    def delete(self, profile_id: str) -> bool:
        with self._lock:
            return (
                self._db.execute("DELETE FROM application_profiles WHERE id = ?", (profile_id,)).rowcount > 0
            )

    def count_usage(self, arn: str, input_tokens: int, output_tokens: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO profile_usage VALUES (?, 1, ?, ?) ON CONFLICT(arn) DO UPDATE SET "
                "invocations = invocations + 1, input_tokens = input_tokens + excluded.input_tokens, "
                "output_tokens = output_tokens + excluded.output_tokens",
                (arn, input_tokens, output_tokens),
            )

    def usage(self) -> dict[str, dict[str, int]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT arn, invocations, input_tokens, output_tokens FROM profile_usage"
            ).fetchall()
        return {arn: {"invocations": n, "inputTokens": i, "outputTokens": o} for arn, n, i, o in rows}


def open_store(state_dir: str) -> ProfileStore:
    return open_once(ProfileStore, state_dir, "profiles.sqlite3")
