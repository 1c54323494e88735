"""The platform stand-in's routes for projects."""
from __future__ import annotations

from typing import Annotated

from contracts.platform import (
    Project,
    ProjectCreate,
    ProjectStatus,
    ProjectUpdate,
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


def add_projects_routes(r: APIRouter, store: PlatformStore) -> None:
    @r.get("/projects", response_model=list[Project])
    async def list_projects(status: Annotated[list[ProjectStatus] | None, Query()] = None):
        return _json(store.list_projects(status))

    @r.get("/projects/{project_id}", response_model=Project)
    async def get_project(project_id: int):
        return _json(store.get_project(project_id))

    @r.post("/projects", response_model=Project, status_code=201)
    async def create_project(project: ProjectCreate):
        return _json(store.create_project(project), 201)

    @r.patch("/projects/{project_id}", response_model=Project)
    async def update_project(project_id: int, changes: ProjectUpdate):
        return _json(store.update_project(project_id, changes))
