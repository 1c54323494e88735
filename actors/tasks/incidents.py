"""Opening an incident at most once: the platform does not deduplicate (two ``POST
/api/incidents/`` are two active incidents), so every task that opens one goes through here.

``IncidentOpener.open(incident)``:

1. takes a short Redis claim on (server, type) (``Keys.incident_claim``, ``SET NX PX``): while it
   is held no other worker, retry or restarted process opens one of that kind — it is counted
   ``claimed_elsewhere`` and opens nothing;
2. looks the incident up on the platform (``GET /api/incidents/?server_handle=&incident_type=``,
   one request: every one of that kind, active ones kept), so an incident opened since the
   caller's listing — by anyone, or by an earlier attempt whose answer was lost — is found
   (``already_open``);
3. only then creates it, **once** (no blind retry: a create whose answer was lost may have
   succeeded). A refusal (4xx) lets go of the claim; an unknown outcome (5xx, timeout) keeps it
   until it expires (``CLAIM_MS``, well beyond a request's timeout), after which step 2 finds
   the incident if it was created.

``release(handle, type)`` lets go of the claim when the caller resolved that incident, so a
condition that comes back is not held off by a stale claim.

The caller reads the active incidents once per run (``GET /api/incidents/active``) and asks to
open only what that listing does not show: in a steady state this module sends nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import NamedTuple

import redis.asyncio as aioredis

from actors.adapters.platform.client import PlatformAPIError, PlatformClient, UnwritableRecord
from contracts import Keys
from contracts.platform import Incident, IncidentCreate

#: how long a claim on (server, type) holds: beyond the platform request's own timeout, so an
#: attempt whose answer was lost has committed (or not) before anyone looks again
CLAIM_MS = 60_000


class Outcome(StrEnum):
    OPENED = "opened"
    ALREADY_OPEN = "already_open"
    CLAIMED_ELSEWHERE = "claimed_elsewhere"


class Opened(NamedTuple):
    outcome: Outcome
    #: the incident opened, or the active one found
    incident: Incident | None = None


class IncidentOpener:
    def __init__(self, platform: PlatformClient, client: aioredis.Redis, *, claim_ms: int | None = None):
        self.platform, self.client, self.claim_ms = platform, client, claim_ms or CLAIM_MS

    async def open(self, incident: IncidentCreate, *, same: Callable[[Incident], bool] = lambda _: True) -> Opened:
        """Open ``incident`` unless one of its (server, type) is active (and ``same``)."""
        key = Keys.incident_claim(incident.server_handle, incident.incident_type.value)
        if not await self.client.set(key, "opening", nx=True, px=self.claim_ms):
            return Opened(Outcome.CLAIMED_ELSEWHERE)
        try:
            listing = await self.platform.list_incidents(
                server_handle=incident.server_handle, incident_type=incident.incident_type
            )
        except BaseException:
            await self.client.delete(key)  # nothing was sent: nothing to hold off
            raise
        found = [i for i in listing if i.active and i.server_handle == incident.server_handle and same(i)]
        if found:
            return Opened(Outcome.ALREADY_OPEN, min(found, key=lambda i: i.id))
        try:
            created = await self.platform.create_incident(incident)
        except (PlatformAPIError, UnwritableRecord):
            await self.client.delete(key)  # refused, or not sent: nothing was created
            raise
        await self.client.set(key, str(created.id), px=self.claim_ms)
        return Opened(Outcome.OPENED, created)

    async def release(self, handle: str | None, incident_type: str) -> None:
        await self.client.delete(Keys.incident_claim(handle, incident_type))
