"""Two workers share a fleet by ownership (each its servers' connections); one is SIGKILLed while it
checks: at the next slot its servers are checked by their new owner, the slot it died in says
INCOMPLETE, and its own queue is emptied instead of piling up."""

from __future__ import annotations

import signal

import pytest

from actors.runtime.ownership import assign
from actors.runtime.spec import own_queue_name
from actors.tasks.health_checker import affinity
from contracts import Keys, TaskName
from process.heartbeats import live_processes
from sandbox.ssh.hoststate import HostState, SshMode
from sandbox.world import World
from tests.chaos.harness import chaos_sandbox
from tests.support import make_tick, runs, send, spawn, stop, wait_until
from tests.tasks.health_checker.support import slot_stats

pytestmark = pytest.mark.slow
WORKER = "import runpy; runpy.run_module('actors', run_name='__main__')"
TASK = TaskName.HEALTH_CHECKER
SLOT_S = 15


def owners(client) -> list[str]:
    return [p.id for p in live_processes(client, "worker") if own_queue_name(TASK, p.id) in p.queues]


def test_an_owner_killed_mid_slot_hands_its_servers_to_the_survivor_at_the_next_slot(client, redis_url, tmp_path):
    world = World.generate(seed=37, servers=24, repos=0)
    for server in world.server_list()[::2]:  # half the fleet is slow: the slot is mid-way for a while
        world.set_host_state(server.server_id, HostState(mode=SshMode.SLOW, delay_s=1.5))
    with chaos_sandbox(world) as sandbox:
        sandbox.seed_platform_servers()
        handles = sorted(s["handle"] for s in sandbox.platform.store.list_servers())
        env = {
            **sandbox.env(),
            "REDIS_URL": redis_url,
            "WORKER_THREADS": "2",
            "HEALTH_BATCH_SIZE": "3",
            "HEALTH_SSH_CONCURRENCY": "2",
            "HEALTH_CONNECT_TIMEOUT_S": "1",
            "HEALTH_COMMAND_TIMEOUT_S": "2",
            "LOCK_TTL_MS": "3000",
            "HEARTBEAT_INTERVAL_S": "0.5",
            **{f"SCHEDULE_{t.value.upper()}": "off" for t in TaskName if t is not TASK},
        }
        workers = [spawn(WORKER, env, log=tmp_path / f"worker-{n}.log") for n in range(2)]
        try:
            pair = wait_until(lambda: found if len(found := owners(client)) == 2 else None, timeout=60)
            shares = assign(handles, pair)
            assert all(shares.values()), shares
            killed_slot = SLOT_S * 1000
            send(client, make_tick(TASK, slot=killed_slot, deadline_in=SLOT_S))
            wait_until(
                lambda: (
                    client.keys(Keys.health_claim("*"))
                    and client.scard(Keys.health_slot_checked(killed_slot)) < len(handles)
                ),
                timeout=30,
            )
            victim = workers[0]
            victim_id = next(p for p in pair if f":{victim.pid}:" in p)  # ids are host:pid:random
            victim.send_signal(signal.SIGKILL)  # mid-slot: its claims held, its batches unfinished
            victim.wait()
            survivor_id = next(p for p in pair if p != victim_id)
            # by the next slot its heartbeat (3 x 0.5 s) and claims (~10 s) have lapsed
            wait_until(
                lambda: owners(client) == [survivor_id] and not client.keys(Keys.health_claim("*")), timeout=SLOT_S
            )
            next_slot = killed_slot + SLOT_S
            send(client, make_tick(TASK, slot=next_slot, deadline_in=SLOT_S * 2))
            wait_until(lambda: client.scard(Keys.health_slot_checked(next_slot)) == len(handles), timeout=60)
            [record] = wait_until(lambda: [r for r in runs(client, TASK) if r.slot == next_slot])
            dead_queue_keys = client.exists(*affinity._redis_keys("dramatiq", own_queue_name(TASK, victim_id)))
        finally:
            for worker in workers:
                stop(worker, signal.SIGKILL)
    assert sorted(m.decode() for m in client.smembers(Keys.health_slot_checked(next_slot))) == handles
    assert record.counters["owners"] == 1, "the next slot's fan-out used the new live set"
    killed = slot_stats(client, killed_slot)
    # the slot it died in: its unfinished servers were either rescued (sent to the survivor within that
    # slot, once its heartbeat lapsed) or are counted as never checked; none vanished unaccounted
    assert killed.get("rescued", 0) > 0 or record.counters["previous_never_checked"] > 0, killed
    assert record.counters["previous_checked"] < len(handles) or killed.get("rescued", 0) > 0, killed
    assert dead_queue_keys == 0, "the dead owner's queue was emptied"
