"""Affinity end to end: a worker with a queue of its own gets its servers' batches and keeps their
connections; a ghost owner (a heartbeat that stops) leaves batches stranded, which the rescue sends
to the servers' new owner within the same slot; a dead owner's queue is emptied, never piling up."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import dramatiq
import pytest

from actors.runtime.ownership import assign
from actors.runtime.spec import own_queue_name
from actors.tasks.health_checker import affinity
from actors.tasks.health_checker.task import SPEC
from contracts import Keys
from contracts.health import CheckTarget, HealthCheckBatch
from process.connection import async_redis_from_url
from process.heartbeats import HeartbeatWriter, live_processes
from tests.support import make_tick, running_worker, runs, send, wait_until
from tests.tasks.health_checker.support import TASK, _slots, seed, tick

WORKER, GHOST = "host-a:101:aaaaaa", "host-b:202:bbbbbb"


def heartbeat(client, process_id: str, broker=None, interval_s: float = 5.0) -> HeartbeatWriter:
    queues = broker.get_declared_queues() if broker else [own_queue_name(TASK, process_id)]
    writer = HeartbeatWriter(
        client,
        "worker",
        release="test",
        queues=queues,
        tasks=[TASK.value],
        interval_s=interval_s,
        process_id=process_id,
    )
    writer.beat()  # one beat, no thread: it lives for three intervals
    return writer


def test_a_workers_own_queue_gets_its_servers_and_keeps_their_connections(client, settings, fleet, platform, health):
    health(health_batch_size=4)
    hosts = fleet.add_hosts(10)
    seed(platform, hosts)
    with running_worker(client, [SPEC], settings, threads=3, deps=health.deps, process_id=WORKER) as broker:
        assert own_queue_name(TASK, WORKER) in broker.get_declared_queues()
        heartbeat(client, WORKER, broker)
        first, second = tick(client), tick(client)
    record = [r for r in runs(client, TASK) if r.slot == second["slot"]][0]
    assert record.counters["owners"] == 1 and record.counters["batches"] == 3
    assert (first["checked"], second["checked"]) == (10, 10)
    assert [m.decode() for m in client.zrange(Keys.HEALTH_OWNER_QUEUES, 0, -1)] == [own_queue_name(TASK, WORKER)]
    assert all(h.counters.connections == 1 and h.counters.commands_run == 2 for h in hosts)


@pytest.mark.slow
def test_batches_stranded_with_a_dead_owner_are_checked_by_the_new_owner_in_the_same_slot(
    client, settings, fleet, platform, health
):
    health(health_batch_size=3)
    hosts = fleet.add_hosts(12)
    handles = seed(platform, hosts)
    ghost_share = set(assign(handles, [WORKER, GHOST])[GHOST])
    assert ghost_share, "the ghost owns some servers"
    with running_worker(client, [SPEC], settings, threads=3, deps=health.deps, process_id=WORKER) as broker:
        live = heartbeat(client, WORKER, broker, interval_s=1.0)
        live.start()  # beats on: the rescue waits for the longest-lived owner's expiry (3 s) + a margin
        # The ghost beats on until the tick has seen it, then stops: a single beat living 0.6 s
        # made the test a race between that expiry and how soon the run looked.
        ghost = heartbeat(client, GHOST, interval_s=0.2)
        ghost.start()
        try:  # a beating thread left behind would be an owner no later test's worker serves
            slot = next(_slots)
            send(client, make_tick(TASK, slot=slot, deadline_in=60))
            [record] = wait_until(lambda: [r for r in runs(client, TASK) if r.slot == slot], 30)
            ghost.stop()
            assert record.counters["owners"] == 2
            # the ghost's batches sit in its queue until the rescue (its heartbeat's expiry + a margin)
            checked = wait_until(
                lambda: (
                    client.smembers(Keys.health_slot_checked(slot))
                    if client.scard(Keys.health_slot_checked(slot)) == len(handles)
                    else None
                ),
                timeout=30,
            )
            assert {h.decode() for h in checked} == set(handles)
            stats = {k.decode(): int(v) for k, v in client.hgetall(Keys.health_slot(slot)).items()}
        finally:
            ghost.stop()
            live.stop()
    assert stats["rescued"] == len(ghost_share)
    assert live_processes(client, "worker") == []  # the ghost expired, the worker stopped cleanly
    ghost_queue = own_queue_name(TASK, GHOST)
    assert not client.exists(*affinity._redis_keys("dramatiq", ghost_queue))  # emptied, not left to pile up


def test_a_tick_drops_a_dead_owners_batches_of_an_earlier_slot(client, settings):
    queue = own_queue_name(TASK, GHOST)
    old = HealthCheckBatch(
        slot=1,
        deadline=datetime.now(UTC) - timedelta(seconds=1),
        correlation_id="c",
        servers=[CheckTarget(handle="vps-1", host="127.1.0.1")],
    )
    broker = dramatiq.brokers.redis.RedisBroker(client=client)
    actor = dramatiq.actor(
        lambda payload: None, broker=broker, actor_name="health_checker.check", queue_name="health_checker.parts"
    )
    for _ in range(3):
        broker.enqueue(actor.message(old.model_dump(mode="json")).copy(queue_name=queue))
    asyncio.run(_remember_and_take(settings, queue))
    assert not client.exists(*affinity._redis_keys("dramatiq", queue))
    assert client.zscore(Keys.HEALTH_OWNER_QUEUES, queue) is not None  # still watched, for a day


async def _remember_and_take(settings, queue):
    aclient = async_redis_from_url(settings.redis_url, settings)
    try:
        await affinity.remember(aclient, [queue])
        taken = await affinity.take_stranded(aclient, live_queues=[])
        assert len(taken) == 3 and affinity.still_due(taken, slot=1) == []  # past its deadline: dropped
        assert await affinity.take_stranded(aclient, live_queues=[]) == []  # nothing twice
    finally:
        await aclient.aclose()


def test_without_owners_batches_go_to_the_shared_queue_in_order():
    targets = [CheckTarget(handle=f"vps-{i}", host="127.1.0.1") for i in range(7)]
    assert [(q, [t.handle for t in s]) for q, s in affinity.routes(targets, {}, 3)] == [
        (None, ["vps-0", "vps-1", "vps-2"]),
        (None, ["vps-3", "vps-4", "vps-5"]),
        (None, ["vps-6"]),
    ]
    owned = affinity.routes(targets, {WORKER: "q-a", GHOST: "q-b"}, 3)
    shares = assign([t.handle for t in targets], [WORKER, GHOST])
    for queue, owner in (("q-a", WORKER), ("q-b", GHOST)):
        assert [t.handle for q, s in owned if q == queue for t in s] == shares[owner]
        assert all(len(s) <= 3 for q, s in owned)
