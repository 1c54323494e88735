"""What the worker's middleware does with a delivered tick: run it once, or say why not."""

from __future__ import annotations

import asyncio
import threading

from pydantic import BaseModel

from actors.runtime.lock import TaskLock
from actors.runtime.spec import PartSpec, TaskSpec
from contracts import Keys, RunOutcome, TaskName, TickReason
from process.errors import TransientError
from tests.support import make_tick, running_worker, runs, send, wait_until

TASK = TaskName.HEALTH_CHECKER


def recorder(calls: list):
    def body(run):
        calls.append((run.tick.slot, run.attempt))
        run.count("servers", 3)

    return body


def test_a_tick_runs_once_and_leaves_a_record_and_state(client, settings):
    calls = []
    with running_worker(client, [TaskSpec(TASK, recorder(calls))], settings):
        tick = make_tick(slot=100)
        send(client, tick)
        wait_until(lambda: runs(client))
        send(client, tick)  # redelivered, or sent twice
        wait_until(lambda: len(runs(client)) == 2)
    assert calls == [(100, 0)]
    first, second = runs(client)
    assert (first.outcome, first.counters, first.fence) == (RunOutcome.SUCCEEDED, {"servers": 3}, 1)
    assert second.outcome is RunOutcome.SKIPPED_DONE
    state = client.hgetall(Keys.state(TASK))
    assert state[b"succeeded"] == b"1" and state[b"consecutive_failures"] == b"0"
    assert client.get(Keys.lock(TASK)) is None, "lock released"


def test_a_tick_delivered_after_its_deadline_is_expired_not_run(client, settings):
    calls = []
    send(client, make_tick(slot=200, deadline_in=-1))  # queued while no worker runs, until too late…
    with running_worker(client, [TaskSpec(TASK, recorder(calls))], settings):  # …delivered late
        wait_until(lambda: runs(client))
    assert calls == []
    assert [r.outcome for r in runs(client)] == [RunOutcome.EXPIRED]
    assert client.hget(Keys.state(TASK), "expired") == b"1"


def test_a_transient_error_is_retried_with_the_same_slot(client, settings):
    attempts = []

    def flaky(run):
        attempts.append((run.tick.slot, run.attempt))
        if run.attempt == 0:
            raise TransientError("platform API answered 503")

    with running_worker(client, [TaskSpec(TASK, flaky)], settings):
        send(client, make_tick(slot=300))
        wait_until(lambda: len(runs(client)) == 2)
    assert attempts == [(300, 0), (300, 1)]
    failed, succeeded = runs(client)
    assert (failed.outcome, failed.will_retry, failed.slot) == (RunOutcome.FAILED, True, 300)
    assert "503" in failed.error
    assert (succeeded.outcome, succeeded.attempt, succeeded.slot) == (RunOutcome.SUCCEEDED, 1, 300)
    assert client.hget(Keys.state(TASK), "consecutive_failures") == b"0"


def test_a_validation_error_is_never_retried(client, settings):
    class Repo(BaseModel):
        id: int

    def strict(run):
        Repo.model_validate({"id": "not a number"})

    with running_worker(client, [TaskSpec(TASK, strict)], settings):
        send(client, make_tick(slot=400))
        wait_until(lambda: runs(client))
        send(client, make_tick(slot=400))  # a failed-for-good slot does not run again either
        wait_until(lambda: len(runs(client)) == 2)
    failed, again = runs(client)
    assert (failed.outcome, failed.will_retry) == (RunOutcome.FAILED, False)
    assert "ValidationError" in failed.error
    assert again.outcome is RunOutcome.SKIPPED_DONE
    assert client.hget(Keys.state(TASK), "consecutive_failures") == b"1"


def test_a_tick_that_finds_the_lock_held_is_skipped_not_queued(client, settings):
    calls = []
    holder = TaskLock(client, TASK.value, ttl_ms=5_000)
    assert holder.acquire()
    with running_worker(client, [TaskSpec(TASK, recorder(calls))], settings):
        send(client, make_tick(slot=500))
        wait_until(lambda: runs(client))
    holder.release()
    assert calls == []
    [record] = runs(client)
    assert record.outcome is RunOutcome.SKIPPED_LOCKED
    assert client.hget(Keys.state(TASK), "skipped_locked") == b"1"


def test_paused_tasks_skip_scheduled_ticks_but_run_manual_ones(client, settings):
    calls = []
    client.sadd(Keys.PAUSED, TASK.value)
    with running_worker(client, [TaskSpec(TASK, recorder(calls))], settings):
        send(client, make_tick(slot=600))
        send(client, make_tick(slot=601, reason=TickReason.MANUAL))
        wait_until(lambda: len(runs(client)) == 2)
    assert calls == [(601, 0)]
    assert sorted(r.outcome for r in runs(client)) == [RunOutcome.SKIPPED_PAUSED, RunOutcome.SUCCEEDED]


def test_async_task_bodies_run_on_the_event_loop(client, settings):
    loops = []

    async def body(run):
        await asyncio.sleep(0.01)  # the behaviour under test: a body that awaits, not a wait for an event
        loops.append(threading.current_thread().name)
        run.count("awaited")

    with running_worker(client, [TaskSpec(TASK, body)], settings):
        send(client, make_tick(slot=700))
        wait_until(lambda: runs(client))
    [record] = runs(client)
    assert record.outcome is RunOutcome.SUCCEEDED and record.counters == {"awaited": 1}
    assert loops and "worker" not in loops[0].lower()


def test_a_message_that_is_not_a_tick_is_dropped_without_running(client, settings):
    calls = []
    with running_worker(client, [TaskSpec(TASK, recorder(calls))], settings) as broker:
        broker.get_actor(TASK.value).send({"task": "no_such_task", "slot": "x"})
        send(client, make_tick(slot=800))
        wait_until(lambda: runs(client))
    assert calls == [(800, 0)]
    assert [r.slot for r in runs(client)] == [800]


def test_a_task_fans_out_to_its_parts_which_skip_tick_handling(client, settings):
    checked = []

    def check(payload, deps):
        checked.append(payload["server"])

    def body(run):
        run.count("batches", run.fan_out("check", ({"server": f"vps-{i}"} for i in range(5))))

    spec = TaskSpec(TASK, body, parts=(PartSpec("check", check),))
    with running_worker(client, [spec], settings):
        send(client, make_tick(slot=900))
        wait_until(lambda: len(checked) == 5)
    assert sorted(checked) == [f"vps-{i}" for i in range(5)]
    [record] = runs(client)  # parts leave no run records of their own and take no lock
    assert record.outcome is RunOutcome.SUCCEEDED and record.counters == {"batches": 5}
