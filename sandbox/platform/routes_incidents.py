"""The platform stand-in's routes for incidents, as the platform serves them (openapi.json):

- ``POST /api/incidents/`` → 201, always a new incident (no deduplication); an unknown
  ``server_handle`` → 500 (the platform's foreign-key error, a plain-text body); a server-bound
  type without a handle → 422; unknown fields ignored.
- ``GET /api/incidents/`` with scalar filters ``server_handle``, ``status``, ``incident_type``
  (a repeated parameter keeps the last value), newest first; ``GET /api/incidents/active``
  (detected or recovering); ``GET /api/incidents/{id}``.
- ``PATCH /api/incidents/{id}``: ``status``, ``resolved_at``, ``details``,
  ``recovery_attempts``, each applied when not null; nothing stamps ``resolved_at`` (404
  ``Incident not found``).

The request models below are the platform's (looser than the scheduler's own contracts, which
stay strict); responses are the stored rows in ``IncidentRead``'s shape.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field, model_validator

from contracts.platform import PROVIDER_WIDE_INCIDENTS, IncidentRead, IncidentStatus, IncidentType
from sandbox.platform.responses import json_response as _json
from sandbox.platform.store import PlatformStore
from sandbox.platform.store_incidents import UnknownServer


class PlatformIncidentCreate(BaseModel):
    """The platform's ``IncidentCreate``: unknown fields ignored."""

    server_handle: str | None = None
    incident_type: IncidentType
    details: dict = Field(default_factory=dict)
    affected_services: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _require_server_handle(self):
        if self.server_handle is None and self.incident_type not in PROVIDER_WIDE_INCIDENTS:
            raise ValueError(f"server_handle is required for incident_type={self.incident_type.value}")
        return self


class PlatformIncidentUpdate(BaseModel):
    """The platform's ``IncidentUpdate``."""

    status: IncidentStatus | None = None
    resolved_at: datetime | None = None
    details: dict | None = None
    recovery_attempts: int | None = None


def add_incidents_routes(r: APIRouter, store: PlatformStore) -> None:
    @r.post("/incidents/", response_model=IncidentRead, status_code=201)
    async def create_incident(incident: PlatformIncidentCreate):
        try:
            row = store.create_incident(
                incident.server_handle, incident.incident_type.value, incident.details, incident.affected_services
            )
        except UnknownServer:
            return PlainTextResponse("Internal Server Error", status_code=500)
        return _json(row, 201)

    @r.get("/incidents/", response_model=list[IncidentRead])
    async def list_incidents(
        server_handle: str | None = None, status: str | None = None, incident_type: str | None = None
    ):
        return _json(store.list_incidents(status, server_handle, incident_type))

    @r.get("/incidents/active", response_model=list[IncidentRead])
    async def list_active_incidents():
        return _json(store.active_incidents())

    @r.get("/incidents/{incident_id}", response_model=IncidentRead)
    async def get_incident(incident_id: int):
        return _json(store.get_incident(incident_id))

    @r.patch("/incidents/{incident_id}", response_model=IncidentRead)
    async def update_incident(incident_id: int, changes: PlatformIncidentUpdate):
        return _json(store.update_incident(incident_id, changes.model_dump()))
