"""The Redis broker, its middleware, and one actor per task."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

import dramatiq
import redis
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import (
    AsyncIO,
    CurrentMessage,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)

from actors.runtime.middleware import RunRecording, TaskLocking, TickAdmission
from actors.runtime.middleware.admission import run_of
from actors.runtime.middleware.pings import DeadManPings, ping_urls
from actors.runtime.retry import retry_when
from actors.runtime.spec import PartSpec, TaskSpec, own_queue_name, part_actor_name, part_queue_name
from contracts import queue_name
from process.settings import Settings


def build_broker(
    client: redis.Redis, tasks: Iterable[TaskSpec], settings: Settings, deps: Any = None, process_id: str | None = None
) -> RedisBroker:
    """A broker on ``client`` with our middleware and an actor for each task spec; every run and
    part is handed ``deps``, the worker process's dependencies object. With ``process_id`` (a
    worker's), the queue of its own of every part with affinity is declared, so it consumes it."""
    broker = RedisBroker(client=client, middleware=[])
    for middleware in (
        AsyncIO(),
        CurrentMessage(),
        RunRecording(client),
        TickAdmission(client, deps),
        TaskLocking(client, ttl_ms=settings.lock_ttl_ms),
        # after the lock: only admitted, locked runs ping; a no-op without PING_URL_<TASK>
        DeadManPings(ping_urls()),
        # Interrupts (time limit, shutdown) are armed after our before-hooks and disarmed
        # before our after-hooks, so the lock and the run record are never cut halfway.
        TimeLimit(),
        ShutdownNotifications(notify_shutdown=True),
        Retries(
            max_retries=settings.retry_max,
            min_backoff=settings.retry_min_backoff_ms,
            max_backoff=settings.retry_max_backoff_ms,
            retry_when=retry_when(broker, settings.retry_max),
        ),
    ):
        broker.add_middleware(middleware)
    for spec in tasks:
        declare_task(broker, spec, deps)
        for part in spec.parts:
            if part.affinity and process_id is not None:
                broker.declare_queue(own_queue_name(spec.task, process_id))
    return broker


def _call(fn, *arguments) -> None:
    """Run a sync body here, or an async one on Dramatiq's event loop thread."""
    if inspect.iscoroutinefunction(fn):
        get_event_loop_thread().run_coroutine(fn(*arguments))
    else:
        fn(*arguments)


def _retry_options(max_retries: int | None) -> dict:
    # An actor without a limit of its own falls back to the worker's RETRY_MAX (retry.py).
    return {} if max_retries is None else {"max_retries": max_retries}


def declare_task(broker: RedisBroker, spec: TaskSpec, deps: Any = None) -> dramatiq.Actor:
    """One actor per task, on the task's own queue. Its body runs the task function with the
    TaskRun the middleware admitted, then makes the fencing check: a run that lost its
    lock while it ran fails rather than pass as a success."""

    def run_task(tick_data: dict) -> None:
        # Dramatiq hands an actor its message's arguments only; the run TickAdmission made rides
        # on the message itself, which Dramatiq's CurrentMessage gives the actor's thread.
        run = run_of(CurrentMessage.get_current_message())
        if run is None:
            raise RuntimeError("a tick without its run: the tick middleware is not installed")
        _call(spec.fn, run)
        run.check_fence()

    run_task.__name__ = spec.task.value
    for part in spec.parts:
        declare_part(broker, spec, part, deps)
    return dramatiq.actor(
        run_task,
        broker=broker,
        actor_name=spec.task.value,
        queue_name=queue_name(spec.task),
        time_limit=spec.time_limit_ms,
        scheduler_task=True,
        **_retry_options(spec.max_retries),
    )


def declare_part(broker: RedisBroker, spec: TaskSpec, part: PartSpec, deps: Any = None) -> dramatiq.Actor:
    def run_part(payload: dict) -> None:
        _call(part.fn, payload, deps)

    run_part.__name__ = part_actor_name(spec.task, part.name)
    return dramatiq.actor(
        run_part,
        broker=broker,
        actor_name=part_actor_name(spec.task, part.name),
        queue_name=part_queue_name(spec.task),
        time_limit=part.time_limit_ms,
        **_retry_options(part.max_retries),
    )
