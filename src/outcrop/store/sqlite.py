"""How Outcrop opens its SQLite stores: one connection shared across threads (each store
serialises access with its own lock), autocommit unless a store begins a transaction, WAL so
readers do not wait for a writer."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import TypeVar


def connect(path: Path, schema: str) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("PRAGMA journal_mode = WAL")
    db.executescript(schema)
    return db


class SqliteStore:
    """A store's database (its tables: ``SCHEMA``): one connection, and a lock each method holds
    while it uses it."""

    SCHEMA = ""

    def __init__(self, path: Path) -> None:
        self._db = connect(path, self.SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()


Store = TypeVar("Store", bound=SqliteStore)
_OPEN: dict[Path, SqliteStore] = {}
_OPEN_LOCK = threading.Lock()


def open_once(kind: type[Store], state_dir: str, filename: str) -> Store:
    """The store in ``<state_dir>/<filename>``, opened once per process (on first use, so servers
    that never need one create no file)."""
    path = Path(state_dir).expanduser() / filename
    with _OPEN_LOCK:
        if path not in _OPEN:
            _OPEN[path] = kind(path)
        store = _OPEN[path]
    assert isinstance(store, kind)
    return store
