"""``TaskRun``: what a task function is given — its tick, its dependencies, its lock's fence,
its counters."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis

from actors.runtime.lock import TaskLock
from contracts import RunOutcome, Tick


@dataclass
class TaskRun:
    tick: Tick
    client: redis.Redis
    correlation_id: str
    attempt: int = 0
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    lock: TaskLock | None = None
    #: set by the middleware that skips the message, or after the run from its result
    outcome: RunOutcome | None = None
    counters: Counter = field(default_factory=Counter)
    recorded: bool = False
    broker: Any = None
    #: the worker process's dependencies object (``actors.tasks.deps.Dependencies``), bound to this
    #: run's correlation id
    deps: Any = None

    def fan_out(self, part: str, payloads: Iterable[dict], queue: str | None = None) -> int:
        """Enqueue one message per payload for the task's ``part`` actor, on its queue or on
        ``queue`` (a worker's own, ``spec.own_queue_name``); returns how many."""
        actor = self.broker.get_actor(f"{self.tick.task.value}.{part}")
        sent = 0
        for payload in payloads:
            self.check_fence()  # a run that lost its lock must not fan out more work
            send_to(self.broker, actor, payload, queue, correlation_id=self.correlation_id)
            sent += 1
        return sent

    def check_fence(self) -> None:
        """Call before each write: raises LockLost if another run now holds the task's lock."""
        if self.lock is None:
            raise RuntimeError("a task run without its lock")
        self.lock.check()

    async def fence(self) -> None:
        """``check_fence`` for async task bodies: its Redis round trip runs off the event loop."""
        await asyncio.to_thread(self.check_fence)

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n


def send_to(
    broker: Any, actor: Any, payload: dict, queue: str | None = None, *, delay_ms: int | None = None, **options
) -> None:
    """Send ``payload`` to ``actor``, on its own queue or on ``queue`` (any worker consuming
    ``queue`` runs it: the message names its actor), at once or after ``delay_ms``."""
    message = actor.message_with_options(args=(payload,), **options)
    if queue is not None:
        message = message.copy(queue_name=queue)
    broker.enqueue(message, delay=delay_ms)
