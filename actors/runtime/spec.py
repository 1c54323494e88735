"""``TaskSpec``: a task function and the options of the actor that runs it.

A task whose work grows with the fleet declares ``parts``: actors of their own, on a queue of
their own, that the task's run fans out to (``run.fan_out``), so that more workers give
more throughput. Parts are plain Dramatiq actors: no tick admission, no task lock (each part
guards what it touches), retries of transient errors only.

``max_retries`` is the actor's own limit on retries of transient errors; None leaves it to
the worker's ``RETRY_MAX``. A message may still carry its own (see ``actors.runtime.retry``).

A spec also says what the task needs from the environment, so that adding a task touches nothing
outside its package but its name in ``contracts`` and its line in the registry: its own settings
class, the settings of the adapters it uses, and its credentials. The worker and ``scheduler
config check`` check each settings class (``actors.configuration``): parsed, then the class's own
``configuration_problems(settings, needed_by)`` when it has one (the checks parsing cannot make).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic_settings import BaseSettings

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
    #: its own rules (``actors/tasks/<task>/settings.py``, named ``<Task>Settings``), read with
    #: ``run.deps.settings(cls)``
    settings: type[BaseSettings] | None = None
    #: the settings of the adapters it uses (``actors/adapters/<system>/``)
    adapters: tuple[type[BaseSettings], ...] = ()
    #: its credentials, in groups of variables: a task none of one group's variables is set for at
    #: all is "not configured" (no ticks, said once) rather than refused
    credentials: tuple[frozenset[str], ...] = ()
    #: actor threads its runs need in one worker, from the worker's dependencies (its settings):
    #: a worker serving it runs at least that many (``WORKER_THREADS`` above it is kept)
    threads_needed: Callable[[Any], int] | None = None

    @property
    def settings_classes(self) -> tuple[type[BaseSettings], ...]:
        """Every settings class it reads, the adapters' first."""
        return (*self.adapters, *((self.settings,) if self.settings is not None else ()))


def part_actor_name(task: TaskName, part: str) -> str:
    return f"{task.value}.{part}"


def part_queue_name(task: TaskName) -> str:
    return f"{queue_name(task)}.parts"


#: what may stand in a queue name (Dramatiq's own rule for actors' queues)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def own_queue_name(task: TaskName, process_id: str) -> str:
    """The parts queue of one worker process, e.g. ``health_checker.parts.host-4242-a1b2c3``."""
    return f"{part_queue_name(task)}.{_UNSAFE.sub('-', process_id)}"
