"""Atomic tick emission: claim + enqueue + audit, and Dramatiq consuming what we wrote."""

from __future__ import annotations

import threading

import pytest
import redis

from actors.runtime.spec import TaskSpec
from contracts import Keys, RunOutcome, TaskName, TickReason
from tests.support import make_tick, running_worker, runs, ticks, wait_until
from ticker.emit import TickEmitter


def test_only_one_of_two_claims_of_a_slot_wins(client):
    emitter = TickEmitter(client)
    tick = make_tick(slot=1000)
    assert emitter.claim(tick, None) is True
    assert emitter.claim(tick, None) is False  # a second replica with the same view
    assert emitter.claim(make_tick(slot=1001), 1000) is True
    assert emitter.claim(make_tick(slot=1001), 1000) is False
    assert [t.slot for _, t in ticks(client)] == [1000, 1001]
    assert client.llen("dramatiq:scheduler.health_checker") == 2
    assert int(client.hget(Keys.LAST_SLOT, "health_checker")) == 1001


def test_many_concurrent_claimers_emit_each_slot_once(client, redis_url):
    def claimer():
        own = redis.Redis.from_url(redis_url)
        emitter = TickEmitter(own)
        for slot in range(1, 41):
            emitter.claim(make_tick(slot=slot), slot - 1 if slot > 1 else None)
        own.close()

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    emitted = [t.slot for _, t in ticks(client)]
    assert sorted(emitted) == list(range(1, 41)), "every slot exactly once"
    assert client.llen("dramatiq:scheduler.health_checker") == 40


def test_a_failing_write_leaves_nothing_claimed_and_the_slot_is_emitted_later(client):
    """The fault sits between claim and enqueue: the queue key cannot take the message."""
    emitter = TickEmitter(client)
    client.set("dramatiq:scheduler.health_checker", "not a list")
    with pytest.raises(redis.ResponseError, match="tick not emitted"):
        emitter.claim(make_tick(slot=2000), None)
    assert client.hget(Keys.LAST_SLOT, "health_checker") is None, "not claimed"
    assert ticks(client) == [] and client.hlen("dramatiq:scheduler.health_checker.msgs") == 0
    client.delete("dramatiq:scheduler.health_checker")
    assert emitter.claim(make_tick(slot=2000), None) is True
    assert [t.slot for _, t in ticks(client)] == [2000]


def test_a_paused_task_advances_without_emitting(client):
    emitter = TickEmitter(client)
    assert emitter.claim(make_tick(slot=10), None, enqueue=False)
    assert ticks(client) == [] and not client.exists("dramatiq:scheduler.health_checker")
    assert int(client.hget(Keys.LAST_SLOT, "health_checker")) == 10


def test_startup_tick_is_emitted_once_per_release(client):
    emitter = TickEmitter(client)
    tick = make_tick(TaskName.PROVISIONER_TRIGGER, reason=TickReason.STARTUP)
    assert emitter.claim_release(tick, "v41") is True
    assert emitter.claim_release(tick, "v41") is False  # a restart, or another replica
    assert emitter.claim_release(tick, "v42") is True  # the next deploy
    assert len(ticks(client)) == 2


def test_dramatiq_runs_what_the_emitter_enqueued(client, settings):
    seen = []
    spec = TaskSpec(TaskName.GITHUB_SYNC, lambda run: seen.append((run.tick.slot, run.tick.reason)))
    with running_worker(client, [spec], settings):
        TickEmitter(client).claim(make_tick(TaskName.GITHUB_SYNC, slot=3000), None)
        wait_until(lambda: runs(client))  # one at a time: together, one would find the lock held
        TickEmitter(client).enqueue(make_tick(TaskName.GITHUB_SYNC, slot=3001, reason=TickReason.MANUAL))
        wait_until(lambda: len(runs(client)) == 2)
    assert sorted(seen) == [(3000, TickReason.SCHEDULE), (3001, TickReason.MANUAL)]
    assert {r.outcome for r in runs(client)} == {RunOutcome.SUCCEEDED}
