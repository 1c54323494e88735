"""server_sync: the Time4VPS account -> Server records (``task.py``: observe -> apply; ``plan.py``: the rules)."""

from actors.tasks.server_sync.task import SPEC

__all__ = ["SPEC"]
