"""``TaskSpec``: a task function and the options of the actor that runs it.

A task whose work grows with the fleet declares ``parts``: actors of their own, on a queue of
their own, that the task's run fans out to (``run.fan_out``), so that more workers give
more throughput. Parts are plain Dramatiq actors: no tick admission, no task lock (each part
guards what it touches), retries of transient errors only.

``max_retries`` is the actor's own limit on retries of transient errors; None leaves it to
the worker's ``RETRY_MAX``. A message may still carry its own (see ``actors.runtime.retry``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from actors.runtime.run import TaskRun
from contracts import TaskName, queue_name
from contracts.platform import PlatformNeed

#: a task body: ``def f(run)`` or ``async def f(run)``; it counts into ``run.counters`` and reaches
#: the outside world through ``run.deps``
TaskFunction = Callable[[TaskRun], Awaitable[None] | None]
#: a part body: ``def f(payload, deps)`` or ``async def f(payload, deps)``, payload a JSON dict
PartFunction = Callable[[dict, Any], Awaitable[None] | None]


@dataclass(frozen=True)
class PartSpec:
    name: str
    fn: PartFunction
    time_limit_ms: int = 5 * 60_000
    max_retries: int | None = None
    #: each worker also consumes a queue of its own for this part (``own_queue_name``), so a
    #: task can send an item's work to the worker that holds its state (kept connections)
    affinity: bool = False


@dataclass(frozen=True)
class TaskSpec:
    task: TaskName
    fn: TaskFunction
    #: Dramatiq's TimeLimit interrupts a run that exceeds this
    time_limit_ms: int = 10 * 60_000
    max_retries: int | None = None
    parts: tuple[PartSpec, ...] = field(default_factory=tuple)
    #: the routes and fields of the platform API it uses, checked against the platform's
    #: /openapi.json once at worker start (actors.adapters.platform.compat)
    platform_needs: tuple[PlatformNeed, ...] = field(default_factory=tuple)


def part_actor_name(task: TaskName, part: str) -> str:
    return f"{task.value}.{part}"


def part_queue_name(task: TaskName) -> str:
    return f"{queue_name(task)}.parts"


#: what may stand in a queue name (Dramatiq's own rule for actors' queues)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def own_queue_name(task: TaskName, process_id: str) -> str:
    """The parts queue of one worker process, e.g. ``health_checker.parts.host-4242-a1b2c3``."""
    return f"{part_queue_name(task)}.{_UNSAFE.sub('-', process_id)}"
