"""The task registry and the contract's list of implemented tasks never drift apart: the
ticker (which may not import actors) ticks exactly the tasks the workers have actors for, and
every task package is one of them."""

from actors.tasks import TASKS
from contracts import IMPLEMENTED_TASKS
from tests.support import ROOT


def test_every_implemented_task_has_an_actor_and_no_other_has():
    assert set(TASKS) == IMPLEMENTED_TASKS
    assert all(spec.task is task for task, spec in TASKS.items())


def test_every_task_package_is_registered():
    packages = {p.parent.name for p in (ROOT / "actors" / "tasks").glob("*/__init__.py")}
    assert packages == {task.value for task in TASKS}
