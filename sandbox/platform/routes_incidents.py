"""The platform stand-in's routes for incidents."""
from __future__ import annotations

from typing import Annotated

from contracts.platform import (
    Incident,
    IncidentOpen,
    IncidentStatus,
    IncidentType,
    IncidentUpdate,
)
from fastapi import APIRouter, Query

from sandbox.platform.responses import json_response as _json

# The store, its schema and sample data live in their own modules; their names are re-exported
# here so ``from sandbox.platform.api import ...`` keeps working for every caller.
from sandbox.platform.schema import (  # noqa: F401
    BOOL_COLUMNS,
    INCIDENT_COLUMNS,
    JSON_COLUMNS,
    PROJECT_COLUMNS,
    SCHEMA,
    SERVER_COLUMNS,
    timestamp,
)
from sandbox.platform.store import (  # noqa: F401
    Conflict,
    NotFound,
    PlatformStore,
    sample_projects,
    sample_servers,
)


def add_incidents_routes(r: APIRouter, store: PlatformStore) -> None:
    @r.get("/incidents", response_model=list[Incident])
    async def list_incidents(status: Annotated[list[IncidentStatus] | None, Query()] = None,
                             server_handle: str | None = None, incident_type: IncidentType | None = None):
        return _json(store.list_incidents(status, server_handle, incident_type))

    @r.post("/incidents", response_model=Incident, status_code=201,
            responses={200: {"model": Incident, "description": "an active incident of this kind already exists"}})
    async def open_incident(incident: IncidentOpen):
        row, created = store.open_incident(incident)
        return _json(row, 201 if created else 200)

    @r.patch("/incidents/{incident_id}", response_model=Incident)
    async def update_incident(incident_id: int, changes: IncidentUpdate):
        return _json(store.update_incident(incident_id, changes))
