"""The platform stand-in's routes for a server's metrics history (openapi.json):

- ``POST /api/servers/{handle}/metrics-history`` ``{"metrics": {...}}`` → 201
  ``MetricsHistoryRead``; 404 ``Server not found``;
- ``GET /api/servers/{handle}/metrics-history?hours=24`` → the snapshots of the last hours;
- ``DELETE /api/servers/metrics-history?retention_hours=168`` → 200 ``{"deleted": n}``, every
  server's snapshots older than that.

The metric columns of the Server record itself are written by ``PATCH /api/servers/{handle}``
(the servers routes).
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from contracts.platform import MetricsHistoryRead
from sandbox.platform.responses import json_response as _json
from sandbox.platform.store import PlatformStore


class PlatformMetricsHistoryCreate(BaseModel):
    """The platform's ``MetricsHistoryCreate``: unknown fields ignored."""

    metrics: dict


def add_metrics_routes(r: APIRouter, store: PlatformStore) -> None:
    # Declared before any ``/servers/{handle}`` route of the same method could take the path.
    @r.delete("/servers/metrics-history")
    async def delete_old_metrics_history(retention_hours: int = 168):
        return _json({"deleted": store.prune_metrics_history(retention_hours)})

    @r.post("/servers/{handle}/metrics-history", response_model=MetricsHistoryRead, status_code=201)
    async def create_metrics_history(handle: str, snapshot: PlatformMetricsHistoryCreate):
        return _json(store.add_metrics_history(handle, snapshot.metrics), 201)

    @r.get("/servers/{handle}/metrics-history", response_model=list[MetricsHistoryRead])
    async def get_metrics_history(handle: str, hours: int = 24):
        return _json(store.metrics_history(handle, hours))
