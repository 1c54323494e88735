"""provisioner_trigger's plan: which stuck servers are announced, one rule at a time and as a
property over random fleets, applied with the task's own ``apply_plan`` on an in-memory Redis."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import fakeredis
import fakeredis.aioredis
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.adapters.provisioner.publisher import ProvisionerPublisher
from actors.tasks.announcements import waiting
from actors.tasks.provisioner_trigger.plan import Plan, Rules, plan_announcements
from actors.tasks.provisioner_trigger.task import apply_plan
from contracts import PROVISIONER_STREAM, ProvisionerMessage
from contracts.platform import Server, ServerStatus
from tests.support import FakeRun

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOUR = 3600


def server(
    n: int, status: ServerStatus = ServerStatus.PENDING_SETUP, *, managed: bool = True, age_s: float = 0
) -> Server:
    changed = NOW - timedelta(seconds=age_s)
    return Server(
        handle=f"vps-{n}",
        labels={"provider": "time4vps", "provider_id": str(n)},
        host=f"10.0.0.{n}",
        public_ip=f"10.0.0.{n}",
        is_managed=managed,
        status=status,
        created_at=changed,
        updated_at=changed,
    )


def plan(servers, cooling=(), **rules) -> Plan:
    return plan_announcements(servers, set(cooling), NOW.timestamp(), Rules(**rules))


def test_a_record_without_updated_at_is_judged_by_its_creation():
    never_updated = server(1, ServerStatus.PROVISIONING, age_s=2 * HOUR).model_copy(update={"updated_at": None})
    assert plan([never_updated], stuck_after_s=HOUR).announce == ("vps-1",)


def test_managed_servers_pending_setup_are_announced_oldest_first():
    result = plan([server(1, age_s=10), server(2, age_s=500), server(3, managed=False)])
    assert result.announce == ("vps-2", "vps-1") and not result.cooling and not result.held_back


def test_provisioning_is_stuck_only_past_the_timeout_and_other_statuses_never():
    servers = [
        server(1, ServerStatus.PROVISIONING, age_s=HOUR - 1),
        server(2, ServerStatus.PROVISIONING, age_s=HOUR),
        server(3, ServerStatus.READY, age_s=10 * HOUR),
        server(4, ServerStatus.ERROR, age_s=10 * HOUR),
    ]
    assert plan(servers, stuck_after_s=HOUR).announce == ("vps-2",)


def test_a_server_in_its_cooldown_is_not_announced_again():
    result = plan([server(1), server(2)], cooling={"vps-1"})
    assert result.announce == ("vps-2",) and result.cooling == ("vps-1",)


def test_at_most_max_per_run_the_rest_held_back():
    result = plan([server(n, age_s=n) for n in range(1, 6)], max_per_run=2)
    assert result.announce == ("vps-5", "vps-4") and result.held_back == ("vps-3", "vps-2", "vps-1")


def cycle(redis_server: fakeredis.FakeServer, servers, rules: Rules) -> tuple[Plan, Counter]:
    """Observe the cooldowns, plan, apply: one run, as the task makes it."""

    async def go():
        client = fakeredis.aioredis.FakeRedis(server=redis_server)
        publisher = ProvisionerPublisher(client)
        try:
            cooling = await publisher.cooling([s.handle for s in servers])
            made = plan_announcements(servers, cooling, NOW.timestamp(), rules)
            run = FakeRun()
            await apply_plan(made, run, publisher, cooldown_s=HOUR)
            return made, run.counters
        finally:
            await client.aclose()

    return asyncio.run(go())


def announced(redis_server: fakeredis.FakeServer) -> list[str]:
    client = fakeredis.FakeRedis(server=redis_server)
    return [
        ProvisionerMessage.model_validate_json(f[b"data"]).server_handle for _, f in client.xrange(PROVISIONER_STREAM)
    ]


fleets = st.lists(st.tuples(st.sampled_from(list(ServerStatus)), st.booleans(), st.integers(0, 3 * HOUR)), max_size=12)


@settings(max_examples=150, deadline=None)
@given(fleets, st.integers(1, 5))
def test_property_each_stuck_server_is_announced_exactly_once_over_successive_runs(fleet, max_per_run):
    servers = [server(n, status, managed=managed, age_s=age) for n, (status, managed, age) in enumerate(fleet, 1)]
    stuck = {s.handle for s in servers if plan([s], stuck_after_s=HOUR).announce}
    redis_server, rules = fakeredis.FakeServer(), Rules(stuck_after_s=HOUR, max_per_run=max_per_run)
    held = []
    for _ in range(len(servers) // max_per_run + 2):
        made, counters = cycle(redis_server, servers, rules)
        assert counters["published"] == len(made.announce) <= max_per_run
        assert counters["held_back"] == len(made.held_back)
        held.append(len(made.held_back))
    assert sorted(announced(redis_server)) == sorted(stuck), "every stuck server once, none twice"
    assert held[-1] == 0 and held == sorted(held, reverse=True), "what is held back follows in later runs"
    again, counters = cycle(redis_server, servers, rules)
    assert not again.announce and counters["skipped_cooldown"] == len(stuck)


def test_the_waiting_rule_is_the_one_server_sync_follows():
    for status in ServerStatus:
        for managed in (True, False):
            assert bool(plan([server(1, status, managed=managed)], stuck_after_s=10 * HOUR).announce) == waiting(
                managed, status
            ), (status, managed)


def test_a_publish_that_fails_mid_run_ends_with_exactly_one_announcement_each_within_the_next_run(monkeypatch):
    """Redis fails the second publish: the run fails (and is retried); the next run announces what was
    not, once, and nothing twice."""
    servers = [server(n, age_s=n) for n in range(1, 4)]
    redis_server, rules = fakeredis.FakeServer(), Rules(stuck_after_s=HOUR)
    real, calls = ProvisionerPublisher.publish, []

    async def flaky(self, message, cooldown_s):
        calls.append(message.server_handle)
        if len(calls) == 2:
            raise ConnectionError("injected: Redis went away mid-run")
        return await real(self, message, cooldown_s)

    monkeypatch.setattr(ProvisionerPublisher, "publish", flaky)
    try:
        cycle(redis_server, servers, rules)
    except ConnectionError:
        pass
    else:
        raise AssertionError("the fault was not injected")
    assert announced(redis_server) == ["vps-3"]
    _, counters = cycle(redis_server, servers, rules)
    assert counters["published"] == 2 and counters["skipped_cooldown"] == 1
    assert sorted(announced(redis_server)) == ["vps-1", "vps-2", "vps-3"]
