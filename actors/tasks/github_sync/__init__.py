"""github_sync: org repositories -> Project records (``task.py``: observe -> apply; ``plan.py``: the rules)."""

from actors.tasks.github_sync.task import SPEC

__all__ = ["SPEC"]
