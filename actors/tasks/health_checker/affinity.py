"""Affinity: each server's checks go to the live worker that keeps its SSH connection open.

- **Owners**: the live workers (``process.heartbeats``) that serve health_checker and consume a
  checks queue of their own (``own_queue_name``: a worker of an older release has none and is
  not an owner). A server's owner is the one rendezvous hashing over the owners gives it
  (``actors.runtime.ownership``): a worker that dies or joins moves only the servers that must
  move, so the others keep their warm connections.
- **Routes**: the tick groups the servers by owner and sends each owner's batches to its queue.
  With no owner at all (every worker of an older release, or heartbeats not written) the
  batches go to the shared parts queue, as before affinity.
- **A dead owner's queue** (a worker SIGKILLed, or stopped and its unfinished messages put
  back) is consumed by nobody. Every tick, and once more ``rescue_after_s`` after it (when a
  worker that died just before the tick has been seen dead: three missed beats), its messages
  are taken out and the queue deleted, in one transaction (two sweepers never both take a
  message): the batches of the running slot are sent again, server by server, to the servers'
  new owners, so a worker killed just before a tick costs its servers nothing; batches of
  earlier slots are dropped (the slot's coverage already counts them as never checked, and
  their servers are in this slot's batches). Nothing is left to pile up: a dead owner's queue
  is emptied at every sweep for a day after it was last sent to, then forgotten.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import dramatiq
import redis.asyncio as aioredis
from pydantic import ValidationError

from actors.runtime.ownership import assign
from actors.runtime.run import send_to
from actors.runtime.spec import own_queue_name
from contracts import HEARTBEAT_MISSED_BEATS, Keys, TaskName
from contracts.health import CheckTarget, HealthCheckBatch
from process.clock import aredis_now_ms
from process.heartbeats import live_processes_async
from process.logs import get_logger

log = get_logger(__name__)

TASK = TaskName.HEALTH_CHECKER
#: how long a dead owner's queue is still emptied at each sweep after it was last sent to
FORGET_AFTER_MS = 86_400_000
#: beyond the heartbeat's expiry, before the second sweep
RESCUE_MARGIN_S = 5.0


async def owners(client: aioredis.Redis) -> tuple[dict[str, str], float]:
    """The owners' queues by process id, and after how long a worker that died now is seen dead."""
    queues, expiry = {}, 0.0
    for beat in await live_processes_async(client, "worker"):
        queue = own_queue_name(TASK, beat.id)
        if TASK.value in beat.tasks and queue in beat.queues:
            queues[beat.id] = queue
            expiry = max(expiry, beat.interval_s * HEARTBEAT_MISSED_BEATS)
    return queues, expiry + RESCUE_MARGIN_S


def routes(
    targets: Sequence[CheckTarget], owner_queues: dict[str, str], size: int
) -> list[tuple[str | None, list[CheckTarget]]]:
    """(queue, servers of one batch) for every batch: each owner's servers in batches of ``size``
    on its queue; with no owners, batches in the order given on the shared queue (None)."""
    if not owner_queues:
        return [(None, list(targets[i : i + size])) for i in range(0, len(targets), size)]
    by_handle = {t.handle: t for t in targets}
    out = []
    for owner, handles in assign((t.handle for t in targets), list(owner_queues)).items():
        mine = [by_handle[h] for h in handles]
        out += [(owner_queues[owner], mine[i : i + size]) for i in range(0, len(mine), size)]
    return out


async def remember(client: aioredis.Redis, queues: Iterable[str]) -> None:
    """The owner queues this tick sent to (so a sweep finds them once their worker is gone)."""
    now = await aredis_now_ms(client)
    mapping = dict.fromkeys(set(queues) - {None}, now)
    if mapping:
        await client.zadd(Keys.HEALTH_OWNER_QUEUES, mapping)


def _redis_keys(namespace: str, queue: str) -> list[str]:
    """Every key Dramatiq's Redis broker keeps for ``queue``: the queue, its delayed and dead-letter
    queues, each a list of ids and a hash of messages."""
    names = [queue, f"{queue}.DQ", f"{queue}.XQ"]
    return [f"{namespace}:{name}{suffix}" for name in names for suffix in ("", ".msgs")]


