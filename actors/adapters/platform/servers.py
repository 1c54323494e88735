"""The platform client's methods for servers and their health."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from urllib.parse import quote

from contracts.platform import (
    HealthReport,
    HealthReportResult,
    Server,
    ServerCreate,
    ServerStatus,
    ServerUpdate,
)

from actors.adapters.platform.base import BaseClient, Listing, _values

#: health reports per request; a fleet of 10,000 goes in 10 requests
HEALTH_BATCH = 1000


class ServersAPI(BaseClient):

    async def list_servers(self, statuses: ServerStatus | Iterable[ServerStatus] | None = None,
                           is_managed: bool | None = None) -> Listing[Server]:
        params = {"status": _values(statuses), "is_managed": is_managed}
        return self._many(await self._request("GET", "/api/servers", params=params), Server)

    async def get_server(self, handle: str) -> Server:
        return self._one(await self._request("GET", f"/api/servers/{quote(handle, safe='')}"), Server)

    async def create_server(self, server: ServerCreate) -> Server:
        return self._one(await self._request("POST", "/api/servers", body=server.model_dump(mode="json")), Server)

    async def update_server(self, handle: str, changes: ServerUpdate) -> Server:
        response = await self._request("PATCH", f"/api/servers/{quote(handle, safe='')}", body=changes.changes())
        return self._one(response, Server)

    async def report_health(self, reports: Sequence[HealthReport]) -> HealthReportResult:
        """Send health reports in batches (each applied in one transaction); the summed result."""
        total = HealthReportResult(received=0, updated=0, stale=0)
        for start in range(0, len(reports), HEALTH_BATCH):
            batch = [r.model_dump(mode="json") for r in reports[start:start + HEALTH_BATCH]]
            result = self._one(await self._request("POST", "/api/servers/health-reports", body=batch),
                               HealthReportResult)
            total = HealthReportResult(received=total.received + result.received,
                                       updated=total.updated + result.updated, stale=total.stale + result.stale,
                                       unknown_handles=total.unknown_handles + result.unknown_handles)
        return total

