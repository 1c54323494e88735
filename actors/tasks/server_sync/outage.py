"""The provider-wide incident ``provider_api_unavailable`` (no server handle): opened when Time4VPS
fails a whole run (unavailable, or refusing our credentials, with the reason in its details), kept
while that lasts (opening is idempotent on the platform), resolved by the first good listing."""

from __future__ import annotations

from typing import Any

from actors.adapters.platform.client import PlatformClient
from contracts.platform import IncidentOpen, IncidentStatus, IncidentType
from scheduler.logs import get_logger

log = get_logger(__name__)

PROVIDER = "time4vps"
ACTIVE = (IncidentStatus.DETECTED, IncidentStatus.RECOVERING)


class ProviderOutage:
    def __init__(self, platform: PlatformClient):
        self.platform = platform

    async def open(self, reason: str, message: str) -> bool:
        """Open (or find) the incident; True when this call opened it."""
        details: dict[str, Any] = {"provider": PROVIDER, "reason": reason, "message": message[:500]}
        opened = await self.platform.open_incident(IncidentOpen(
            incident_type=IncidentType.PROVIDER_API_UNAVAILABLE, details=details))
        if opened.created:
            log.error("server_sync.provider_outage_opened", alert=True, incident_id=opened.incident.id, reason=reason)
        return opened.created

    async def resolve(self) -> int:
        """Resolve the open Time4VPS outage incidents; how many there were."""
        active = await self.platform.list_incidents(ACTIVE, incident_type=IncidentType.PROVIDER_API_UNAVAILABLE)
        resolved = 0
        for incident in active:
            if incident.details.get("provider", PROVIDER) == PROVIDER:
                await self.platform.resolve_incident(incident.id)
                log.info("server_sync.provider_outage_resolved", incident_id=incident.id)
                resolved += 1
        return resolved
