"""The task registry and the contract's list of implemented tasks never drift apart: the
ticker (which may not import actors) ticks exactly the tasks the workers have actors for."""

from actors.tasks import TASKS
from contracts import IMPLEMENTED_TASKS


def test_every_implemented_task_has_an_actor_and_no_other_has():
    assert set(TASKS) == IMPLEMENTED_TASKS
