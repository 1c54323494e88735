"""What the benchmarks share: the machine they ran on, their Redis, one run of a real task function
under a real lock, and the ratio column. Imported by the scripts beside it (``bench/`` is put on
``sys.path`` by running them)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime

import redis

from actors.runtime.lock import TaskLock
from actors.runtime.run import TaskRun
from actors.runtime.spec import TaskFunction
from actors.tasks.deps import Dependencies
from contracts import TaskName, Tick, TickReason
from process.embedded import EmbeddedRedis


def machine() -> str:
    """Cores and load at start: every figure depends on them, and these machines are shared."""
    one, five, fifteen = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {one:.2f} {five:.2f} {fifteen:.2f} at start; the machine is shared"


@contextlib.contextmanager
def bench_redis() -> Iterator[tuple[str, redis.Redis, str]]:
    """(url, client, what it is): ``REDIS_URL`` if set, else an embedded redis-server, stopped after."""
    embedded = None if os.environ.get("REDIS_URL") else EmbeddedRedis().start()
    url = embedded.url if embedded else os.environ["REDIS_URL"]
    client = redis.Redis.from_url(url)
    try:
        yield url, client, "embedded redis-server" if embedded else "REDIS_URL"
    finally:
        client.close()
        if embedded:
            embedded.close()


def run_task_once(
    fn: TaskFunction, task: TaskName, client: redis.Redis, deps: Dependencies, slot: int, lock_name: str
) -> dict:
    """One run of ``fn`` as a worker would make it (a tick, the task lock, the dependencies); its counters."""
    now = datetime.now(UTC)
    tick = Tick(task=task, slot=slot, scheduled_at=now, deadline=now, reason=TickReason.MANUAL, emitted_by="bench")
    lock = TaskLock(client, lock_name, ttl_ms=30_000)
    assert lock.acquire()
    run = TaskRun(tick=tick, client=client, correlation_id=f"bench-{slot}", lock=lock, deps=deps)

    async def one_run():
        try:
            await fn(run)
        finally:
            await deps.aclose()

    try:
        asyncio.run(one_run())
    finally:
        lock.release()
    return dict(run.counters)


def ratio(naive: float, ours: float) -> str:
    if ours == 0:
        return "∞" if naive else "="
    return f"{naive / ours:.0f}×" if naive / ours >= 10 else f"{naive / ours:.1f}×"
