"""Helpers of the health checker's end-to-end tests: seeding the platform, a tick driver, reading
incidents, verdicts and recovery messages (the fixtures are in ``tests/tasks/health_checker/conftest.py``)."""

from __future__ import annotations

import itertools

import redis

from contracts import PROVISIONER_STREAM, Keys, ProvisionerMessage, RunOutcome, TaskName
from contracts.platform import ServerCreate, ServerStatus
from tests.support import make_tick, runs, send, wait_until

TASK = TaskName.HEALTH_CHECKER
OPENS, PATCHES, HISTORY = (
    "POST /api/incidents/",
    "PATCH /api/servers/{handle}",
    "POST /api/servers/{handle}/metrics-history",
)
_slots = itertools.count(10_000, 120)


def slot_stats(client: redis.Redis, slot: int) -> dict[str, int]:
    """What the health checks of ``slot`` did so far (``servers``, ``checked``, ``cut``...)."""
    return {k.decode(): int(v) for k, v in client.hgetall(Keys.health_slot(slot)).items()}


def seed(platform, hosts, *, start=1, managed=True, status=ServerStatus.READY, port_label=True) -> list[str]:
    """Server records for fleet hosts, as the platform holds them: the host's address, its SSH
    port in ``labels.ssh_port`` (or none: ``SSH_PORT`` then applies)."""
    servers = [
        ServerCreate(
            handle=f"vps-{n}",
            host=h.address,
            public_ip=h.address,
            is_managed=managed,
            status=status,
            labels={"provider_id": str(n), **({"ssh_port": h.port} if port_label else {})},
        )
        for n, h in enumerate(hosts, start=start)
    ]
    platform.store.bulk_insert_servers(servers)
    return [s.handle for s in servers]


def requests(platform, route: str) -> int:
    """How many requests of a route (its template: ``PATCH /api/servers/{handle}``) the stand-in answered."""
    return platform.counters.requests[route]


def tick(client, timeout: float = 30.0) -> dict[str, int]:
    """Emit a tick, wait for its run and for every batch it fanned out; the slot's figures."""
    slot = next(_slots)
    send(client, make_tick(TASK, slot=slot, deadline_in=60))
    wait_until(lambda: any(r.slot == slot for r in runs(client, TASK)), timeout)
    [record] = [r for r in runs(client, TASK) if r.slot == slot]
    assert record.outcome is RunOutcome.SUCCEEDED, record.error
    wait_until(lambda: slot_stats(client, slot).get("batches_done", 0) >= record.counters.get("batches", 0), timeout)
    return slot_stats(client, slot) | {"slot": slot, **{f"run_{k}": v for k, v in record.counters.items()}}


def health_of(client, handle: str) -> str:
    """The server's health as the scheduler keeps it (Redis): ``unknown`` before its first check."""
    raw = client.hget(Keys.HEALTH_VERDICTS, handle)
    return raw.decode() if raw else "unknown"


def active(platform) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for incident in platform.store.list_incidents():
        if incident["status"] in ("detected", "recovering"):
            found.setdefault(incident["server_handle"], set()).add(incident["incident_type"])
    return found


def active_count(platform) -> int:
    return sum(1 for i in platform.store.list_incidents() if i["status"] in ("detected", "recovering"))


def recoveries(client) -> list[ProvisionerMessage]:
    entries = client.xrange(PROVISIONER_STREAM)
    assert all(set(fields) == {b"data"} for _, fields in entries)
    return [ProvisionerMessage.model_validate_json(fields[b"data"]) for _, fields in entries]
