"""Durable state in SQLite (stdlib sqlite3), one file per kind of resource under ``state_dir``."""
