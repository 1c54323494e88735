"""Helpers of the health checker's end-to-end tests: seeding the platform, a tick driver, reading
incidents and recovery messages (the fixtures are in ``tests/tasks/health_checker/conftest.py``)."""

from __future__ import annotations

import itertools

from actors.tasks.health_checker.task import slot_stats
from contracts import PROVISIONER_STREAM, ProvisionerMessage, RunOutcome, TaskName
from contracts.platform import ServerCreate, ServerStatus

from tests.support import make_tick, runs, send, wait_until

TASK = TaskName.HEALTH_CHECKER
OPENS, REPORTS = "POST /api/incidents", "POST /api/servers/health-reports"
_slots = itertools.count(10_000, 120)


def seed(platform, hosts, *, start=1, pin=True, managed=True, status=ServerStatus.READY) -> list[str]:
    servers = [ServerCreate(handle=f"vps-{n}", provider_id=str(n), host=h.address, ssh_port=h.port, is_managed=managed,
                            status=status, ssh_host_keys=[h.public_key] if pin else [])
               for n, h in enumerate(hosts, start=start)]
    platform.store.bulk_insert_servers(servers)
    return [s.handle for s in servers]


def tick(client, timeout: float = 30.0) -> dict[str, int]:
    """Emit a tick, wait for its run and for every batch it fanned out; the slot's figures."""
    slot = next(_slots)
    send(client, make_tick(TASK, slot=slot, deadline_in=60))
    wait_until(lambda: any(r.slot == slot for r in runs(client, TASK)), timeout)
    [record] = [r for r in runs(client, TASK) if r.slot == slot]
    assert record.outcome is RunOutcome.SUCCEEDED, record.error
    wait_until(lambda: slot_stats(client, slot).get("batches_done", 0) >= record.counters.get("batches", 0), timeout)
    return slot_stats(client, slot) | {"slot": slot}


def health_of(platform, handle: str) -> str:
    return platform.store.get_server(handle)["health_status"]


def active(platform) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for incident in platform.store.list_incidents():
        if incident["status"] != "resolved":
            found.setdefault(incident["server_handle"], set()).add(incident["incident_type"])
    return found


def recoveries(client) -> list[ProvisionerMessage]:
    entries = client.xrange(PROVISIONER_STREAM)
    assert all(set(fields) == {b"data"} for _, fields in entries)
    return [ProvisionerMessage.model_validate_json(fields[b"data"]) for _, fields in entries]
