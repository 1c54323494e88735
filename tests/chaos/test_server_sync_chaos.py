"""server_sync on a bad day: 20 % of the answers of every stand-in fail (503s and bodies cut short)
for 5 cycles while the Time4VPS account changes, then none: within 2 clean cycles the Server records
match the account, the platform's store holds no invalid row, and the next cycle writes nothing.
The harness is ``harness.py``."""

from __future__ import annotations

import json
import random

import pytest

from actors.tasks.deps import Dependencies
from actors.tasks.server_sync import SPEC
from contracts import PROVISIONER_STREAM, RunOutcome, TaskName
from process.settings import Settings
from sandbox.world import World
from tests.chaos.harness import Chaos, TickDriver, chaos_sandbox, failed_runs, invalid_rows, mismatches
from tests.support import running_worker

pytestmark = pytest.mark.slow
TASK = TaskName.SERVER_SYNC


@pytest.fixture
def time4vps_env(monkeypatch):
    for name, value in {
        "TIME4VPS_MANAGE_ALL": "true",
        "TIME4VPS_MISSING_AFTER": "2",
        "TIME4VPS_MAX_ATTEMPTS": "2",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TIME4VPS_MANAGED_SERVER_IDS", raising=False)
    monkeypatch.delenv("TIME4VPS_MAX_DETAILS_PER_RUN", raising=False)


def account_churn(world: World, rng: random.Random, cycle: int) -> None:
    """A server comes, one goes, one gets a new address and one is resized."""
    world.add_server()
    world.remove_server(rng.choice(world.server_list()).server_id)
    world.change_server_ip(rng.choice(world.server_list()).server_id, f"203.0.113.{100 + cycle}")
    world.resize_server(rng.choice(world.server_list()).server_id, cpu_cores=8, ram_mb=16384, disk_mb=163840)


def sandbox_announced(client) -> list[str]:
    return [json.loads(f[b"data"])["server_handle"] for _, f in client.xrange(PROVISIONER_STREAM)]


def account_vs_platform(world: World, store) -> list[str]:
    """Every server of the account has its record as the provider describes it; every gone one is missing."""
    records = {r["provider_id"]: r for r in store.list_servers() if r["labels"].get("provider") == "time4vps"}
    expected = {
        str(s.server_id): {
            "public_ip": s.public_ip,
            "host": s.public_ip,
            "status": "pending_setup",
            "is_managed": True,
            "capacity_cpu": s.cpu_cores,
            "capacity_ram_mb": s.ram_mb,
            "capacity_disk_mb": s.disk_mb,
            "os_template": s.os or None,
            "labels": {"provider": "time4vps", "provider_id": str(s.server_id)},
        }
        for s in world.server_list()
    }
    expected |= {pid: {"status": "missing"} for pid in records if pid not in expected}
    return mismatches(expected, records)


@pytest.mark.parametrize("seed", [11, 12])
def test_faults_on_every_stand_in_while_the_account_changes_then_two_clean_cycles_converge(
    client, redis_url, settings, time4vps_env, seed
):
    world = World.generate(seed=seed, repos=0, servers=15)
    with (
        chaos_sandbox(world) as sandbox,
        running_worker(client, [SPEC], settings, deps=Dependencies(Settings(redis_url=redis_url), client)),
    ):
        driver = TickDriver(client, TASK)
        assert driver().outcome is RunOutcome.SUCCEEDED  # the account as it was, synced
        report = Chaos(sandbox, driver, change=account_churn, seed=seed).run(
            fault_cycles=5, clean_cycles=2, error_rate=0.1, malformed_rate=0.1, lost_rate=0.1
        )
        store = sandbox.platform.store

        assert account_vs_platform(world, store) == [], "the records match the account after 2 clean cycles"
        handles = [s["handle"] for s in store.list_servers()]
        assert len(handles) == len(set(handles)) == len({s["provider_id"] for s in store.list_servers()})
        waiting = {s["handle"] for s in store.list_servers() if s["status"] == "pending_setup"}
        assert waiting <= set(sandbox_announced(client)), "every waiting server was announced"
        assert invalid_rows(store) == []
        steady = driver()
    assert report.faults["time4vps"]["5xx"] and report.faults["platform"]["5xx"], report.faults
    assert not failed_runs(report.clean) and report.clean[-1].outcome is RunOutcome.SUCCEEDED
    assert (
        steady.outcome is RunOutcome.SUCCEEDED
        and not steady.counters.get("creates")
        and not steady.counters.get("updates")
    ), "converged: the next cycle writes nothing"
