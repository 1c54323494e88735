"""The platform client's methods for a server's health: the metric columns of the Server
record (``PATCH /api/servers/{handle}`` with health fields only) and its metrics history."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from actors.adapters.platform.base import BaseClient
from actors.adapters.platform.errors import PlatformAPIError
from contracts.platform import (
    MetricsHistoryCreate,
    MetricsHistoryRead,
    MetricsPruned,
    ServerHealthRead,
    ServerHealthUpdate,
)


class MetricsAPI(BaseClient):
    async def record_server_health(self, handle: str, health: ServerHealthUpdate) -> ServerHealthRead:
        """``PATCH /api/servers/{handle}`` with ``last_health_check`` and the metric columns."""
        response = await self._request("PATCH", f"/api/servers/{quote(handle, safe='')}", body=health.changes())
        return self._one(response, ServerHealthRead)

    async def get_server_health(self, handle: str) -> ServerHealthRead | None:
        """``GET /api/servers/{handle}``: its status and whether it is managed; None if the
        platform has no such server (404)."""
        try:
            response = await self._request("GET", f"/api/servers/{quote(handle, safe='')}")
        except PlatformAPIError as exc:
            if exc.status == 404:
                return None
            raise
        return self._one(response, ServerHealthRead)

    async def add_metrics_history(self, handle: str, metrics: dict[str, Any]) -> MetricsHistoryRead:
        """``POST /api/servers/{handle}/metrics-history`` (201); 404 for an unknown server."""
        body = MetricsHistoryCreate(metrics=metrics).model_dump(mode="json")
        response = await self._request("POST", f"/api/servers/{quote(handle, safe='')}/metrics-history", body=body)
        return self._one(response, MetricsHistoryRead)

    async def prune_metrics_history(self, retention_hours: int) -> MetricsPruned:
        """``DELETE /api/servers/metrics-history?retention_hours=N``: every server's entries
        older than N hours; how many went."""
        if retention_hours < 1:
            raise ValueError("retention_hours must be at least 1")
        response = await self._request(
            "DELETE", "/api/servers/metrics-history", params={"retention_hours": int(retention_hours)}
        )
        return self._one(response, MetricsPruned)
