"""The messages of the scheduler's own runtime: ticks and run records."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt

from .names import TaskName


class TickReason(StrEnum):
    SCHEDULE = "schedule"
    CATCH_UP = "catch_up"
    STARTUP = "startup"
    MANUAL = "manual"


class Tick(BaseModel):
    """One scheduled (task, slot): the message a ticker sends to the task's actor.

    ``slot`` is the slot's start as integer epoch seconds (UTC): the id every replica agrees
    on. A worker drops a tick received after ``deadline``; retries keep the same slot.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    task: TaskName
    slot: int
    scheduled_at: datetime
    deadline: datetime
    reason: TickReason
    #: how many earlier slots this catch-up tick stands for (0 for a normal tick)
    missed: NonNegativeInt = 0
    emitted_by: str = Field(description="host:pid of the ticker (or 'cli') that emitted it")


class RunOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    #: the run finished, but ``counters["records_failed"]`` records failed (``contracts.counters``)
    PARTIAL = "partial"
    FAILED = "failed"
    SKIPPED_LOCKED = "skipped_locked"
    SKIPPED_PAUSED = "skipped_paused"
    SKIPPED_DONE = "skipped_done"
    EXPIRED = "expired"
    ABANDONED = "abandoned"


class RunRecord(BaseModel):
    """What happened to one tick, appended to ``scheduler:runs``."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    task: TaskName
    slot: int
    reason: TickReason
    outcome: RunOutcome
    started_at: datetime
    finished_at: datetime
    attempt: NonNegativeInt = 0
    counters: dict[str, int] = Field(default_factory=dict)
    error: str | None = None
    #: a failed attempt that Dramatiq will retry (same slot) after a backoff
    will_retry: bool = False
    worker: str = ""
    fence: int | None = None

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()
