"""The platform client's methods for incidents (``/api/incidents/``).

The platform does not deduplicate incidents: ``create_incident`` always makes a new one. The
rule "open only when none of that (server, type) is active" is the caller's
(``actors/tasks/incidents.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from actors.adapters.platform.base import BaseClient, Listing
from contracts.platform import (
    Incident,
    IncidentCreate,
    IncidentStatus,
    IncidentType,
    IncidentUpdate,
)


class IncidentsAPI(BaseClient):
    async def list_active_incidents(self) -> Listing[Incident]:
        """``GET /api/incidents/active``: every incident detected or recovering, one request."""
        return self._many(await self._request("GET", "/api/incidents/active"), Incident)

    async def list_incidents(
        self,
        *,
        server_handle: str | None = None,
        status: IncidentStatus | None = None,
        incident_type: IncidentType | None = None,
    ) -> Listing[Incident]:
        """``GET /api/incidents/`` with the platform's scalar filters (each at most one value)."""
        params = {
            "server_handle": server_handle,
            "status": status and status.value,
            "incident_type": incident_type and incident_type.value,
        }
        return await self._list("/api/incidents/", Incident, params)

    async def create_incident(self, incident: IncidentCreate) -> Incident:
        """``POST /api/incidents/`` (201): a new incident, whatever is already open. Sent once:
        an attempt whose answer was lost may have created it, so the caller looks it up before
        trying again (``actors/tasks/incidents.py``)."""
        body = incident.model_dump(mode="json")
        return self._one(await self._request("POST", "/api/incidents/", body=body, attempts=1), Incident)

    async def update_incident(self, incident_id: int, changes: IncidentUpdate) -> Incident:
        response = await self._request("PATCH", f"/api/incidents/{int(incident_id)}", body=changes.changes())
        return self._one(response, Incident)

    async def resolve_incident(
        self, incident_id: int, *, details: dict[str, Any] | None = None, at: datetime | None = None
    ) -> Incident:
        """Resolved, with ``resolved_at`` sent explicitly (now, UTC, unless ``at``); ``details``
        replaces the incident's when given."""
        changes: dict[str, Any] = {"status": IncidentStatus.RESOLVED, "resolved_at": at or datetime.now(UTC)}
        if details is not None:
            changes["details"] = details
        return await self.update_incident(incident_id, IncidentUpdate(**changes))
