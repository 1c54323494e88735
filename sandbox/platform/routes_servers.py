"""The platform stand-in's routes for servers."""
from __future__ import annotations

from typing import Annotated

from contracts.platform import (
    HealthReport,
    HealthReportResult,
    Server,
    ServerCreate,
    ServerStatus,
    ServerUpdate,
)
from fastapi import APIRouter, Body, Query

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

StatusQuery = Annotated[list[ServerStatus] | None, Query(description="repeatable: ?status=ready&status=in_use")]


def add_servers_routes(r: APIRouter, store: PlatformStore) -> None:
    @r.get("/servers", response_model=list[Server])
    async def list_servers(status: StatusQuery = None, is_managed: bool | None = None):
        return _json(store.list_servers(status, is_managed))

    @r.post("/servers/health-reports", response_model=HealthReportResult)
    async def report_health(reports: Annotated[list[HealthReport], Body()]):
        return _json(store.report_health(reports))

    @r.get("/servers/{handle}", response_model=Server)
    async def get_server(handle: str):
        return _json(store.get_server(handle))

    @r.post("/servers", response_model=Server, status_code=201)
    async def create_server(server: ServerCreate):
        return _json(store.create_server(server), 201)

    @r.patch("/servers/{handle}", response_model=Server)
    async def update_server(handle: str, changes: ServerUpdate):
        return _json(store.update_server(handle, changes))
