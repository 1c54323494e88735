"""health_checker: SSH health of the fleet (``task.py``: the tick and its batches; ``plan.py``: the rules)."""

from actors.tasks.health_checker.task import SPEC

__all__ = ["SPEC"]