async def take_stranded(
    client: aioredis.Redis, live_queues: Iterable[str], namespace: str = "dramatiq"
) -> list[HealthCheckBatch]:
    """Empty the queues of owners no longer live; returns the batches they held (unreadable ones
    are logged and dropped)."""
    now = await aredis_now_ms(client)
    await client.zremrangebyscore(Keys.HEALTH_OWNER_QUEUES, "-inf", now - FORGET_AFTER_MS)
    known = [q.decode() for q in await client.zrange(Keys.HEALTH_OWNER_QUEUES, 0, -1)]
    dead = sorted(set(known) - set(live_queues))
    batches: list[HealthCheckBatch] = []
    for queue in dead:
        keys = _redis_keys(namespace, queue)
        pipe = client.pipeline(transaction=True)  # MULTI: what one sweeper takes, no other sees
        pipe.hvals(keys[1])
        pipe.hvals(keys[3])
        pipe.delete(*keys)
        waiting, delayed, _ = await pipe.execute()
        for raw in [*waiting, *delayed]:
            try:
                batches.append(HealthCheckBatch.model_validate(dramatiq.Message.decode(raw).args[0]))
            except (ValidationError, dramatiq.errors.DecodeError, IndexError, TypeError) as exc:
                log.warning("health_checker.stranded_message_dropped", queue=queue, error=type(exc).__name__)
    return batches


def still_due(batches: Iterable[HealthCheckBatch], slot: int) -> list[CheckTarget]:
    """The servers of ``slot``'s batches whose deadline is ahead: to send to their new owners."""
    now = datetime.now(UTC)
    return [t for b in batches if b.slot == slot and b.deadline > now for t in b.servers]


def send(run, routed: Sequence[tuple[str | None, dict]]) -> int:
    """Fan out each batch payload to its queue (None: the shared one); blocking (a worker thread)."""
    sent = 0
    for queue in dict.fromkeys(q for q, _ in routed):
        sent += run.fan_out("check", (p for q, p in routed if q == queue), queue)
    return sent


def schedule_rescue(run, after_s: float) -> None:
    """The second sweep of this slot, on the shared queue (any live worker takes it)."""
    actor = run.broker.get_actor(f"{TASK.value}.rescue")
    run.check_fence()
    send_to(
        run.broker,
        actor,
        {"slot": run.tick.slot, "correlation_id": run.correlation_id},
        delay_ms=int(after_s * 1000),
        correlation_id=run.correlation_id,
    )


async def rescue_stranded(payload: dict, deps) -> None:
    """The ``rescue`` part: once every worker that died before the tick is seen dead, send the
    running slot's batches stranded in their queues to the servers' new owners."""
    slot, correlation_id = int(payload["slot"]), str(payload.get("correlation_id") or "rescue")
    client = deps.aredis
    owner_queues, _ = await owners(client)
    broker = dramatiq.get_broker()
    stranded = await take_stranded(client, owner_queues.values(), getattr(broker, "namespace", "dramatiq"))
    latest = await client.zrevrange(Keys.HEALTH_SLOTS, 0, 0)
    # a later tick has planned every server again: rescuing this slot's work would only compete with it
    due = still_due(stranded, slot) if not latest or int(latest[0]) == slot else []
    if not due:
        if stranded:
            log.info("health_checker.stranded_dropped", batches=len(stranded), slot=slot)
        return
    template = next(b for b in stranded if b.slot == slot)
    size = max(len(b.servers) for b in stranded)
    routed = routes(due, owner_queues, size)
    actor = broker.get_actor(f"{TASK.value}.check")
    for queue, servers in routed:
        batch = HealthCheckBatch(
            slot=slot, deadline=template.deadline, correlation_id=template.correlation_id, servers=servers
        )
        send_to(broker, actor, batch.model_dump(mode="json"), queue, correlation_id=correlation_id)
    await remember(client, (q for q, _ in routed))
    await client.hincrby(Keys.health_slot(slot), "rescued", len(due))
    log.warning(
        "health_checker.stranded_rescued",
        servers=len(due),
        batches=len(routed),
        dropped_batches=len(stranded) - sum(1 for b in stranded if b.slot == slot),
        slot=slot,
        note="a worker died holding them; sent to the servers' new owners",
    )
