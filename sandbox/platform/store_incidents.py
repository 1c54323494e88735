"""The platform store's incidents, as the platform keeps them: no deduplication (two creates are
two active incidents), an unknown server a foreign-key error, ``resolved_at`` only when given."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from sandbox.platform.schema import from_row, timestamp, to_column
from sandbox.platform.store_base import NotFound, StoreBase

#: what ``GET /api/incidents/active`` lists
ACTIVE = ("detected", "recovering")


def naive_utc(value: datetime | None = None) -> str:
    """A timestamp as the platform answers its naive columns (``detected_at``, ``resolved_at``):
    UTC without an offset, ``isoformat()`` (no fraction when it is zero)."""
    value = datetime.now(UTC) if value is None else value
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat()


class UnknownServer(Exception):
    """A foreign-key error: the platform answers it as a 500."""


class IncidentsStore(StoreBase):
    def list_incidents(
        self, status: str | None = None, server_handle: str | None = None, incident_type: str | None = None
    ) -> list[dict[str, Any]]:
        """Newest first; each filter a scalar (as the platform's query parameters)."""
        clauses = [
            (c, v)
            for c, v in (
                ("status = ?", status),
                ("server_handle = ?", server_handle),
                ("incident_type = ?", incident_type),
            )
            if v is not None
        ]
        where = " WHERE " + " AND ".join(c for c, _ in clauses) if clauses else ""
        with self._read() as db:
            return [
                from_row(r)
                for r in db.execute(f"SELECT * FROM incidents{where} ORDER BY id DESC", [v for _, v in clauses])
            ]

    def active_incidents(self) -> list[dict[str, Any]]:
        with self._read() as db:
            return [
                from_row(r)
                for r in db.execute("SELECT * FROM incidents WHERE status IN (?, ?) ORDER BY id DESC", ACTIVE)
            ]

    def get_incident(self, incident_id: int) -> dict[str, Any]:
        with self._read() as db:
            return self._one(db, "SELECT * FROM incidents WHERE id = ?", (incident_id,), "Incident not found")

    def create_incident(
        self, server_handle: str | None, incident_type: str, details: dict, affected_services: list[str]
    ) -> dict[str, Any]:
        """Always a new row (the platform does not deduplicate)."""
        now = datetime.now(UTC)
        try:
            with self._write() as db:
                row = db.execute(
                    "INSERT INTO incidents (server_handle, incident_type, status, details, affected_services, "
                    "recovery_attempts, detected_at, created_at, updated_at) "
                    "VALUES (?, ?, 'detected', ?, ?, 0, ?, ?, ?) RETURNING *",
                    (
                        server_handle,
                        incident_type,
                        to_column(details),
                        to_column(affected_services),
                        naive_utc(now),
                        timestamp(now),
                        timestamp(now),
                    ),
                ).fetchone()
        except sqlite3.IntegrityError as exc:
            raise UnknownServer(str(exc)) from None
        return from_row(row)

    def forget_server(self, handle: str) -> None:
        """Test back door: the platform lost a server's row (a manual delete, a restore from an
        older backup) while rows of other tables still name it. The API has no such route."""
        with self._lock:
            self._db.execute("PRAGMA foreign_keys = OFF")
            try:
                self._db.execute("DELETE FROM servers WHERE handle = ?", (handle,))
            finally:
                self._db.execute("PRAGMA foreign_keys = ON")

    def update_incident(self, incident_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        """The platform's PATCH: each of ``status``, ``resolved_at`` (converted to naive UTC),
        ``details``, ``recovery_attempts`` applied when not null; nothing stamps ``resolved_at``."""
        with self._write() as db:
            self._one(db, "SELECT * FROM incidents WHERE id = ?", (incident_id,), "Incident not found")
            values = {
                name: changes[name]
                for name in ("status", "resolved_at", "details", "recovery_attempts")
                if changes.get(name) is not None
            }
            if "resolved_at" in values:
                values["resolved_at"] = naive_utc(values["resolved_at"])
            values = {name: to_column(value) for name, value in values.items()}
            values["updated_at"] = timestamp()
            assignments = ", ".join(f"{name} = ?" for name in values)
            row = db.execute(
                f"UPDATE incidents SET {assignments} WHERE id = ? RETURNING *", (*values.values(), incident_id)
            ).fetchone()
            return from_row(row)


__all__ = ["ACTIVE", "IncidentsStore", "NotFound", "UnknownServer", "naive_utc"]
