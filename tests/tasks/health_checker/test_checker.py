"""health_checker end to end: ticks emitted as the ticker does, an in-process worker, the sandbox
SSH fleet, and the platform API stand-in served on loopback with Server records pinning the
fleet's host keys."""

from __future__ import annotations

import asyncio
import time

from actors.tasks.health_checker.task import SPEC, check_batch, slot_stats
from contracts import Keys
from contracts.health import CheckTarget, HealthCheckBatch
from contracts.platform import IncidentOpen, IncidentType, ServerStatus
from sandbox.ssh.hoststate import Container, HostState, SshMode
from sandbox.world import World

from tests.tasks.health_checker.support import OPENS, REPORTS, TASK, active, health_of, recoveries, seed, tick
from tests.support import make_tick, running_worker, runs



def test_every_state_of_the_fleet_end_to_end(client, settings, fleet, platform, health):
    states = {
        "healthy": HostState(), "disk_full": HostState.disk_nearly_full(97),
        "disk_high": HostState.disk_nearly_full(88),
        "docker_down": HostState.docker_down(), "unreachable": HostState(mode=SshMode.UNREACHABLE),
        "slow": HostState(mode=SshMode.SLOW, delay_s=0.3), "stuck": HostState(mode=SshMode.SLOW, delay_s=3.0),
        "wrong_host_key": HostState(mode=SshMode.WRONG_HOST_KEY),
        "container": HostState(containers=[Container("web"), Container("api", health="unhealthy")]),
    }
    hosts = {name: fleet.add_host(state=state) for name, state in states.items()}
    handle = dict(zip(states, seed(platform, hosts.values()), strict=True))
    with running_worker(client, [SPEC], settings, deps=health.deps):
        first = tick(client)
        after_one = {name: health_of(platform, handle[name]) for name in states}
        second = tick(client)
    assert (first["servers"], first["checked"], second["checked"]) == (9, 9, 9)
    assert after_one == {"healthy": "healthy", "disk_full": "unknown", "disk_high": "degraded",
                         "docker_down": "unknown", "unreachable": "unknown", "slow": "healthy", "stuck": "unknown",
                         "wrong_host_key": "unknown", "container": "degraded"}, "one failed check decides nothing"
    assert {name: health_of(platform, handle[name]) for name in states} == after_one | {
        "disk_full": "unhealthy", "docker_down": "unhealthy", "unreachable": "unhealthy", "stuck": "unhealthy",
        "wrong_host_key": "unhealthy"}
    assert active(platform) == {handle["disk_full"]: {"resource_exhausted"}, handle["docker_down"]: {"service_down"},
                                handle["unreachable"]: {"server_unreachable"}, handle["stuck"]: {"server_unreachable"},
                                handle["wrong_host_key"]: {"host_key_mismatch"}}
    reasons = {i["server_handle"]: i["details"]["reason"] for i in platform.store.list_incidents()}
    assert "disk / 97% full" in reasons[handle["disk_full"]]
    assert "Docker daemon down" in reasons[handle["docker_down"]]
    assert "refused" in reasons[handle["unreachable"]]
    assert "did not answer within 2 s" in reasons[handle["stuck"]]
    assert "host key mismatch" in reasons[handle["wrong_host_key"]]
    assert hosts["wrong_host_key"].counters.commands_run == 0, "nothing ran on the impostor"
    sent = recoveries(client)
    assert sorted(m.server_handle for m in sent) == sorted(handle[n] for n in ("disk_full", "docker_down",
                                                                               "unreachable", "stuck"))
    assert all(m.is_recovery for m in sent), "a host key mismatch is for a human, not for the provisioner"
    for name in ("healthy", "disk_full", "container"):  # one login kept across both slots (the pool)
        assert hosts[name].counters.connections == 1 and hosts[name].counters.commands_run == 2


def test_incident_opened_once_kept_without_rewrites_then_resolved(client, settings, fleet, platform, health):
    host = fleet.add_host(state=HostState.disk_nearly_full(99))
    [handle] = seed(platform, [host])
    with running_worker(client, [SPEC], settings, deps=health.deps):
        tick(client)
        tick(client)
        assert active(platform) == {handle: {"resource_exhausted"}} and health_of(platform, handle) == "unhealthy"
        writes = platform.counters.requests.copy()
        for _ in range(2):
            tick(client)
        assert platform.counters.requests[OPENS] == writes[OPENS], "kept, not re-opened every tick"
        assert platform.counters.requests[REPORTS] == writes[REPORTS] + 2, "one batched report per check"
        assert len(recoveries(client)) == 1, "cooldown: one recovery request"
        fleet.set_state(host.address, HostState())
        healed = tick(client)
    assert healed["incidents_resolved"] == 1 and health_of(platform, handle) == "healthy"
    assert active(platform) == {}
    [incident] = platform.store.list_incidents()
    assert incident["resolved_at"] is not None and incident["incident_type"] == "resource_exhausted"


