"""The task registry: one ``TaskSpec`` per implemented task, each in its own module."""

from __future__ import annotations

from contracts import TaskName

from ..spec import TaskSpec

TASKS: dict[TaskName, TaskSpec] = {}
