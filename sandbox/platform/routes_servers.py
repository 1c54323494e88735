"""The platform stand-in's routes for servers: the real service's paths, models and quirks
(see ``store_servers`` for what create and update store).

- ``GET /api/servers/?status=&is_managed=``: scalar filters (a repeated ``status`` keeps the
  last), no pagination; an unknown status simply matches nothing.
- ``POST /api/servers/``: 201 with the record; 400 on a handle that exists; 422 (with the body)
  on a request its ``ServerCreate`` refuses; unknown fields ignored.
- ``GET``/``PATCH /api/servers/{handle}``: 404 ``Server not found``; PATCH takes any object.
- The collection without its slash, or an item with one, answers 307 (FastAPI's redirect).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from contracts.platform import Server, ServerStatus
from sandbox.platform.responses import json_response as _json
from sandbox.platform.store import PlatformStore
from sandbox.platform.store_servers import ColumnError, Duplicate

_SshUser = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z_][a-z0-9_-]*$")]


class PlatformServerCreate(BaseModel):
    """The real service's ``ServerCreate`` as its OpenAPI document states it (unknown fields ignored)."""

    handle: str
    host: str
    public_ip: str
    ssh_user: _SshUser = "root"
    ssh_key: str | None = None
    capacity_cpu: int = 1
    capacity_ram_mb: int = 1024
    capacity_disk_mb: int = 10240
    is_managed: bool = True
    status: ServerStatus = ServerStatus.DISCOVERED
    notes: str | None = None
    labels: dict[str, Any] = Field(default_factory=dict)


def _internal_error() -> PlainTextResponse:
    return PlainTextResponse("Internal Server Error", status_code=500)


def add_servers_routes(r: APIRouter, store: PlatformStore) -> None:
    @r.get("/servers/", response_model=list[Server])
    async def list_servers(status: str | None = None, is_managed: bool | None = None):
        return _json(store.list_servers(status, is_managed))

    @r.get("/servers/{handle}", response_model=Server)
    async def get_server(handle: str):
        return _json(store.get_server(handle))

    @r.post("/servers/", response_model=Server, status_code=201)
    async def create_server(server: PlatformServerCreate):
        try:
            return _json(store.create_server(server), 201)
        except Duplicate as exc:
            return _json({"detail": str(exc)}, 400)
        except ColumnError:
            return _internal_error()

    @r.patch("/servers/{handle}", response_model=Server)
    async def update_server(handle: str, updates: Annotated[dict[str, Any], Body()]):
        if "ssh_user" in updates:
            try:
                TypeAdapter(_SshUser).validate_python(updates["ssh_user"])
            except ValidationError as exc:
                return _json({"detail": exc.errors(include_url=False, include_context=False)}, 422)
        try:
            return _json(store.update_server(handle, updates))
        except ColumnError:
            return _internal_error()
