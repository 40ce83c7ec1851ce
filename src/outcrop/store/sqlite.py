"""How Outcrop opens its SQLite stores: one connection shared across threads (each store
serialises access with its own lock), autocommit unless a store begins a transaction, WAL so
readers do not wait for a writer."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def connect(path: Path, schema: str) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA journal_mode = WAL")
    db.executescript(schema)
    return db
