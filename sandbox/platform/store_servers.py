"""The platform store's servers tables and their operations."""


from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from contracts.platform import (
    HealthReport,
    HealthReportResult,
    ServerCreate,
    ServerStatus,
    ServerUpdate,
)

from sandbox.platform.schema import (
    SERVER_COLUMNS,
    from_row,
    in_clause,
    timestamp,
    to_column,
    where_clause,
)
from sandbox.platform.store_base import Conflict, StoreBase


class ServersStore(StoreBase):

    def list_servers(self, statuses: list[ServerStatus] | None = None,
                     is_managed: bool | None = None) -> list[dict[str, Any]]:
        managed = ("is_managed = ?", [int(is_managed)]) if is_managed is not None else ("", [])
        where, params = where_clause(in_clause("status", statuses), managed)
        with self._read() as db:
            return [from_row(r) for r in db.execute(f"SELECT * FROM servers{where} ORDER BY handle", params)]

    def get_server(self, handle: str) -> dict[str, Any]:
        with self._read() as db:
            return self._one(db, "SELECT * FROM servers WHERE handle = ?", (handle,), f"server {handle!r} not found")

    def create_server(self, server: ServerCreate) -> dict[str, Any]:
        return self.bulk_insert_servers([server])[0]

    def bulk_insert_servers(self, servers: Iterable[ServerCreate]) -> list[dict[str, Any]]:
        """Insert many in one transaction; all or nothing (409 on a duplicate handle or provider id)."""
        now = timestamp()
        columns = SERVER_COLUMNS
        sql = f"INSERT INTO servers ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) RETURNING *"
        out = []
        with self._write() as db:
            for server in servers:
                values = {**server.model_dump(), "specs": server.specs, "last_health_check": None,
                          "created_at": now, "updated_at": now}
                try:
                    row = db.execute(sql, [to_column(values[c]) for c in columns]).fetchone()
                except sqlite3.IntegrityError:
                    raise Conflict(f"server {server.handle!r} or {server.provider} id "
                                   f"{server.provider_id!r} exists") from None
                out.append(from_row(row))
        return out

    def update_server(self, handle: str, changes: ServerUpdate) -> dict[str, Any]:
        with self._write() as db:
            current = self._one(db, "SELECT * FROM servers WHERE handle = ?", (handle,),
                                f"server {handle!r} not found")
            return self._patch(db, "servers", "handle", current, changes)

    def report_health(self, reports: Iterable[HealthReport]) -> HealthReportResult:
        """One transaction for the batch; a report not newer than the stored check is stale."""
        received = updated = stale = 0
        unknown: list[str] = []
        now = timestamp()
        with self._write() as db:
            for report in reports:
                received += 1
                checked_at = timestamp(report.checked_at)
                cursor = db.execute(
                    "UPDATE servers SET health_status = ?, last_health_check = ?, updated_at = ? "
                    "WHERE handle = ? AND (last_health_check IS NULL OR last_health_check < ?)",
                    (report.health_status.value, checked_at, now, report.handle, checked_at))
                if cursor.rowcount:
                    updated += 1
                elif db.execute("SELECT 1 FROM servers WHERE handle = ?", (report.handle,)).fetchone():
                    stale += 1
                else:
                    unknown.append(report.handle)
        return HealthReportResult(received=received, updated=updated, stale=stale, unknown_handles=unknown)
