"""The platform store's incidents tables and their operations."""


from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from contracts.platform import (
    IncidentOpen,
    IncidentStatus,
    IncidentType,
    IncidentUpdate,
)

from sandbox.platform.schema import (
    from_row,
    in_clause,
    timestamp,
    to_column,
    where_clause,
)
from sandbox.platform.store_base import Conflict, NotFound, StoreBase


class IncidentsStore(StoreBase):

    def list_incidents(self, statuses: list[IncidentStatus] | None = None, server_handle: str | None = None,
                       incident_type: IncidentType | None = None) -> list[dict[str, Any]]:
        where, params = where_clause(
            in_clause("status", statuses),
            ("server_handle = ?", [server_handle]) if server_handle is not None else ("", []),
            ("incident_type = ?", [incident_type.value]) if incident_type is not None else ("", []),
        )
        with self._read() as db:
            return [from_row(r) for r in db.execute(f"SELECT * FROM incidents{where} ORDER BY id", params)]

    def open_incident(self, incident: IncidentOpen) -> tuple[dict[str, Any], bool]:
        """The active incident for (server, type) and whether this call created it.

        ``ON CONFLICT ... DO NOTHING`` against the partial unique index is what makes this safe
        when two platform replicas open the same incident at once.
        """
        handle, kind = incident.server_handle, incident.incident_type.value
        with self._write() as db:
            if handle is not None and not db.execute("SELECT 1 FROM servers WHERE handle = ?", (handle,)).fetchone():
                raise NotFound(f"server {handle!r} not found")
            row = db.execute(
                "INSERT INTO incidents (server_handle, incident_type, status, details, detected_at) "
                "VALUES (?, ?, 'detected', ?, ?) "
                "ON CONFLICT (ifnull(server_handle, ''), incident_type) WHERE status != 'resolved' DO NOTHING "
                "RETURNING *",
                (handle, kind, to_column(incident.details), timestamp(incident.detected_at)),
            ).fetchone()
            if row is not None:
                return from_row(row), True
            existing = db.execute(
                "SELECT * FROM incidents WHERE ifnull(server_handle, '') = ? AND incident_type = ? "
                "AND status != 'resolved'", (handle or "", kind)).fetchone()
            return from_row(existing), False

    def update_incident(self, incident_id: int, changes: IncidentUpdate) -> dict[str, Any]:
        with self._write() as db:
            current = self._one(db, "SELECT * FROM incidents WHERE id = ?", (incident_id,),
                                f"incident {incident_id} not found")
            resolved = current["status"] == IncidentStatus.RESOLVED
            if resolved and changes.status not in (None, IncidentStatus.RESOLVED):
                raise Conflict(f"incident {incident_id} is resolved; open a new one instead")
            fields = changes.model_dump(exclude_unset=True)
            if changes.status == IncidentStatus.RESOLVED and not resolved and changes.resolved_at is None:
                changes = IncidentUpdate(**fields, resolved_at=datetime.now(UTC))
            elif resolved and changes.status == IncidentStatus.RESOLVED:
                # Resolving twice is a no-op: the first resolution time stands.
                changes = IncidentUpdate(**{k: v for k, v in fields.items() if k not in ("status", "resolved_at")})
            return self._patch(db, "incidents", "id", current, changes, stamp=None)
