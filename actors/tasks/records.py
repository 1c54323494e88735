"""Per-record isolation: one record's failed write is that record's failure, never the run's.

Every task that writes records one by one writes them through ``RecordWrites``::

    writes = RecordWrites(run, "github_sync")
    if await writes.write(lambda: platform.update_project(pid, changes), "update", repo_id=repo_id):
        run.count("updates")

- each write is preceded by the fencing check (a run that lost its lock writes nothing more);
- a failure that concerns every write (``concerns_every_write``: a refused credential) is raised,
  and the run fails;
- any other exception — a refusal of that record (404/409/422), a 5xx or malformed answer, a
  value the platform cannot store, a bug tripped by one odd value — is logged once
  (``<task>.record_failed``: what, the record's ids, the error; never the record's values),
  counted in ``records_failed`` (the run's outcome becomes ``partial``) and the run goes on; the
  record is planned again, so tried again, at the next run;
- ``MAX_UNAVAILABLE_IN_A_ROW`` writes in a row that found the API unavailable: the API is down,
  not one record, so that error is raised and the run fails (and is retried) rather than spend
  its time on every remaining record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from actors.adapters.platform.client import PlatformUnavailable, concerns_every_write
from contracts import RECORDS_FAILED
from process.logs import get_logger

log = get_logger(__name__)

MAX_UNAVAILABLE_IN_A_ROW = 5


class Progress(Protocol):
    """What writing needs of its run: the fencing check and the counters (``TaskRun`` is one)."""

    async def fence(self) -> None: ...

    def count(self, name: str, n: int = 1) -> None: ...


class RecordWrites:
    def __init__(self, run: Progress, task: str):
        self.run, self.task = run, task
        self.failed = 0
        self._unavailable_in_a_row = 0

    async def write(self, call: Callable[[], Awaitable[object]], what: str, **ids: object) -> bool:
        """Fence, then ``await call()``; whether it was written (see the module's rules)."""
        await self.run.fence()
        try:
            await call()
        except Exception as exc:
            if concerns_every_write(exc):
                raise
            self._unavailable_in_a_row = self._unavailable_in_a_row + 1 if isinstance(exc, PlatformUnavailable) else 0
            if self._unavailable_in_a_row >= MAX_UNAVAILABLE_IN_A_ROW:
                raise
            self.failed += 1
            self.run.count(RECORDS_FAILED)
            log.warning(
                f"{self.task}.record_failed",
                what=what,
                **ids,
                error_type=type(exc).__name__,
                status=getattr(exc, "status", None),
                error=str(exc)[:300],
                note="this record only; tried again at the next run",
            )
            return False
        self._unavailable_in_a_row = 0
        return True
