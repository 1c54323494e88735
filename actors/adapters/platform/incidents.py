"""The platform client's methods for incidents."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from contracts.platform import (
    Incident,
    IncidentOpen,
    IncidentStatus,
    IncidentType,
    IncidentUpdate,
)

from actors.adapters.platform.base import BaseClient, Listing, _values


class OpenedIncident(NamedTuple):
    incident: Incident
    created: bool  # False: an active incident of this kind already existed, and this is it


class IncidentsAPI(BaseClient):

    async def list_incidents(self, status: IncidentStatus | Iterable[IncidentStatus] | None = None, *,
                             server_handle: str | None = None,
                             incident_type: IncidentType | None = None) -> Listing[Incident]:
        params = {"status": _values(status), "server_handle": server_handle, "incident_type": incident_type}
        return self._many(await self._request("GET", "/api/incidents", params=params), Incident)

    async def open_incident(self, incident: IncidentOpen) -> OpenedIncident:
        """Idempotent: answers the active incident of this (server, type) if there is one."""
        response = await self._request("POST", "/api/incidents", body=incident.model_dump(mode="json"))
        return OpenedIncident(self._one(response, Incident), created=response.status_code == 201)

    async def update_incident(self, incident_id: int, changes: IncidentUpdate) -> Incident:
        response = await self._request("PATCH", f"/api/incidents/{int(incident_id)}", body=changes.changes())
        return self._one(response, Incident)

    async def resolve_incident(self, incident_id: int, *, details: dict[str, Any] | None = None) -> Incident:
        changes = IncidentUpdate(status=IncidentStatus.RESOLVED)
        if details is not None:
            changes = IncidentUpdate(status=IncidentStatus.RESOLVED, details=details)
        return await self.update_incident(incident_id, changes)

