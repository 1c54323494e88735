"""health_checker end to end: ticks emitted as the ticker does, an in-process worker, the sandbox
SSH fleet (its known_hosts the trust), and the platform API stand-in served on loopback with
Server records as the platform holds them (the SSH port in ``labels.ssh_port``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from actors.tasks.health_checker.check import CLAIM_MARGIN_S, FLUSH_INTERVAL_S, check_batch
from actors.tasks.health_checker.task import SPEC
from contracts import Keys
from contracts.health import CheckTarget, HealthCheckBatch
from contracts.platform import ServerStatus
from sandbox.ssh.hoststate import Container, HostState, SshMode
from sandbox.world import World
from tests.support import make_tick, running_worker, runs, wait_until_async
from tests.tasks.health_checker.support import (
    HISTORY,
    OPENS,
    PATCHES,
    TASK,
    active,
    active_count,
    health_of,
    recoveries,
    requests,
    seed,
    slot_stats,
    tick,
)


@pytest.mark.slow
def test_every_state_of_the_fleet_end_to_end(client, settings, fleet, platform, health):
    states = {
        "healthy": HostState(load=(1.25, 0.5, 0.25), uptime_s=7200.0),
        "disk_full": HostState.disk_nearly_full(97),
        "disk_high": HostState.disk_nearly_full(88),
        "ram_full": HostState.memory_nearly_full(97),
        "docker_down": HostState.docker_down(),
        "unreachable": HostState(mode=SshMode.UNREACHABLE),
        "slow": HostState(mode=SshMode.SLOW, delay_s=0.3),
        "stuck": HostState(mode=SshMode.SLOW, delay_s=3.0),
        "wrong_host_key": HostState(mode=SshMode.WRONG_HOST_KEY),
        "container": HostState(containers=[Container("web"), Container("api", health="unhealthy")]),
    }
    hosts = {name: fleet.add_host(state=state) for name, state in states.items()}
    handle = dict(zip(states, seed(platform, hosts.values()), strict=True))
    with running_worker(client, [SPEC], settings, deps=health.deps):
        first = tick(client)
        after_one = {name: health_of(client, handle[name]) for name in states}
        assert active(platform) == {}, "one failed check decides nothing"
        second = tick(client)
    assert (first["servers"], first["checked"], second["checked"]) == (10, 10, 10)
    assert after_one == {
        "healthy": "healthy",
        "disk_full": "pending",
        "disk_high": "degraded",
        "ram_full": "pending",
        "docker_down": "pending",
        "unreachable": "pending",
        "slow": "healthy",
        "stuck": "pending",
        "wrong_host_key": "pending",
        "container": "degraded",
    }
    assert {name: health_of(client, handle[name]) for name in states} == after_one | {
        "disk_full": "unhealthy",
        "ram_full": "unhealthy",
        "docker_down": "unhealthy",
        "unreachable": "unhealthy",
        "stuck": "unhealthy",
        "wrong_host_key": "unhealthy",
    }
    assert active(platform) == {
        handle["disk_full"]: {"resource_exhausted"},
        handle["ram_full"]: {"resource_exhausted"},
        handle["docker_down"]: {"service_down"},
        handle["unreachable"]: {"server_unreachable"},
        handle["stuck"]: {"server_unreachable"},
        handle["wrong_host_key"]: {"server_unreachable"},
    }
    details = {i["server_handle"]: i["details"] for i in platform.store.list_incidents()}
    assert all(d["opened_by"] == "scheduler" for d in details.values())
    assert "disk / 97% full" in details[handle["disk_full"]]["reason"]
    assert (details[handle["ram_full"]]["resource"], details[handle["ram_full"]]["usage_pct"]) == ("ram", 97)
    assert "Docker daemon down" in details[handle["docker_down"]]["reason"]
    assert "refused" in details[handle["unreachable"]]["reason"]
    assert "did not answer within 2 s" in details[handle["stuck"]]["reason"]
    assert details[handle["wrong_host_key"]]["cause"] == "host_key_mismatch"
    assert "host key mismatch" in details[handle["wrong_host_key"]]["reason"]
    assert hosts["wrong_host_key"].counters.commands_run == 0, "nothing ran on the impostor"
    sent = recoveries(client)
    assert sorted(m.server_handle for m in sent) == sorted(
        handle[n] for n in ("disk_full", "ram_full", "docker_down", "unreachable", "stuck")
    )
    assert all(m.is_recovery for m in sent), "a changed host key is for a human, not for the provisioner"
    healthy = platform.store.get_server(handle["healthy"])
    assert (healthy["load_avg_1m"], healthy["load_avg_5m"], healthy["uptime_seconds"]) == (1.25, 0.5, 7200)
    assert (healthy["container_count_running"], healthy["container_count_total"]) == (1, 1)
    assert healthy["used_ram_mb"] == 4_028_000 * 30 // 100 // 1024 and healthy["used_disk_mb"] > 0
    assert healthy["last_health_check"] is not None
    reached = ("healthy", "disk_full", "disk_high", "ram_full", "docker_down", "slow", "container")
    assert {n: platform.store.metrics_history_count(handle[n]) for n in states} == {
        n: 2 if n in reached else 0 for n in states
    }, "one history entry per check that reached the server"
    assert platform.store.get_server(handle["unreachable"])["last_health_check"] is None
    for name in ("healthy", "disk_full", "container"):  # one login kept across both slots (the pool)
        assert hosts[name].counters.connections == 1 and hosts[name].counters.commands_run == 2


@pytest.mark.slow
def test_incident_opened_once_kept_without_rewrites_then_resolved_with_resolved_at(
    client, settings, fleet, platform, health
):
    host = fleet.add_host(state=HostState.disk_nearly_full(99))
    [handle] = seed(platform, [host])
    with running_worker(client, [SPEC], settings, deps=health.deps):
        tick(client)
        tick(client)
        assert active(platform) == {handle: {"resource_exhausted"}} and health_of(client, handle) == "unhealthy"
        opens, patches, history = requests(platform, OPENS), requests(platform, PATCHES), requests(platform, HISTORY)
        for _ in range(2):
            tick(client)
        assert requests(platform, OPENS) == opens, "kept, not re-opened every tick"
        assert (requests(platform, PATCHES), requests(platform, HISTORY)) == (patches + 2, history + 2), (
            "one PATCH and one history entry per check"
        )
        assert len(recoveries(client)) == 1, "cooldown: one recovery request"
        fleet.set_state(host.address, HostState())
        healed = tick(client)
    assert healed["incidents_resolved"] == 1 and health_of(client, handle) == "healthy"
    assert active(platform) == {}
    [incident] = platform.store.list_incidents()
    assert incident["resolved_at"] is not None and incident["incident_type"] == "resource_exhausted"
    assert not client.exists(Keys.incident_claim(handle, "resource_exhausted")), "the claim goes with the incident"


def _batch(slot: int, *targets: CheckTarget) -> dict:
    return HealthCheckBatch(
        slot=slot, deadline=make_tick(deadline_in=30).deadline, correlation_id=f"c{slot}", servers=list(targets)
    ).model_dump(mode="json")


def test_the_platform_does_not_deduplicate_so_the_checker_does(client, fleet, platform, health):
    """A target listed before an incident was opened (by a retry, another worker, a restart), and
    two messages for the same server at once: still one incident."""
    hosts = [fleet.add_host(state=HostState.docker_down()) for _ in range(2)]
    handles = seed(platform, hosts)
    health(health_failures_before_unhealthy=1)
    stale = [CheckTarget(handle=h, host=x.address, ssh_port=x.port) for h, x in zip(handles, hosts, strict=True)]
    asyncio.run(check_batch(_batch(5, stale[0]), health.deps))
    assert slot_stats(client, 5)["incidents_opened"] == 1
    client.delete(Keys.incident_claim(handles[0], "service_down"))  # the claim lapsed: the lookup still finds it
    asyncio.run(check_batch(_batch(6, stale[0]), health.deps))
    assert slot_stats(client, 6)["incidents_already_open"] == 1

    async def twice_at_once():  # a redelivered message running beside the original
        await asyncio.gather(
            check_batch(_batch(7, stale[1]), health.deps), check_batch(_batch(8, stale[1]), health.deps)
        )

    asyncio.run(twice_at_once())
    assert active_count(platform) == 2 and len(platform.store.list_incidents()) == 2, "one per server"


@pytest.mark.slow
def test_one_dropped_check_opens_nothing_k_in_a_row_does(client, settings, fleet, platform, health):
    health(health_failures_before_unhealthy=3)
    host = fleet.add_host()
    [handle] = seed(platform, [host])
    seen = []
    with running_worker(client, [SPEC], settings, deps=health.deps):
        for mode in (
            SshMode.NORMAL,
            SshMode.UNREACHABLE,
            SshMode.NORMAL,
            SshMode.UNREACHABLE,
            SshMode.UNREACHABLE,
            SshMode.UNREACHABLE,
        ):
            fleet.set_mode(host.address, mode)
            stats = tick(client)
            seen.append((health_of(client, handle), stats.get("pending", 0), bool(active(platform))))
    assert seen == [
        ("healthy", 0, False),
        ("pending", 1, False),
        ("healthy", 0, False),
        ("pending", 1, False),
        ("pending", 1, False),
        ("unhealthy", 0, True),
    ]
    assert client.hget(Keys.HEALTH_FAILURES, handle).split(b":")[0] == b"3"


def test_recovery_request_and_its_cooldown(client, settings, fleet, platform, health):
    health(health_recovery_cooldown_s=3600)
    host = fleet.add_host(state=HostState(mode=SshMode.UNREACHABLE))
    [handle] = seed(platform, [host])
    with running_worker(client, [SPEC], settings, deps=health.deps):
        tick(client)
        assert recoveries(client) == []
        tick(client)
        tick(client)
        assert len(recoveries(client)) == 1, "still cooling down"
        assert 3_500_000 < client.pttl(Keys.provisioner_cooldown(handle)) <= 3_600_000, "the configured cooldown"
        # The cooldown lapses, moved by hand rather than waited for: it is the key's TTL, and a
        # 1-second one made "still cooling down" depend on how fast this machine ran three ticks.
        client.delete(Keys.provisioner_cooldown(handle))
        tick(client)
    first, second = recoveries(client)
    assert (first.server_handle, first.is_recovery, first.force_reinstall) == (handle, True, False)
    assert second.server_handle == handle and second.request_id != first.request_id
    assert client.pttl(Keys.provisioner_cooldown(handle)) > 0


@pytest.mark.slow
def test_fan_out_in_batches_and_a_server_claimed_elsewhere_is_not_checked_twice(
    client, settings, fleet, platform, health
):
    health(health_batch_size=10)
    hosts = fleet.add_hosts(25)
    handles = seed(platform, hosts)
    client.set(Keys.health_claim(handles[3]), "another-worker", px=60_000)
    with running_worker(client, [SPEC], settings, threads=3, deps=health.deps):
        stats = tick(client)
    record = [r for r in runs(client, TASK) if r.slot == stats["slot"]][0]
    assert {k: record.counters[k] for k in ("servers", "batches", "skipped_items")} == {
        "servers": 25,
        "batches": 3,
        "skipped_items": 0,
    }
    assert (stats["batches_done"], stats["checked"], stats["claimed_elsewhere"]) == (3, 24, 1)
    assert hosts[3].counters.connections == 0 and all(h.counters.connections == 1 for h in hosts if h is not hosts[3])
    assert client.get(Keys.health_claim(handles[3])) == b"another-worker", "someone else's claim is left alone"
    assert not any(client.exists(Keys.health_claim(h)) for h in handles if h != handles[3]), "claims released"


def test_only_managed_servers_ready_in_use_or_active_are_checked_one_listing_per_status(
    client, settings, fleet, platform, health
):
    hosts = fleet.add_hosts(6)
    seed(platform, hosts[:1])
    seed(platform, hosts[1:2], start=2, managed=False)
    seed(platform, hosts[2:3], start=3, status=ServerStatus.PROVISIONING)
    seed(platform, hosts[3:4], start=4, status=ServerStatus.IN_USE)
    seed(platform, hosts[4:5], start=5, status=ServerStatus.ACTIVE)
    seed(platform, hosts[5:6], start=6, status=ServerStatus.ERROR)
    client.hset(Keys.HEALTH_FAILURES, mapping={"vps-2": "1:5", "vps-gone": "3:5"})
    client.hset(Keys.HEALTH_VERDICTS, mapping={"vps-gone": "healthy"})
    with running_worker(client, [SPEC], settings, deps=health.deps):
        stats = tick(client)
    assert stats["checked"] == 3
    assert [h.counters.connections for h in hosts] == [1, 0, 0, 1, 1, 0]
    assert client.hkeys(Keys.HEALTH_FAILURES) == [], "counters of servers no longer monitored are forgotten"
    assert b"vps-gone" not in client.hkeys(Keys.HEALTH_VERDICTS)
    assert requests(platform, "GET /api/servers/") == 3 and requests(platform, "GET /api/incidents/active") == 1


def test_the_port_is_the_records_label_or_ssh_port_and_a_bad_label_skips_only_that_server(
    client, settings, fleet, platform, health
):
    hosts = fleet.add_hosts(3)
    seed(platform, hosts[:2], port_label=False)
    seed(platform, hosts[2:], start=3)
    platform.store.update_server("vps-2", {"labels": {"provider_id": "2", "ssh_port": "22; reboot"}})
    health(ssh_port=fleet.port)
    with running_worker(client, [SPEC], settings, deps=health.deps):
        stats = tick(client)
    assert (stats["checked"], stats["run_skipped_items"]) == (2, 1)
    assert [h.counters.connections for h in hosts] == [1, 0, 1]


def test_work_past_the_deadline_is_cut_and_counted_not_piled_up(client, fleet, platform, health):
    health(health_command_timeout_s=10.0)
    slow, fine = fleet.add_host(state=HostState(mode=SshMode.SLOW, delay_s=5.0)), fleet.add_host()
    handles = seed(platform, [slow, fine])
    targets = [
        CheckTarget(handle=h, host=x.address, ssh_port=x.port) for h, x in zip(handles, (slow, fine), strict=True)
    ]

    def run_batch(slot: int, deadline_in: float):
        batch = HealthCheckBatch(
            slot=slot, deadline=make_tick(deadline_in=deadline_in).deadline, correlation_id="c", servers=targets
        )
        asyncio.run(check_batch(batch.model_dump(mode="json"), health.deps))
        return slot_stats(client, slot)

    late = run_batch(1, -5)
    assert late["cut"] == 2 and "checked" not in late and slow.counters.connections + fine.counters.connections == 0
    tight = run_batch(2, 2.0)
    assert (tight["cut"], tight["checked"]) == (1, 1)
    assert platform.store.get_server(handles[0])["last_health_check"] is None, "a cut check reports nothing"
    assert client.hget(Keys.HEALTH_FAILURES, handles[0]) is None, "and is not a failure"


def test_an_invalid_or_old_batch_is_dropped(client, platform, health):
    asyncio.run(check_batch({"slot": "soon", "servers": [{"handle": "../etc"}]}, health.deps))  # logged, nothing raised
    old = {
        "schema_version": 1,
        "slot": 1,
        "deadline": "2030-01-01T00:00:00Z",
        "correlation_id": "c",
        "servers": [{"handle": "vps-1", "host": "10.0.0.1", "ssh_host_keys": [], "health_status": "unknown"}],
    }
    asyncio.run(check_batch(old, health.deps))  # a message of the release before: targets with pinned keys
    assert client.keys("scheduler:health:*") == []


@pytest.mark.slow
def test_a_mixed_world_fleet(client, settings, fleet, platform, health):
    world = World.generate(
        seed=11,
        servers=30,
        host_states={"disk_full": 0.1, "docker_down": 0.1, "unreachable": 0.1, "wrong_host_key": 0.1},
    )
    servers = world.server_list()
    states = iter([s.host for s in servers])
    hosts = fleet.add_hosts(len(servers), addresses=[s.ssh_host for s in servers], make_state=lambda: next(states))
    handles = seed(platform, hosts, start=servers[0].server_id)
    health(health_failures_before_unhealthy=1)
    with running_worker(client, [SPEC], settings, deps=health.deps):
        stats = tick(client)
    expected = {
        "unhealthy": sum(
            1
            for s in servers
            if s.host.mode in (SshMode.UNREACHABLE, SshMode.WRONG_HOST_KEY)
            or not s.host.docker_running
            or s.host.disks["/"] >= 95
        )
    }
    assert stats["checked"] == 30 and stats.get("unhealthy", 0) == expected["unhealthy"] > 0
    assert sum(len(kinds) for kinds in active(platform).values()) >= expected["unhealthy"]
    assert {health_of(client, h) for h in handles} <= {"healthy", "degraded", "unhealthy"}


@pytest.mark.slow
def test_a_slow_host_delays_only_its_own_report_and_its_claim_lasts_about_as_long_as_its_check(
    client, fleet, platform, health
):
    health(health_command_timeout_s=6.0)  # the stuck host holds its check well past the first flush
    stuck = fleet.add_host(state=HostState(mode=SshMode.SLOW, delay_s=30.0))
    quick = fleet.add_hosts(4)
    handles = seed(platform, [stuck, *quick])
    targets = [
        CheckTarget(handle=h, host=x.address, ssh_port=x.port) for h, x in zip(handles, [stuck, *quick], strict=True)
    ]
    batch = HealthCheckBatch(slot=9, deadline=make_tick(deadline_in=600).deadline, correlation_id="c9", servers=targets)
    seen = {}

    async def watch():
        checking = asyncio.ensure_future(check_batch(batch.model_dump(mode="json"), health.deps))

        async def quick_ones_reported() -> bool:  # and let go of, while the stuck host's check goes on
            reported = all(
                platform.store.get_server(h)["last_health_check"] and not client.exists(Keys.health_claim(h))
                for h in handles[1:]
            )
            assert reported or not checking.done(), "the quick hosts were reported before the stuck one finished"
            return reported

        await wait_until_async(quick_ones_reported, timeout=60, interval=0.05)
        seen["stuck_still_checking"] = not checking.done()
        seen["claim_ttl_ms"] = client.pttl(Keys.health_claim(handles[0]))
        await checking

    asyncio.run(watch())
    bound_s = health.deps.probe.check_bound_s  # 2 s connect + 6 s command + closing
    assert seen["stuck_still_checking"]
    assert 0 < seen["claim_ttl_ms"] <= (bound_s + FLUSH_INTERVAL_S + CLAIM_MARGIN_S) * 1000 < 60_000
    assert health_of(client, handles[0]) == "pending" and slot_stats(client, 9)["checked"] == 5
    assert client.scard(Keys.health_slot_checked(9)) == 5


# --- issue 19: incidents close when their server leaves monitoring ----------------------------------


@pytest.mark.slow
def test_our_incidents_close_when_their_server_leaves_monitoring_and_no_one_elses(
    client, settings, fleet, platform, health
):
    hosts = [fleet.add_host(state=HostState.docker_down()) for _ in range(5)]
    handles = seed(platform, hosts)
    health(health_failures_before_unhealthy=1)
    with running_worker(client, [SPEC], settings, deps=health.deps):
        tick(client)
        assert active_count(platform) == 5
        theirs = platform.store.create_incident(handles[0], "server_unreachable", {"reason": "the platform's own"}, [])
        platform.store.update_server(handles[0], {"status": "decommissioned"})
        platform.store.update_server(handles[1], {"is_managed": False})
        platform.store.update_server(handles[2], {"status": "provisioning"})  # may come back: kept open
        platform.store.forget_server(handles[3])
        left = tick(client)
        assert left["run_incidents_resolved_departed"] == 3
        steady = tick(client)
    assert "run_incidents_resolved_departed" not in steady
    states = {
        i["server_handle"]: (i["status"], i["details"].get("resolution"))
        for i in platform.store.list_incidents()
        if i["id"] != theirs["id"]
    }
    assert states == {
        handles[0]: ("resolved", "server decommissioned: no longer monitored"),
        handles[1]: ("resolved", "server unmanaged: no longer monitored"),
        handles[2]: ("detected", None),
        handles[3]: ("resolved", "server deleted: the platform no longer has it"),
        handles[4]: ("detected", None),
    }
    assert all(i["resolved_at"] for i in platform.store.list_incidents() if i["status"] == "resolved")
    assert platform.store.get_incident(theirs["id"])["status"] == "detected", "someone else's is never touched"


# --- the metrics history: written per check, pruned past the retention, once an hour at most ---------


def test_the_history_is_pruned_past_the_retention_once_an_hour_at_most(client, settings, fleet, platform, health):
    host = fleet.add_host()
    [handle] = seed(platform, [host])
    old = datetime.now(UTC) - timedelta(hours=30)
    platform.store.add_metrics_history(handle, {"old": True}, recorded_at=old)
    health(health_history_retention_h=24)
    with running_worker(client, [SPEC], settings, deps=health.deps):
        first = tick(client)
        platform.store.add_metrics_history(handle, {"old": True}, recorded_at=old)
        second = tick(client)
    assert first["run_history_pruned"] == 1 and "run_history_pruned" not in second
    assert requests(platform, "DELETE /api/servers/metrics-history") == 1
    assert platform.store.metrics_history_count(handle) == 3, "two checks, and the old entry planted after the prune"
    assert 0 < client.ttl(Keys.HEALTH_HISTORY_PRUNED) <= 3600


@pytest.mark.slow
def test_a_steady_cycle_costs_at_most_what_the_platforms_own_checker_does(client, settings, fleet, platform, health):
    n = 12
    hosts = fleet.add_hosts(n)
    seed(platform, hosts)
    client.set(Keys.HEALTH_HISTORY_PRUNED, "1", ex=3600)  # pruned already this hour
    with running_worker(client, [SPEC], settings, deps=health.deps):
        tick(client)
        before = platform.counters.total()
        tick(client)
        spent = platform.counters.total() - before
    ours = 3 + 1 + 2 * n  # a listing per status, the active incidents, a PATCH and a history entry per server
    platforms_own = 1 + 3 * n  # its listing; per server an incident read, a PATCH, a history entry
    assert spent == ours <= platforms_own
    assert requests(platform, OPENS) == 0