def test_the_platform_dedupes_an_incident_opened_since_the_listing(client, fleet, platform, health):
    host = fleet.add_host(state=HostState.docker_down())
    [handle] = seed(platform, [host])
    health(health_failures_before_unhealthy=1)
    platform.store.open_incident(IncidentOpen(server_handle=handle, incident_type=IncidentType.SERVICE_DOWN))
    stale = CheckTarget(handle=handle, host=host.address, ssh_port=host.port, ssh_host_keys=[host.public_key])
    batch = HealthCheckBatch(slot=5, deadline=make_tick(deadline_in=30).deadline, correlation_id="c1", servers=[stale])
    asyncio.run(check_batch(batch.model_dump(mode="json"), health.deps))
    assert slot_stats(client, 5)["incidents_already_open"] == 1
    assert len(platform.store.list_incidents()) == 1


def test_one_dropped_check_opens_nothing_k_in_a_row_does(client, settings, fleet, platform, health):
    health(health_failures_before_unhealthy=3)
    host = fleet.add_host()
    [handle] = seed(platform, [host])
    seen = []
    with running_worker(client, [SPEC], settings, deps=health.deps):
        for mode in (SshMode.NORMAL, SshMode.UNREACHABLE, SshMode.NORMAL, SshMode.UNREACHABLE, SshMode.UNREACHABLE,
                     SshMode.UNREACHABLE):
            fleet.set_mode(host.address, mode)
            stats = tick(client)
            seen.append((health_of(platform, handle), stats.get("pending", 0), bool(active(platform))))
    assert seen == [("healthy", 0, False), ("healthy", 1, False), ("healthy", 0, False),
                    ("healthy", 1, False), ("healthy", 1, False), ("unhealthy", 0, True)]
    assert client.hget(Keys.HEALTH_FAILURES, handle).split(b":")[0] == b"3"


def test_recovery_request_and_its_cooldown(client, settings, fleet, platform, health):
    health(health_recovery_cooldown_s=1)
    host = fleet.add_host(state=HostState(mode=SshMode.UNREACHABLE))
    [handle] = seed(platform, [host])
    with running_worker(client, [SPEC], settings, deps=health.deps):
        tick(client)
        assert recoveries(client) == []
        tick(client)
        tick(client)
        assert len(recoveries(client)) == 1, "still cooling down"
        time.sleep(1.2)
        tick(client)
    first, second = recoveries(client)
    assert (first.server_handle, first.is_recovery, first.force_reinstall) == (handle, True, False)
    assert second.server_handle == handle and second.request_id != first.request_id
    assert client.pttl(Keys.provisioner_cooldown(handle)) > 0


def test_fan_out_in_batches_and_a_server_claimed_elsewhere_is_not_checked_twice(client, settings, fleet, platform,
                                                                                 health):
    health(health_batch_size=10)
    hosts = fleet.add_hosts(25)
    handles = seed(platform, hosts)
    client.set(Keys.health_claim(handles[3]), "another-worker", px=60_000)
    with running_worker(client, [SPEC], settings, threads=3, deps=health.deps):
        stats = tick(client)
    record = [r for r in runs(client, TASK) if r.slot == stats["slot"]][0]
    assert record.counters == {"servers": 25, "batches": 3, "skipped_items": 0}
    assert (stats["batches_done"], stats["checked"], stats["claimed_elsewhere"]) == (3, 24, 1)
    assert hosts[3].counters.connections == 0 and all(h.counters.connections == 1 for h in hosts if h is not hosts[3])
    assert client.get(Keys.health_claim(handles[3])) == b"another-worker", "someone else's claim is left alone"
    assert not any(client.exists(Keys.health_claim(h)) for h in handles if h != handles[3]), "claims released"


def test_only_managed_servers_in_a_monitored_status_are_checked(client, settings, fleet, platform, health):
    hosts = fleet.add_hosts(5)
    seed(platform, hosts[:1])
    seed(platform, hosts[1:2], start=2, managed=False)
    seed(platform, hosts[2:3], start=3, status=ServerStatus.PROVISIONING)
    seed(platform, hosts[3:4], start=4, status=ServerStatus.IN_USE)
    seed(platform, hosts[4:5], start=5, status=ServerStatus.ERROR)
    client.hset(Keys.HEALTH_FAILURES, mapping={"vps-2": "1:5", "vps-gone": "3:5"})
    with running_worker(client, [SPEC], settings, deps=health.deps):
        stats = tick(client)
    assert stats["checked"] == 3
    assert [h.counters.connections for h in hosts] == [1, 0, 0, 1, 1]
    assert client.hkeys(Keys.HEALTH_FAILURES) == [], "counters of servers no longer monitored are forgotten"


