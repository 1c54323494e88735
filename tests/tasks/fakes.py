"""In-memory stand-ins for what a task's apply step is handed, so that plan tests apply plans with
the task's own apply code."""

from __future__ import annotations

from collections import Counter


class FakeRun:
    """A ``TaskRun`` as apply uses it: the fencing check (always held here) and the counters."""

    correlation_id = "test-run"

    def __init__(self):
        self.counters: Counter = Counter()

    async def fence(self) -> None:
        pass

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n
