"""``TaskRun``: what a task function is given — its tick, its lock's fence, its counters."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis

from contracts import RunOutcome, Tick

from .lock import TaskLock

_current = threading.local()


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

    def check_fence(self) -> None:
        """Call before each write: raises LockLost if another run now holds the task's lock."""
        if self.lock is None:
            raise RuntimeError("a task run without its lock")
        self.lock.check()

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n


def set_current_run(run: TaskRun | None) -> None:
    _current.run = run


def current_run() -> TaskRun:
    """The run the middleware admitted for the message this worker thread is processing."""
    run = getattr(_current, "run", None)
    if run is None:
        raise RuntimeError("no task run on this thread: the tick middleware is not installed")
    return run
