"""The task registry: one ``TaskSpec`` per implemented task, each in its own module."""

from __future__ import annotations

from contracts import TaskName

from actors.runtime.spec import TaskSpec
from actors.tasks.github_sync.task import SPEC as GITHUB_SYNC
from actors.tasks.health_checker.task import SPEC as HEALTH_CHECKER

TASKS: dict[TaskName, TaskSpec] = {
    TaskName.GITHUB_SYNC: GITHUB_SYNC,
    TaskName.HEALTH_CHECKER: HEALTH_CHECKER,
}
