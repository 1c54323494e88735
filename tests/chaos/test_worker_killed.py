"""A worker SIGKILLed in the middle of a health fan-out, another started: every server is checked
again by the next slot, the killed slot is flagged as incomplete, and no claim outlives its bound."""

from __future__ import annotations

import signal
import time

import pytest

from actors.tasks.health_checker.check import CLAIM_MARGIN_S, FLUSH_INTERVAL_S
from contracts import Keys, TaskName
from process.heartbeats import live_processes
from sandbox.ssh.hoststate import HostState, SshMode
from sandbox.world import World
from tests.chaos.harness import chaos_sandbox
from tests.support import make_tick, runs, send, spawn, stop, wait_until
from tests.tasks.health_checker.support import slot_stats

pytestmark = pytest.mark.slow
WORKER = "import runpy; runpy.run_module('actors', run_name='__main__')"
CONNECT_S, COMMAND_S, CLOSE_GRACE_S = 1.0, 2.0, 2.0
SLOT_S = 15


def test_a_worker_killed_mid_fan_out_leaves_nothing_unchecked_past_the_next_slot(client, redis_url, tmp_path):
    world = World.generate(seed=31, servers=24, repos=0)
    for server in world.server_list()[::2]:  # half the fleet is slow: the fan-out is mid-way for a while
        world.set_host_state(server.server_id, HostState(mode=SshMode.SLOW, delay_s=1.5))
    with chaos_sandbox(world) as sandbox:
        sandbox.seed_platform_servers()
        handles = sorted(s["handle"] for s in sandbox.platform.store.list_servers())
        env = {
            **sandbox.env(),
            "REDIS_URL": redis_url,
            "WORKER_THREADS": "2",
            "HEALTH_BATCH_SIZE": "4",
            "HEALTH_SSH_CONCURRENCY": "2",
            "HEALTH_CONNECT_TIMEOUT_S": str(CONNECT_S),
            "HEALTH_COMMAND_TIMEOUT_S": str(COMMAND_S),
            "LOCK_TTL_MS": "3000",
            # the victim is seen dead (3 missed beats) before the next slot, as 15 s are in 2-minute slots
            "HEARTBEAT_INTERVAL_S": "1",
            **{f"SCHEDULE_{t.value.upper()}": "off" for t in TaskName if t is not TaskName.HEALTH_CHECKER},
        }
        victim = spawn(WORKER, env, log=tmp_path / "victim.log")
        successor = None
        try:
            killed_slot = SLOT_S * 1000
            sent_at = time.monotonic()
            send(client, make_tick(TaskName.HEALTH_CHECKER, slot=killed_slot, deadline_in=SLOT_S))
            wait_until(
                lambda: (
                    0 < len(client.keys(Keys.health_claim("*")))
                    and client.scard(Keys.health_slot_checked(killed_slot)) < len(handles)
                ),
                timeout=30,
            )
            victim.send_signal(signal.SIGKILL)  # mid-fan-out: claims held, batches unfinished
            victim.wait()
            claims = [client.pttl(key) for key in client.keys(Keys.health_claim("*"))]
            lock_ttl = client.pttl(Keys.lock(TaskName.HEALTH_CHECKER.value))

            # The next slot comes SLOT_S later, by when every claim and the lock have lapsed
            # (their TTLs, asserted below, are shorter than a slot).
            # ... and past the killed slot's deadline: what the successor then finds of it is stale
            killed_deadline = sent_at + SLOT_S
            wait_until(
                lambda: (
                    not client.keys(Keys.health_claim("*"))
                    and not client.exists(Keys.lock(TaskName.HEALTH_CHECKER.value))
                    and not live_processes(client, "worker")
                    and time.monotonic() > killed_deadline
                ),
                timeout=SLOT_S * 2,
            )
            successor = spawn(WORKER, env, log=tmp_path / "successor.log")
            next_slot = killed_slot + SLOT_S
            send(client, make_tick(TaskName.HEALTH_CHECKER, slot=next_slot, deadline_in=SLOT_S * 2))
            wait_until(lambda: client.scard(Keys.health_slot_checked(next_slot)) == len(handles), timeout=60)
            [record] = wait_until(lambda: [r for r in runs(client, TaskName.HEALTH_CHECKER) if r.slot == next_slot])
        finally:
            stop(victim, signal.SIGKILL)
            if successor is not None:
                stop(successor)
    bound_ms = (CONNECT_S + COMMAND_S + CLOSE_GRACE_S + FLUSH_INTERVAL_S + CLAIM_MARGIN_S) * 1000
    assert claims and all(0 < ttl <= bound_ms for ttl in claims) and bound_ms < SLOT_S * 1000, (claims, bound_ms)
    assert lock_ttl <= 3000, "the task lock dies with its holder within its TTL"
    assert sorted(m.decode() for m in client.smembers(Keys.health_slot_checked(next_slot))) == handles
    killed = slot_stats(client, killed_slot)
    assert record.counters["previous_slot"] == killed_slot and record.counters["previous_planned"] == len(handles)
    assert record.counters["previous_incomplete"] == 1 and record.counters["previous_checked"] < len(handles)
    assert record.counters["previous_never_checked"] > 0, killed