def test_work_past_the_deadline_is_cut_and_counted_not_piled_up(client, fleet, platform, health):
    health(health_command_timeout_s=10.0)
    slow, fine = fleet.add_host(state=HostState(mode=SshMode.SLOW, delay_s=5.0)), fleet.add_host()
    handles = seed(platform, [slow, fine])
    targets = [CheckTarget(handle=h, host=x.address, ssh_port=x.port, ssh_host_keys=[x.public_key])
               for h, x in zip(handles, (slow, fine), strict=True)]

    def run_batch(slot: int, deadline_in: float):
        batch = HealthCheckBatch(slot=slot, deadline=make_tick(deadline_in=deadline_in).deadline,
                                 correlation_id="c", servers=targets)
        asyncio.run(check_batch(batch.model_dump(mode="json"), health.deps))
        return slot_stats(client, slot)

    late = run_batch(1, -5)
    assert late["cut"] == 2 and "checked" not in late and slow.counters.connections + fine.counters.connections == 0
    tight = run_batch(2, 2.0)
    assert (tight["cut"], tight["checked"]) == (1, 1)
    assert platform.store.get_server(handles[0])["last_health_check"] is None, "a cut check reports nothing"
    assert client.hget(Keys.HEALTH_FAILURES, handles[0]) is None, "and is not a failure"


def test_an_invalid_batch_is_dropped(client, platform, health):
    asyncio.run(check_batch({"slot": "soon", "servers": [{"handle": "../etc"}]}, health.deps))  # logged, nothing raised
    assert client.keys("scheduler:health:*") == []


def test_a_mixed_world_fleet_with_known_hosts_instead_of_pins(client, settings, fleet, platform, health):
    world = World.generate(seed=11, servers=30, host_states={"disk_full": 0.1, "docker_down": 0.1,
                                                             "unreachable": 0.1, "wrong_host_key": 0.1})
    servers = world.server_list()
    states = iter([s.host for s in servers])
    hosts = fleet.add_hosts(len(servers), addresses=[s.ssh_host for s in servers], make_state=lambda: next(states))
    handles = seed(platform, hosts, start=servers[0].server_id, pin=False)
    health(ssh_known_hosts=fleet.known_hosts_path, health_failures_before_unhealthy=1)
    with running_worker(client, [SPEC], settings, deps=health.deps):
        stats = tick(client)
    expected = {"unhealthy": sum(1 for s in servers if s.host.mode in (SshMode.UNREACHABLE, SshMode.WRONG_HOST_KEY)
                                 or not s.host.docker_running or s.host.disks["/"] >= 95)}
    assert stats["checked"] == 30 and stats.get("unhealthy", 0) == expected["unhealthy"] > 0
    assert sum(len(kinds) for kinds in active(platform).values()) >= expected["unhealthy"]
    assert {health_of(platform, h) for h in handles} <= {"healthy", "degraded", "unhealthy"}


def test_a_slow_host_delays_only_its_own_report_and_its_claim_lasts_about_as_long_as_its_check(
        client, fleet, platform, health):
    from actors.tasks.health_checker.task import CLAIM_MARGIN_S, FLUSH_INTERVAL_S

    health(health_command_timeout_s=6.0)  # the stuck host holds its check well past the first flush
    stuck = fleet.add_host(state=HostState(mode=SshMode.SLOW, delay_s=30.0))
    quick = fleet.add_hosts(4)
    handles = seed(platform, [stuck, *quick])
    targets = [CheckTarget(handle=h, host=x.address, ssh_port=x.port, ssh_host_keys=[x.public_key])
               for h, x in zip(handles, [stuck, *quick], strict=True)]
    batch = HealthCheckBatch(slot=9, deadline=make_tick(deadline_in=600).deadline, correlation_id="c9",
                             servers=targets)
    seen = {}

    async def watch():
        checking = asyncio.ensure_future(check_batch(batch.model_dump(mode="json"), health.deps))
        # reported and let go of, while the stuck host's check goes on
        while not all(health_of(platform, h) == "healthy" and not client.exists(Keys.health_claim(h))
                      for h in handles[1:]):
            assert not checking.done(), "the quick hosts were reported before the stuck one finished"
            await asyncio.sleep(0.05)
        seen["stuck_still_checking"] = not checking.done()
        seen["claim_ttl_ms"] = client.pttl(Keys.health_claim(handles[0]))
        await checking

    asyncio.run(watch())
    bound_s = health.deps.probe.check_bound_s  # 2 s connect + 6 s command + closing
    assert seen["stuck_still_checking"]
    assert 0 < seen["claim_ttl_ms"] <= (bound_s + FLUSH_INTERVAL_S + CLAIM_MARGIN_S) * 1000 < 60_000
    assert health_of(platform, handles[0]) == "unknown" and slot_stats(client, 9)["checked"] == 5
    assert client.scard(Keys.health_slot_checked(9)) == 5
