"""Kept SSH connections (actors.adapters.ssh.pool) through the real probe against the sandbox fleet:
reuse across checks, idle and age bounds, a changed host key refused at the next reconnect, a dead
connection replaced within the same check, the cap, and a changed record making a new connection."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from actors.adapters.ssh import probe as probe_module
from actors.adapters.ssh.pool import ConnectionPool, PoolConfig
from actors.adapters.ssh.probe import ProbeConfig, SshProbe
from contracts.health import CheckTarget, FindingKind
from sandbox.ssh.fleet import SshFleet
from tests.support import Clock, wait_until


@pytest.fixture(scope="module")
def fleet():
    with SshFleet() as fleet:
        yield fleet


def pooled_probe(fleet, clock: Clock | None = None, **pool) -> SshProbe:
    options = {"max_open": 100, "idle_s": 300.0, "max_age_s": 3600.0, "keepalive_s": 0.0, **pool}
    probe = SshProbe(
        ProbeConfig(
            private_key_path=fleet.client_key_path, known_hosts_path=fleet.known_hosts_path, pool=PoolConfig(**options)
        )
    )
    if clock is not None:  # the loop's pool, on the test's clock
        probe._pools = _Fixed(ConnectionPool(probe.config.pool, clock))
    return probe


class _Fixed:
    """A PerLoop stand-in holding one pool (each test runs on one loop)."""

    def __init__(self, pool):
        self.pool = pool

    def get(self):
        return self.pool

    async def aclose(self, close):
        await close(self.pool)


def target_for(host, **fields) -> CheckTarget:
    """Its host key is the fleet's known_hosts line for it (the platform's Server pins none)."""
    return CheckTarget(handle=fields.pop("handle", "vps-1"), host=host.address, ssh_port=host.port, **fields)


def server_connections(host, expected: int, timeout: float = 10.0) -> int:
    """The host's open connections once they number ``expected``, or as many as there are after
    ``timeout`` (a close is seen on the fleet's loop, in its own thread, a moment after ours)."""
    with contextlib.suppress(AssertionError):
        wait_until(lambda: len(host.connections) == expected, timeout=timeout)
    return len(host.connections)


def run(coro):
    return asyncio.run(coro)


def test_checks_of_one_server_share_one_connection_across_slots(fleet):
    host = fleet.add_host()
    probe = pooled_probe(fleet)

    async def scenario():
        results = [await probe.check(target_for(host)) for _ in range(5)]
        stats = dict(probe.pool().stats)
        await probe.aclose()
        return results, stats

    results, stats = run(scenario())
    assert all(r.connected and r.findings == [] for r in results)
    assert host.counters.connections == 1  # one login, five sessions
    assert host.counters.commands_run == 5
    assert (stats["connects"], stats["reuses"]) == (1, 4)
    assert server_connections(host, 0) == 0  # aclose closed it


def test_an_idle_connection_is_closed_and_an_old_one_replaced(fleet):
    host, other = fleet.add_host(), fleet.add_host()
    clock = Clock()
    probe = pooled_probe(fleet, clock, idle_s=300.0, max_age_s=3600.0)

    async def scenario():
        pool = probe.pool()
        await probe.check(target_for(host))
        await probe.check(target_for(other))
        clock.now += 299
        assert pool.reap() == 0
        await probe.check(target_for(host))  # used: its idle time starts again
        clock.now += 2
        assert pool.reap() == 1  # `other` was unused for 301 s
        assert len(pool) == 1 and pool.stats["closed_idle"] == 1
        for _ in range(12):  # a check every 290 s: never idle, but it ages
            clock.now += 290
            await probe.check(target_for(host))
        stats = dict(pool.stats)
        await probe.aclose()
        return stats

    stats = run(scenario())
    assert server_connections(other, 0) == 0
    assert other.counters.connections == 1
    # 0 s, 299 s, then 12 checks 290 s apart: the one at 3,781 s (> 3,600 after the first login) logs in again
    assert host.counters.connections == 2 and stats["closed_aged"] == 1


def test_a_changed_host_key_is_refused_and_reported_at_the_next_reconnect(fleet):
    host = fleet.add_host()
    clock = Clock()
    probe = pooled_probe(fleet, clock, max_age_s=3600.0)

    record = target_for(host)  # the key pinned on the record: the one the host has now

    async def scenario():
        first = await probe.check(record)
        fleet.replace_host_key(host.address)  # sshd reloaded with a new key: the open session survives
        within_bound = await probe.check(record)
        clock.now += 3600  # the kept connection is now too old to use
        after = await probe.check(record)
        again = await probe.check(record)
        await probe.aclose()
        return first, within_bound, after, again

    first, within_bound, after, again = run(scenario())
    assert first.connected and within_bound.connected  # the bound: up to HEALTH_SSH_MAX_AGE_S on the old login
    for refused in (after, again):
        assert not refused.connected
        assert [f.kind for f in refused.findings] == [FindingKind.HOST_KEY_MISMATCH]
        assert host.host_key.get_fingerprint() in refused.findings[0].message
    assert host.counters.commands_run == 2  # nothing ran on the impostor


def test_sshd_restarting_with_a_new_key_is_noticed_at_once(fleet):
    host = fleet.add_host()
    probe = pooled_probe(fleet)

    record = target_for(host)

    async def scenario():
        first = await probe.check(record)
        fleet.replace_host_key(host.address, drop_connections=True)
        second = await probe.check(record)
        await probe.aclose()
        return first, second

    first, second = run(scenario())
    assert first.connected
    assert [f.kind for f in second.findings] == [FindingKind.HOST_KEY_MISMATCH]


def test_a_dead_kept_connection_is_replaced_within_the_same_check(fleet):
    host = fleet.add_host()
    probe = pooled_probe(fleet)

    async def scenario():
        await probe.check(target_for(host))
        # dropped while this loop is not looking: the pool still holds it as open
        assert fleet.drop_connections(host.address) == 1
        result = await probe.check(target_for(host))
        stats = dict(probe.pool().stats)
        await probe.aclose()
        return result, stats

    result, stats = run(scenario())
    assert result.connected and result.findings == []
    assert host.counters.connections == 2 and host.counters.commands_run == 2
    assert stats["discarded"] + stats["lost"] == 1 and stats["connects"] == 2


def test_past_the_cap_a_check_connects_and_closes(fleet):
    kept, extra = fleet.add_host(), fleet.add_host()
    probe = pooled_probe(fleet, max_open=1)

    async def scenario():
        for _ in range(3):
            await probe.check(target_for(kept))
            await probe.check(target_for(extra))
        stats = dict(probe.pool().stats)
        size = len(probe.pool())
        await probe.aclose()
        return stats, size

    stats, size = run(scenario())
    assert size == 1
    assert kept.counters.connections == 1 and extra.counters.connections == 3
    assert stats["unpooled"] == 3
    assert server_connections(extra, 0) == 0  # each extra connection was closed after its check


def test_a_changed_record_or_known_hosts_entry_makes_a_new_connection(fleet, monkeypatch):
    monkeypatch.setattr(probe_module, "KNOWN_HOSTS_RECHECK_S", 0.0)  # the file is looked at on every check
    host, other = fleet.add_host(), fleet.add_host()
    probe = pooled_probe(fleet)

    async def scenario():
        results = [await probe.check(target_for(host))]
        results.append(await probe.check(target_for(host, ssh_user="deploy")))
        with fleet.known_hosts_path.open("a") as known_hosts:  # an operator adds a second key for the host
            known_hosts.write(f"[{host.address}]:{host.port} {other.public_key}\n")
        results.append(await probe.check(target_for(host)))
        results.append(await probe.check(target_for(host)))
        size = len(probe.pool())
        await probe.aclose()
        return results, size

    results, size = run(scenario())
    assert all(r.connected for r in results)
    assert size == 3  # root with the old trust (idle now), deploy, root with the new trust
    assert host.counters.connections == 3


def test_without_a_pool_every_check_is_a_login(fleet):
    host = fleet.add_host()
    probe = pooled_probe(fleet, max_open=0)

    async def scenario():
        for _ in range(3):
            await probe.check(target_for(host))
        return len(probe.pool())

    assert run(scenario()) == 0
    assert host.counters.connections == 3
    assert server_connections(host, 0) == 0


def test_a_connection_in_use_is_closed_only_when_its_check_ends():
    closed = []

    class Conn:
        def __init__(self, name):
            self.name = name

        def close(self):
            closed.append(self.name)

        def is_closed(self):
            return self.name in closed

    clock = Clock()
    pool = ConnectionPool(PoolConfig(max_open=10, idle_s=10.0, max_age_s=100.0), clock)
    made = iter(["a", "b"])

    async def connect():
        return Conn(next(made))

    async def scenario():
        async with pool.acquire("k", connect) as lease:
            clock.now += 100
            assert pool.reap() == 0 and closed == []  # busy: not closed under its check
            async with pool.acquire("k", connect) as second:  # too old to hand out: a new one
                assert second.conn.name == "b" and not second.reused
            assert closed == []
        assert closed == ["a"]  # retired, closed when its check ended
        assert lease.conn.name == "a"
        await pool.aclose()

    run(scenario())
    assert closed == ["a", "b"]
