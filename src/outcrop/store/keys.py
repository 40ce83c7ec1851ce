"""Keys made by ``outcrop keys``, in ``<state_dir>/keys.sqlite`` (readable by its owner only).

API keys are kept as their SHA-256 digest: shown once when made, never recoverable. SigV4 secret
access keys are kept as they are, because checking a signature needs the secret itself (AWS keeps
them the same way); protect the file as you would ``~/.aws/credentials``. A revoked key stays
listed, with the time it was revoked, and is refused from the next request on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from .sqlite import SqliteStore

FILENAME = "keys.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    key_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,            -- api | sigv4
    user TEXT,                     -- the configured identity; NULL: the account's root
    digest TEXT UNIQUE,            -- api: sha256 of the key
    secret TEXT,                   -- sigv4: the secret access key
    description TEXT NOT NULL,
    created TEXT NOT NULL,
    revoked TEXT
);
"""


def digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


@dataclass(frozen=True)
class StoredKey:
    key_id: str
    kind: str
    user: str | None
    description: str
    created: str
    revoked: str | None


@dataclass(frozen=True)
class Holder:
    """Who a presented key belongs to."""

    key_id: str
    user: str | None
    secret: str | None = None  # sigv4 only


class KeyStore(SqliteStore):
    SCHEMA = SCHEMA

    def __init__(self, path: Path) -> None:
        existed = path.exists()
        super().__init__(path)
        if not existed:
            os.chmod(path, 0o600)

    def add(
        self,
        key_id: str,
        kind: str,
        user: str | None,
        description: str,
        *,
        api_key: str = "",
        secret: str = "",
    ) -> None:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with self._lock:
            self._db.execute(
                "INSERT INTO keys VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
                (key_id, kind, user, digest(api_key) if api_key else None, secret or None, description, now),
            )

    def revoke(self, key_id: str) -> bool:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with self._lock:
            cursor = self._db.execute(
                "UPDATE keys SET revoked = ?, secret = NULL WHERE key_id = ? AND revoked IS NULL",
                (now, key_id),
            )
        return cursor.rowcount == 1

    def all(self) -> list[StoredKey]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key_id, kind, user, description, created, revoked FROM keys ORDER BY created, key_id"
            ).fetchall()
        return [StoredKey(*row) for row in rows]

    def active(self) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM keys WHERE revoked IS NULL LIMIT 1").fetchone() is not None

    def api_key_holder(self, api_key: str) -> Holder | None:
        with self._lock:
            row = self._db.execute(
                "SELECT key_id, user FROM keys WHERE digest = ? AND kind = 'api' AND revoked IS NULL",
                (digest(api_key),),
            ).fetchone()
        return Holder(row[0], row[1]) if row else None

    def sigv4_holder(self, access_key_id: str) -> Holder | None:
        with self._lock:
            row = self._db.execute(
                "SELECT key_id, user, secret FROM keys"
                " WHERE key_id = ? AND kind = 'sigv4' AND revoked IS NULL",
                (access_key_id,),
            ).fetchone()
        return Holder(row[0], row[1], row[2]) if row else None


def stored_keys(state_dir: str) -> KeyStore | None:
    """The key store, if ``outcrop keys`` ever made one (servers never create it)."""
    from .sqlite import open_once

    path = Path(state_dir).expanduser() / FILENAME
    if not path.exists():
        return None
    return open_once(KeyStore, state_dir, FILENAME)
