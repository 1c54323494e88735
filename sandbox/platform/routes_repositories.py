"""The platform stand-in's routes for repositories (``/api/repositories/``): ``limit`` 1..200
(default 50), newest first; ``by-provider-id`` 404 when none; a create for a project that does
not exist, or a lookup that finds two, is a 500 as on the platform (database errors)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from contracts.platform import Repository, RepositoryRole, RepositoryVisibility
from sandbox.platform.responses import json_response as _json
from sandbox.platform.store import PlatformStore
from sandbox.platform.store_repositories import ServerFault


class PlatformRepositoryCreate(BaseModel):  # unknown fields ignored, as on the platform
    project_id: uuid.UUID
    name: str
    git_url: str
    provider_repo_id: int | None = None
    role: RepositoryRole = RepositoryRole.PRIMARY
    visibility: RepositoryVisibility = RepositoryVisibility.PRIVATE
    is_managed: bool = True


class PlatformRepositoryUpdate(BaseModel):
    name: str | None = None
    git_url: str | None = None
    provider_repo_id: int | None = None
    role: RepositoryRole | None = None
    visibility: RepositoryVisibility | None = None
    is_managed: bool | None = None
    acceptance_criteria: str | None = None
    bot_username: str | None = None


def _fault() -> PlainTextResponse:
    return PlainTextResponse("Internal Server Error", status_code=500)


def add_repositories_routes(r: APIRouter, store: PlatformStore) -> None:
    @r.post("/repositories/", status_code=201, response_model=Repository)
    async def create_repository(body: PlatformRepositoryCreate):
        try:
            return _json(store.create_repository(**body.model_dump()), 201)
        except ServerFault:
            return _fault()

    @r.get("/repositories/", response_model=list[Repository])
    async def list_repositories(
        project_id: uuid.UUID | None = None, role: str | None = None, limit: Annotated[int, Query(ge=1, le=200)] = 50
    ):
        return _json(store.list_repositories(project_id=project_id, role=role, limit=limit))

    @r.get("/repositories/by-provider-id/{provider_repo_id}", response_model=Repository)
    async def get_repository_by_provider_id(provider_repo_id: int):
        try:
            return _json(store.get_repository_by_provider_id(provider_repo_id))
        except ServerFault:
            return _fault()

    @r.get("/repositories/{repo_id}", response_model=Repository)
    async def get_repository(repo_id: str):
        return _json(store.get_repository(repo_id))

    @r.patch("/repositories/{repo_id}", response_model=Repository)
    async def update_repository(repo_id: str, body: PlatformRepositoryUpdate):
        try:
            return _json(store.update_repository(repo_id, body.model_dump(mode="json", exclude_unset=True)))
        except ServerFault:
            return _fault()

    @r.delete("/repositories/{repo_id}", response_model=Repository)
    async def delete_repository(repo_id: str):
        return _json(store.delete_repository(repo_id))
