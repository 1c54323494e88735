"""The task registry: one ``TaskSpec`` per implemented task, each in its own module."""

from __future__ import annotations

from contracts import TaskName

from ..spec import TaskSpec
from .github_sync import SPEC as GITHUB_SYNC
from .health_checker import SPEC as HEALTH_CHECKER

TASKS: dict[TaskName, TaskSpec] = {
    TaskName.GITHUB_SYNC: GITHUB_SYNC,
    TaskName.HEALTH_CHECKER: HEALTH_CHECKER,
}
