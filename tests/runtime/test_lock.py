"""The task lock: exclusive, renewed while held, freed by a dead holder's TTL, fenced."""

from __future__ import annotations

import signal
import time

import pytest

from actors.runtime.lock import LockLost, TaskLock, parse_holder, release_if_owner
from actors.runtime.spec import TaskSpec
from contracts import Keys, RunOutcome, TaskName
from tests.runtime.worker_tasks import slow
from tests.support import lock_value, make_tick, running_worker, runs, send, spawn, stop, wait_until

TASK = TaskName.HEALTH_CHECKER


def test_only_one_holder_and_release_is_compare_and_delete(client):
    first, second = TaskLock(client, "t", ttl_ms=400), TaskLock(client, "t", ttl_ms=400)
    assert first.acquire() and not second.acquire()
    first._stop_renewing.set()  # first stalls (a GC pause, a frozen VM)…
    wait_until(lambda: client.get(Keys.lock("t")) is None, timeout=2)
    assert second.acquire()  # …its lock expires and someone else takes it
    assert first.release() is False, "a stale holder must not free the new holder's lock"
    assert client.get(Keys.lock("t")) is not None
    assert second.release() is True and client.get(Keys.lock("t")) is None


def test_release_if_owner_deletes_only_the_keys_still_holding_our_token(client):
    client.set("claim:a", "ours")
    client.set("claim:b", "theirs")  # our claim expired and someone else took it
    client.set("claim:c", "ours")
    assert release_if_owner(client, ["claim:a", "claim:b", "claim:c", "claim:gone"], "ours") == 2
    assert client.get("claim:b") == b"theirs" and not client.exists("claim:a", "claim:c")
    assert release_if_owner(client, ["claim:a"], "ours") == 0, "twice is harmless"


def test_the_holder_is_read_from_the_locks_value(client):
    lock = TaskLock(client, "t")
    assert parse_holder(client.get(Keys.lock("t"))) is None
    assert lock.acquire()
    try:
        holder = parse_holder(client.get(Keys.lock("t")))
        assert holder["owner"] == lock.owner and set(holder) == {"owner", "id", "since"}
    finally:
        lock.release()
    # a value some other writer left is still shown, as text
    assert parse_holder(b"ops-laptop") == {"owner": "ops-laptop"}
    assert parse_holder(b'["not", "ours"]') == {"owner": '["not", "ours"]'}


def test_a_holder_that_lost_the_lock_fails_the_fencing_check(client):
    stale, fresh = TaskLock(client, "t", ttl_ms=400), TaskLock(client, "t", ttl_ms=400)
    assert stale.acquire()
    stale.check()  # holds: fine
    stale._stop_renewing.set()
    wait_until(lambda: client.get(Keys.lock("t")) is None, timeout=2)
    assert fresh.acquire() and fresh.fence == stale.fence + 1
    with pytest.raises(LockLost, match=f"our fence {stale.fence}, newest {fresh.fence}"):
        stale.check()
    fresh.check()
    fresh.release()


def until_told(run) -> None:
    """Marks its start, then works, checking its fence, until the test says it is done."""
    run.client.rpush("test:started", f"{run.tick.task.value}:{run.tick.slot}")
    wait_until(lambda: run.check_fence() or run.client.exists("test:done"), timeout=120, interval=0.05)


@pytest.mark.slow
def test_a_run_ten_times_longer_than_the_ttl_keeps_its_lock(client, settings):
    ten_ttls_s = 10 * settings.lock_ttl_ms / 1000
    with running_worker(client, [TaskSpec(TASK, until_told)], settings):
        send(client, make_tick(slot=1))
        wait_until(lambda: client.llen("test:started") == 1)
        holder = lock_value(client, TASK)
        seen = set()
        started = time.monotonic()

        def ten_ttls_watched() -> bool:  # the run's length is the behaviour under test, not a guess
            seen.add(client.get(Keys.lock(TASK)))
            return time.monotonic() - started >= ten_ttls_s

        wait_until(ten_ttls_watched, timeout=ten_ttls_s + 10, interval=0.05)
        send(client, make_tick(slot=2))  # arrives while the long run holds the lock
        wait_until(lambda: runs(client), timeout=10)
        client.set("test:done", 1)  # only now does the long run end: no race with slot 2
        wait_until(lambda: len(runs(client)) == 2, timeout=10)
    assert len(seen) == 1 and None not in seen, "one holder all along, never a gap"
    assert holder is not None and holder["owner"]
    outcomes = {r.slot: r.outcome for r in runs(client)}
    assert outcomes == {1: RunOutcome.SUCCEEDED, 2: RunOutcome.SKIPPED_LOCKED}


def test_a_run_whose_lock_was_taken_fails_its_fencing_check(client, settings, monkeypatch):
    monkeypatch.setenv("SLOW_TASK_S", "3")
    with running_worker(client, [TaskSpec(TASK, slow)], settings):
        send(client, make_tick(slot=1))
        wait_until(lambda: client.llen("test:started") == 1)
        client.delete(Keys.lock(TASK))  # e.g. an operator, or an expiry during a network split
        usurper = TaskLock(client, TASK.value, ttl_ms=5_000)
        assert usurper.acquire()
        wait_until(lambda: runs(client), timeout=5)
        usurper.release()
    [record] = runs(client)
    assert record.outcome is RunOutcome.FAILED and "LockLost" in record.error
    assert record.will_retry is False


@pytest.mark.slow
def test_a_sigkilled_holder_frees_the_lock_within_its_ttl(client, redis_url, tmp_path):
    ttl_ms = 1_500
    worker = spawn(
        "from tests.runtime.worker_tasks import main; main()",
        {"REDIS_URL": redis_url, "LOCK_TTL_MS": str(ttl_ms), "SLOW_TASK_S": "60"},
        log=tmp_path / "worker.log",
    )
    try:
        send(client, make_tick(slot=1))
        wait_until(lambda: client.llen("test:started") == 1, timeout=20)
        assert client.get(Keys.lock(TASK)) is not None
        worker.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        wait_until(lambda: client.get(Keys.lock(TASK)) is None, timeout=5, interval=0.01)
        freed_after = time.monotonic() - killed_at
    finally:
        stop(worker, signal.SIGKILL)
    assert freed_after <= ttl_ms / 1000 + 0.1
    assert TaskLock(client, TASK.value).acquire(), "the next run can take it"
