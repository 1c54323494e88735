"""provisioner_trigger: stuck servers -> provisioner:queue (``task.py``: observe -> apply; ``plan.py``: the rules)."""

from actors.tasks.provisioner_trigger.task import SPEC

__all__ = ["SPEC"]
