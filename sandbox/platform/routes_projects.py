"""The platform stand-in's routes for users and projects, as the platform declares them
(collections with a trailing slash: the bare path answers 307; item routes without one).
Answers are the stored rows as they are (``response_model`` documents them in /openapi.json, for
the worker's compatibility check; returning a response skips FastAPI's re-validation).

The request models here are the platform's, not ours: as loose as it is (any title, any config)
except where it is strict (unknown fields on a project create or update are a 422)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from contracts.platform import Project, ProjectStatus, User
from sandbox.platform.responses import json_response as _json
from sandbox.platform.store import PlatformStore
from sandbox.platform.store_base import NotFound
from sandbox.platform.store_projects import ProjectExists


class PlatformProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID | None = None
    title: str
    status: ProjectStatus = ProjectStatus.DRAFT
    config: dict[str, Any] = {}
    initiating_run_id: str = Field(min_length=1, max_length=64)


class PlatformProjectUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = None
    status: ProjectStatus | None = None
    config: dict[str, Any] | None = None
    project_spec: dict | None = None


TelegramId = Annotated[int | None, Header(alias="X-Telegram-ID")]


def add_projects_routes(r: APIRouter, store: PlatformStore) -> None:
    # ---------------------------------------------------------------- users
    @r.get("/users/", response_model=list[User])
    async def list_users():
        return _json(store.list_users())

    @r.get("/users/by-telegram/{telegram_id}", response_model=User)
    async def get_user_by_telegram(telegram_id: int):
        user = store.find_user_by_telegram(telegram_id)
        if user is None:
            raise NotFound("User not found")
        return _json(user)

    @r.get("/users/{user_id}", response_model=User)
    async def get_user(user_id: int):
        return _json(store.get_user(user_id))

    # ---------------------------------------------------------------- projects
    @r.get("/projects/", response_model=list[Project])
    async def list_projects(
        status: Annotated[str | None, Query()] = None,
        owner_id: int | None = None,
        owner_only: bool = False,
        x_telegram_id: TelegramId = None,
    ):
        if x_telegram_id:  # a user sees their own projects only (an admin: all, or theirs with owner_only)
            actor = store.find_user_by_telegram(x_telegram_id)
            if actor is None:
                raise NotFound("User not found")
            if not actor["is_admin"] or (owner_only and owner_id is None):
                owner_id = actor["id"]
        return _json(store.list_projects(status, owner_id))

    @r.get("/projects/{project_id}", response_model=Project)
    async def get_project(project_id: uuid.UUID):
        return _json(store.get_project(project_id))

    @r.post("/projects/", status_code=201, response_model=Project)
    async def create_project(project: PlatformProjectCreate, x_telegram_id: TelegramId = None):
        if project.id is not None:
            try:
                store.get_project(project.id)
            except NotFound:
                pass
            else:
                raise HTTPException(400, "Project with this ID already exists")
        if not x_telegram_id:
            raise HTTPException(400, "X-Telegram-ID header is required")
        owner = store.find_user_by_telegram(x_telegram_id)
        if owner is None:
            raise HTTPException(404, f"User with telegram_id {x_telegram_id} not found")
        try:
            row = store.create_project(
                title=project.title,
                owner_id=owner["id"],
                status=project.status,
                config=project.config,
                initiating_run_id=project.initiating_run_id,
                project_id=project.id,
            )
        except ProjectExists as exc:  # created in between by another request
            raise HTTPException(400, str(exc)) from None
        return _json(row, 201)

    async def _update(project_id: uuid.UUID, changes: PlatformProjectUpdate):
        return _json(store.update_project(project_id, changes.model_dump(exclude_unset=True)))

    r.patch("/projects/{project_id}", response_model=Project)(_update)
    r.put("/projects/{project_id}", response_model=Project)(_update)
