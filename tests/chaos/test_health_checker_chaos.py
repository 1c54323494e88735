"""health_checker under platform faults while servers keep failing and recovering: 5xx, malformed
answers, and answers lost after the platform committed (the retried create is the classic way to
a duplicate incident, and the platform does not deduplicate). Afterwards, with the faults off:
never two active incidents of one kind for one server, exactly the failing servers' incidents open,
every resolved one with its ``resolved_at``, every server's metrics written."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from actors.tasks import incidents as opener
from actors.tasks.deps import Dependencies
from actors.tasks.health_checker import SPEC
from contracts import Keys, RunOutcome, TaskName
from process.settings import Settings
from sandbox.ssh.hoststate import HostState
from sandbox.world import World
from tests.chaos.harness import Chaos, chaos_sandbox
from tests.support import make_tick, running_worker, runs, send, wait_until
from tests.tasks.health_checker.support import slot_stats

pytestmark = pytest.mark.slow
SERVERS = 12


class HealthCycle:
    """One cycle: a tick, its final run record, and every batch it fanned out done. With the faults
    off, the claims of opens whose outcome was unknown have lapsed first, as between two real slots."""

    def __init__(self, client, sandbox):
        self.client, self.sandbox, self.slot = client, sandbox, 70_000

    def __call__(self):
        faults = self.sandbox.platform.faults
        if not (faults.error_rate or faults.lost_rate or faults.malformed_rate):
            wait_until(lambda: not self.client.keys(Keys.incident_claim("*", "*")), timeout=10)
        self.slot += 1
        slot = self.slot
        send(self.client, make_tick(TaskName.HEALTH_CHECKER, slot=slot, deadline_in=45))
        record = wait_until(
            lambda: next(
                (r for r in runs(self.client, TaskName.HEALTH_CHECKER) if r.slot == slot and not r.will_retry), None
            ),
            timeout=90,
        )
        if record.outcome is RunOutcome.SUCCEEDED:
            wait_until(
                lambda: slot_stats(self.client, slot).get("batches_done", 0) >= record.counters["batches"], timeout=90
            )
        return record


def flapping(world: World, rng: random.Random, cycle: int) -> None:
    """Every cycle a third of the servers change: Docker down, a disk full, or healthy again."""
    for server in rng.sample(world.server_list(), SERVERS // 3):
        world.set_host_state(
            server.server_id, rng.choice([HostState(), HostState.docker_down(), HostState.disk_nearly_full(99)])
        )


def test_faults_and_lost_answers_never_make_a_second_incident(client, redis_url, settings, monkeypatch):
    monkeypatch.setenv("HEALTH_FAILURES_BEFORE_UNHEALTHY", "1")
    monkeypatch.setenv("HEALTH_BATCH_SIZE", "4")
    monkeypatch.setenv("PLATFORM_MAX_ATTEMPTS", "2")
    # a claim after an unknown outcome holds 60 s, under the 2-minute cadence; these cycles are seconds
    # apart, and the stand-in commits before it loses an answer: 3 s is as safe here
    monkeypatch.setattr(opener, "CLAIM_MS", 3_000)
    world = World.generate(seed=41, servers=SERVERS, repos=0)
    with (
        chaos_sandbox(world) as sandbox,
        running_worker(client, [SPEC], settings, threads=4, deps=Dependencies(Settings(redis_url=redis_url), client)),
    ):
        sandbox.seed_platform_servers()
        chaos = Chaos(sandbox, HealthCycle(client, sandbox), change=flapping, seed=41)
        report = chaos.run(fault_cycles=8, clean_cycles=2, error_rate=0.15, malformed_rate=0.05, lost_rate=0.2)
        incidents = sandbox.platform.store.list_incidents()
        servers = {s["handle"]: s for s in sandbox.platform.store.list_servers()}
        states = {f"vps-{s.server_id}": s.host for s in world.server_list()}

    assert report.faults["platform"]["lost"] > 0 and report.faults["platform"]["5xx"] > 0
    active = Counter(
        (i["server_handle"], i["incident_type"]) for i in incidents if i["status"] in ("detected", "recovering")
    )
    assert all(n == 1 for n in active.values()), f"a duplicate incident: {active}"
    expected = {(h, "service_down") for h, st in states.items() if not st.docker_running} | {
        (h, "resource_exhausted") for h, st in states.items() if st.disks["/"] >= 95
    }
    assert set(active) == expected, "after the clean cycles, exactly the failing servers' incidents are open"
    assert all(i["resolved_at"] for i in incidents if i["status"] == "resolved")
    assert len(incidents) > len(expected), "incidents were opened and resolved along the way"
    assert all(servers[h]["last_health_check"] for h in states), "every server's metrics written"
    assert all(r.outcome is RunOutcome.SUCCEEDED for r in report.clean)
