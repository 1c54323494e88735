"""The platform store's core: one SQLite connection, transactions, partial updates."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from contracts.platform import (
    Patch,
)
from sandbox.platform.schema import (
    SCHEMA,
    from_row,
    timestamp,
    to_column,
)


class NotFound(Exception):
    """Answered as 404."""


class Conflict(Exception):
    """Answered as 409."""


class StoreBase:
    """The platform's database, in SQLite (a file path or ``":memory:"``).

    One connection per store, guarded by a lock (the app thread and a test thread may both use
    it). Writes run in ``BEGIN IMMEDIATE`` transactions, so several stores on one file (several
    app instances, several "platform replicas") serialise their writes instead of racing.
    """

    def __init__(self, path: str = ":memory:"):
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA foreign_keys = ON")
        if path != ":memory:":
            self._db.execute("PRAGMA journal_mode = WAL")  # readers never wait for the writer
            self._db.execute("PRAGMA synchronous = NORMAL")
        with self._lock:  # one transaction, so stores opening one new file at once agree on it
            self._db.executescript(f"BEGIN IMMEDIATE; {SCHEMA} COMMIT;")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def execute_sql(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Test back door: write what the API would refuse (e.g. a status from a newer platform)."""
        with self._write() as db:
            return [dict(row) for row in db.execute(sql, tuple(params)).fetchall()]

    def _one(self, db: sqlite3.Connection, sql: str, params: tuple, missing: str) -> dict[str, Any]:
        row = db.execute(sql, params).fetchone()
        if row is None:
            raise NotFound(missing)
        return from_row(row)

    def _patch(
        self, db, table: str, key: str, current: dict[str, Any], changes: Patch, stamp: str | None = "updated_at"
    ) -> dict[str, Any]:
        """Apply only the fields that differ; an update that changes nothing writes nothing."""
        new = {name: to_column(getattr(changes, name)) for name in changes.model_fields_set}
        stored = {name: to_column(current[name]) for name in new}
        diff = {name: value for name, value in new.items() if value != stored[name]}
        if not diff:
            return current
        if stamp:
            diff[stamp] = timestamp()
        assignments = ", ".join(f"{name} = ?" for name in diff)
        row = db.execute(
            f"UPDATE {table} SET {assignments} WHERE {key} = ? RETURNING *", (*diff.values(), current[key])
        ).fetchone()
        return from_row(row)
