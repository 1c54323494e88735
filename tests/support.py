"""Helpers for tests: ticks, in-process workers, reading the streams, waiting."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dramatiq
import redis
import redis.asyncio as aioredis

from actors.runtime.broker import build_broker
from actors.runtime.lock import parse_holder
from actors.runtime.spec import TaskSpec
from contracts import RUNS_STREAM, TICKS_STREAM, RunRecord, TaskName, Tick, TickReason
from process.settings import Settings
from ticker.emit import TickEmitter

ROOT = Path(__file__).resolve().parent.parent
#: the reference data nobody on this team wrote, committed with its sources (tests/fixtures/README.md)
FIXTURES = ROOT / "tests" / "fixtures"


class FakeRun:
    """What a plan's apply needs of its run, without a lock or a worker: a fence that always
    holds and the counters (``deps`` is set where the task function itself runs)."""

    correlation_id = "test-run"

    def __init__(self, deps=None):
        self.counters: Counter = Counter()
        self.deps = deps

    async def fence(self) -> None:
        pass

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


async def wait_until_async(predicate: Callable[[], Awaitable[object]], timeout: float = 10.0, interval: float = 0.005):
    """``wait_until`` on an event loop: awaits ``predicate()`` until it is true, the loop free meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


def aredis_like(client: redis.Redis) -> aioredis.Redis:
    """An asyncio client of the same server and database, for one event loop (``asyncio.run``)."""
    kwargs = client.connection_pool.connection_kwargs
    return aioredis.Redis(host=kwargs.get("host", "127.0.0.1"), port=kwargs.get("port", 6379), db=kwargs.get("db", 0))


def run_async(client: redis.Redis, body: Callable):
    """``asyncio.run(body(aredis))`` with an asyncio client of ``client``'s Redis, closed after."""

    async def go():
        aclient = aredis_like(client)
        try:
            return await body(aclient)
        finally:
            await aclient.aclose()

    return asyncio.run(go())


def make_tick(
    task: TaskName = TaskName.HEALTH_CHECKER,
    slot: int | None = None,
    *,
    deadline_in: float = 60.0,
    reason: TickReason = TickReason.SCHEDULE,
) -> Tick:
    now = datetime.now(UTC)
    slot = int(now.timestamp()) if slot is None else slot
    return Tick(
        task=task,
        slot=slot,
        scheduled_at=datetime.fromtimestamp(slot, UTC),
        deadline=now + timedelta(seconds=deadline_in),
        reason=reason,
        emitted_by="test",
    )


def send(client: redis.Redis, tick: Tick) -> None:
    TickEmitter(client).enqueue(tick)


def runs(client: redis.Redis, task: TaskName | None = None) -> list[RunRecord]:
    records = [RunRecord.model_validate_json(f[b"data"]) for _, f in client.xrange(RUNS_STREAM)]
    return [r for r in records if task is None or r.task == task]


def ticks(client: redis.Redis) -> list[tuple[int, Tick]]:
    """(stream entry time in ms by the Redis clock, tick) for every audited tick."""
    return [(int(eid.split(b"-")[0]), Tick.model_validate_json(f[b"data"])) for eid, f in client.xrange(TICKS_STREAM)]


@contextlib.contextmanager
def running_worker(
    client: redis.Redis,
    specs: Iterable[TaskSpec],
    settings: Settings,
    threads: int = 4,
    deps=None,
    process_id: str | None = None,
):
    """An in-process Dramatiq worker over our broker and middleware; runs and parts get ``deps``;
    with ``process_id`` it also consumes its own queues (parts with affinity)."""
    broker = build_broker(client, list(specs), settings, deps, process_id)
    dramatiq.set_broker(broker)
    broker.emit_after("process_boot")
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=50)
    worker.start()
    try:
        yield broker
    finally:
        worker.stop(timeout=2_000)
        broker.close()


def spawn(code: str, env: dict[str, str], *, log: Path | None = None) -> subprocess.Popen:
    """A Python process of the project (a ticker, a worker) in a session of its own."""
    return _popen([sys.executable, "-c", code], env, log)


def spawn_shell(script: str, env: dict[str, str], *, log: Path | None = None) -> subprocess.Popen:
    """A shell leading its own process group, as a Procfile dyno does."""
    return _popen(["bash", "-c", script], {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", **env}, log)


def _popen(argv: list[str], env: dict[str, str], log: Path | None) -> subprocess.Popen:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "LOG_FORMAT": "json", **env}
    out = open(log, "ab") if log else subprocess.DEVNULL
    return subprocess.Popen(
        argv,
        env=full_env,
        cwd=ROOT,
        stdout=out,
        stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stopping(log: Path) -> set[str]:
    """The processes (their loggers) that have logged, as JSON into ``log``, that they are stopping:
    a signal to stop has reached them."""
    if not log.exists():
        return set()
    return set(re.findall(r'"event": "stopping".*?"logger": "(\w+)"', log.read_text(errors="replace")))


def lock_value(client: redis.Redis, task: TaskName) -> dict | None:
    return parse_holder(client.get(f"scheduler:lock:{task.value}"))


class Clock:
    """A clock a test moves by hand (``clock.now += 60``); ``sleep`` advances it, recording the wait."""

    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
