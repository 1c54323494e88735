"""The fleet panel: health counts, the current slot's coverage, and the open incidents.

This is the one module of the web process that knows how the fleet's health is represented, so
that the platform-API change (issue 22: health as metrics and incidents, no ``health_status``)
is adapted here alone. Counts come from what the health checker itself keeps in Redis (each
slot's counters: ``healthy``, ``degraded``, ``unhealthy``...), which costs O(1) whatever the
fleet's size; the open incidents come from the platform, through the same client the tasks use,
fetched in the background every ``INCIDENTS_EVERY_S`` so that a page never waits on the platform.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

import redis

from actors.adapters.platform.client import PlatformSettings
from contracts import Keys
from contracts.health import HEALTH_INCIDENTS, SlotCoverage
from contracts.platform import Incident, IncidentType
from process.errors import ConfigurationError
from process.logs import get_logger

log = get_logger(__name__)

#: health statuses counted per slot by the health checker; servers planned but not among them are unknown
STATUSES = ("healthy", "degraded", "unhealthy")
#: the incident types the scheduler raises (health checker and server_sync's provider outage)
SCHEDULER_INCIDENTS = frozenset({*HEALTH_INCIDENTS, IncidentType.PROVIDER_API_UNAVAILABLE})
INCIDENTS_EVERY_S = 30.0


@dataclass(frozen=True)
class FleetHealth:
    #: the slot the counts come from (the newest whose batches all reported, else the newest), or None
    slot: int | None
    counts: dict[str, int]
    #: the newest slot's coverage (it may still be running) and the ones before it, newest first
    coverage: list[SlotCoverage]
    #: servers whose consecutive-failure count the checker keeps (those that failed lately)
    failing: int


def fleet_health(client: redis.Redis, coverage: list[SlotCoverage]) -> FleetHealth:
    """Health counts of the latest finished slot (or the running one if none finished)."""
    pipe = client.pipeline(transaction=False)
    for c in coverage:
        pipe.hgetall(Keys.health_slot(c.slot))
    pipe.hlen(Keys.HEALTH_FAILURES)
    *stats, failing = pipe.execute()
    parsed = [{k.decode(): int(v) for k, v in s.items()} for s in stats]
    chosen = next(
        (
            i
            for i, s in enumerate(parsed)
            if s.get("batches_done", 0) + s.get("batches_failed", 0) >= s.get("batches", 0) > 0
        ),
        0 if parsed else None,
    )
    if chosen is None:
        return FleetHealth(
            slot=None, counts={**{s: 0 for s in STATUSES}, "unknown": 0}, coverage=coverage, failing=failing
        )
    s = parsed[chosen]
    counts = {status: s.get(status, 0) for status in STATUSES}
    counts["unknown"] = max(0, s.get("servers", 0) - sum(counts.values()))
    return FleetHealth(slot=coverage[chosen].slot, counts=counts, coverage=coverage, failing=failing)


@dataclass
class IncidentView:
    incidents: list[Incident] = field(default_factory=list)
    #: when they were read (monotonic seconds), or None before the first answer
    fetched_at: float | None = None
    #: why they could not be read, if the latest try failed (never a URL or credential)
    problem: str | None = None


class OpenIncidents:
    """The scheduler's open incidents, refreshed by a daemon thread; ``view()`` never blocks."""

    def __init__(self, every_s: float = INCIDENTS_EVERY_S):
        self.every_s = every_s
        self._view = IncidentView()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def view(self) -> IncidentView:
        with self._lock:
            return self._view

    def refresh(self) -> IncidentView:
        view = asyncio.run(self._read())
        with self._lock:
            self._view = view
        return view

    async def _read(self) -> IncidentView:
        try:
            settings = PlatformSettings.from_env()
        except ConfigurationError:
            return IncidentView(problem="the platform API is not configured (API_BASE_URL, INTERNAL_API_KEY)")
        try:
            async with settings.client() as platform:
                listing = await platform.list_active_incidents()
        except Exception as exc:  # the panel says so; the rest of the page does not depend on it
            log.warning("web.incidents_unreadable", error=type(exc).__name__)
            return IncidentView(
                incidents=self.view().incidents,
                fetched_at=self.view().fetched_at,
                problem=f"the platform API did not answer ({type(exc).__name__})",
            )
        # the platform does not know who raised an incident; ours carry details.opened_by
        incidents = sorted(
            (i for i in listing if i.opened_by_scheduler and i.incident_type in SCHEDULER_INCIDENTS),
            key=lambda i: i.detected_at,
            reverse=True,
        )
        return IncidentView(incidents=incidents, fetched_at=time.monotonic())

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="web-incidents", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while True:
            self.refresh()
            if self._stop.wait(self.every_s):
                return
