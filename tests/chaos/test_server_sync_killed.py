"""Issue 19, item 3: a worker SIGKILLed between a server's create and its announcement. The
platform has committed the ``pending_setup`` record and the worker is waiting for the answer
when it dies; the next run, by another worker, announces it exactly once."""

from __future__ import annotations

import os
import signal

import pytest

from contracts import Keys, RunOutcome, TaskName
from tests.support import make_tick, runs, send, spawn, stop, wait_until

pytestmark = pytest.mark.slow
WORKER = "import runpy; runpy.run_module('actors', run_name='__main__')"
TASK = TaskName.SERVER_SYNC


def test_a_worker_killed_after_the_create_and_before_the_publish_leaves_one_announcement(
    stack, client, redis_url, tmp_path
):
    env = {
        **{k: v for k, v in os.environ.items() if k.startswith(("API_", "INTERNAL_", "TIME4VPS_", "PLATFORM_"))},
        "REDIS_URL": redis_url,
        "WORKER_THREADS": "1",
        "LOCK_TTL_MS": "2000",
        **{f"SCHEDULE_{t.value.upper()}": "off" for t in TaskName if t is not TASK},
    }
    # every create commits, then its answer hangs (lost) for long enough to kill the worker there
    stack.platform.faults.update(lost_rate=1.0, lost_after_s=30, methods="POST")
    victim = spawn(WORKER, env, log=tmp_path / "victim.log")
    successor = None
    try:
        send(client, make_tick(TASK, slot=1001, deadline_in=120))
        wait_until(lambda: stack.platform.store.list_servers(), timeout=60)  # committed; its answer withheld
        victim.send_signal(signal.SIGKILL)  # the first record is committed; its announcement is not made
        victim.wait()
        committed = stack.platform.store.list_servers()
        assert [s["status"] for s in committed] == ["pending_setup"] and stack.announced() == []

        stack.platform.faults.update(lost_rate=0.0, lost_after_s=0)
        wait_until(lambda: not client.exists(Keys.lock(TASK.value)), timeout=10)  # the dead worker's lock lapses
        successor = spawn(WORKER, env, log=tmp_path / "successor.log")
        for slot in (1002, 1003):
            send(client, make_tick(TASK, slot=slot, deadline_in=120))
            wait_until(
                lambda slot=slot: [r for r in runs(client, TASK) if r.slot == slot and not r.will_retry], timeout=60
            )
    finally:
        stop(victim, signal.SIGKILL)
        if successor is not None:
            stop(successor)
    done = {r.slot: r for r in runs(client, TASK) if not r.will_retry}
    assert done[1002].outcome is RunOutcome.SUCCEEDED and done[1003].outcome is RunOutcome.SUCCEEDED
    handles = sorted(s["handle"] for s in stack.platform.store.list_servers())
    assert len(handles) == 12 and stack.platform.counters.requests["POST /api/servers/"] == 12
    assert sorted(stack.announced()) == handles, "every waiting server once, the killed one included"
