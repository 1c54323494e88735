"""The provider-wide incident ``provider_api_unavailable`` (no server handle): opened when Time4VPS
fails a whole run (unavailable, or refusing our credentials, with the reason in its details), kept
while that lasts (opened once: ``actors/tasks/incidents.py``, as the platform does not
deduplicate), resolved — only the scheduler's own — by the first good listing."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from actors.adapters.platform.client import PlatformClient
from actors.tasks.incidents import IncidentOpener, Outcome
from contracts.platform import OPENED_BY, OPENED_BY_SCHEDULER, Incident, IncidentCreate, IncidentType
from process.logs import get_logger

log = get_logger(__name__)

PROVIDER = "time4vps"


def _ours(incident: Incident) -> bool:
    return incident.opened_by_scheduler and incident.details.get("provider", PROVIDER) == PROVIDER


class ProviderOutage:
    def __init__(self, platform: PlatformClient, client: aioredis.Redis):
        self.platform = platform
        self.opener = IncidentOpener(platform, client)

    async def open(self, reason: str, message: str) -> bool:
        """Open the incident unless one is active; True when this call opened it."""
        details: dict[str, Any] = {
            OPENED_BY: OPENED_BY_SCHEDULER,
            "source": "server_sync",
            "provider": PROVIDER,
            "reason": reason,
            "message": message[:500],
        }
        opened = await self.opener.open(
            IncidentCreate(incident_type=IncidentType.PROVIDER_API_UNAVAILABLE, details=details), same=_ours
        )
        if opened.outcome is Outcome.OPENED:
            log.error("server_sync.provider_outage_opened", alert=True, incident_id=opened.incident.id, reason=reason)
        return opened.outcome is Outcome.OPENED

    async def resolve(self) -> int:
        """Resolve the scheduler's open Time4VPS outage incidents; how many there were."""
        listing = await self.platform.list_incidents(incident_type=IncidentType.PROVIDER_API_UNAVAILABLE)
        resolved = 0
        for incident in listing:
            if incident.active and incident.server_handle is None and _ours(incident):
                await self.platform.resolve_incident(incident.id)
                log.info("server_sync.provider_outage_resolved", incident_id=incident.id)
                resolved += 1
        if resolved:
            await self.opener.release(None, IncidentType.PROVIDER_API_UNAVAILABLE.value)
        return resolved
