"""The task registry: one ``TaskSpec`` per implemented task, each in a package of its own named
after it (``actors/tasks/<task>/``: settings, observe -> plan -> apply; its ``SPEC`` says what it
runs and what it needs). ``deps.py`` builds what they use.

Adding a task is its package, its name and default schedule in ``contracts`` and its line below
(``tests/test_new_task.py`` adds one that way). ``tests/test_registry.py`` holds this list to the
contract's ``IMPLEMENTED_TASKS``, which the ticker reads, and to the packages on disk.
"""

from __future__ import annotations

from actors.runtime.spec import TaskSpec
from actors.tasks import github_sync, health_checker, provisioner_trigger, rag_summarizer, server_sync
from contracts import TaskName

#: one line per task
SPECS: tuple[TaskSpec, ...] = (
    github_sync.SPEC,
    server_sync.SPEC,
    health_checker.SPEC,
    rag_summarizer.SPEC,
    provisioner_trigger.SPEC,
)

#: in the contract's order of names (``TaskName``)
TASKS: dict[TaskName, TaskSpec] = {
    spec.task: spec for spec in sorted(SPECS, key=lambda s: list(TaskName).index(s.task))
}
