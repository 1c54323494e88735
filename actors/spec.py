"""``TaskSpec``: a task function and the options of the actor that runs it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from contracts import TaskName

from .run import TaskRun

#: a task body: ``def f(run)`` or ``async def f(run)``; it counts into ``run.counters``
TaskFunction = Callable[[TaskRun], Awaitable[None] | None]


@dataclass(frozen=True)
class TaskSpec:
    task: TaskName
    fn: TaskFunction
    #: Dramatiq's TimeLimit interrupts a run that exceeds this
    time_limit_ms: int = 10 * 60_000
    max_retries: int = 5
