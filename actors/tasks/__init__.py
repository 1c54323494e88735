"""The task registry: one ``TaskSpec`` per implemented task, each in a package of its own
(``actors/tasks/<task>/``: settings, observe -> plan -> apply). ``deps.py`` builds what they use."""

from __future__ import annotations

from actors.runtime.spec import TaskSpec
from actors.tasks import github_sync, health_checker, provisioner_trigger, rag_summarizer, server_sync
from contracts import TaskName

TASKS: dict[TaskName, TaskSpec] = {
    spec.task: spec
    for spec in (github_sync.SPEC, server_sync.SPEC, health_checker.SPEC, provisioner_trigger.SPEC, rag_summarizer.SPEC)
}
