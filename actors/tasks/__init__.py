"""The task registry: one ``TaskSpec`` per implemented task, each in a package of its own named
after it (``actors/tasks/<task>/``: settings, observe -> plan -> apply; its ``SPEC`` says what it
runs and what it needs). ``deps.py`` builds what they use.

The registry is the contract's list of implemented tasks (``contracts.IMPLEMENTED_TASKS``, which
the ticker reads too), each imported by its name: adding a task is its package and its name and
default schedule in ``contracts``, with nothing to list here (``tests/test_new_task.py`` adds one
that way). The imports are by name rather than written out so that the two lists cannot drift;
import-linter still checks every task package (each is a module of this layer, and "Tasks never
import each other" names them by a wildcard).
"""

from __future__ import annotations

from importlib import import_module

from actors.runtime.spec import TaskSpec
from contracts import IMPLEMENTED_TASKS, TaskName


def _spec(task: TaskName) -> TaskSpec:
    spec = import_module(f"{__name__}.{task.value}").SPEC
    if spec.task is not task:
        raise ImportError(f"actors.tasks.{task.value} exports the spec of {spec.task.value}")
    return spec


#: in the contract's order of names (``TaskName``)
TASKS: dict[TaskName, TaskSpec] = {task: _spec(task) for task in TaskName if task in IMPLEMENTED_TASKS}
