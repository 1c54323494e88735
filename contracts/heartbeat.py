"""The heartbeat every ticker, worker (and web) process keeps in Redis while it lives.

Why: who is running, which release and version, and which queues and tasks are served is a
question an operator (``scheduler status``, the dashboard) asks of Redis, not of a process
manager; and the ticker asks it too, to tell a fleet starting from nothing from one ticker
joining others (the startup epoch).

Storage (the key names are in ``names.Keys``): one string per process,
``Keys.heartbeat(id)`` = this model's JSON, with a TTL of ``HEARTBEAT_MISSED_BEATS`` intervals;
and one sorted set per role, ``Keys.heartbeats(role)``, member = process id, score = the
entry's expiry in epoch milliseconds by the Redis clock, so a reader lists the live ones
with one ZRANGEBYSCORE and no SCAN. Readers drop index members whose score has passed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field, field_validator

Role = Literal["ticker", "worker", "web"]
#: every role, in the order ``scheduler status`` lists them
ROLES: tuple[Role, ...] = ("ticker", "worker", "web")
#: beats a process may miss before its heartbeat expires
HEARTBEAT_MISSED_BEATS = 3


class Heartbeat(BaseModel):
    role: Role
    #: unique per process: ``host:pid:short-random`` (a pid is reused across containers)
    id: str = Field(min_length=1)
    host: str
    pid: int
    #: the release the process runs (``RELEASE_ID`` and the like; ``local`` when none is set)
    release: str
    #: the installed package's version
    version: str
    #: the Dramatiq queues a worker consumes; empty for a ticker
    queues: list[str] = []
    #: the tasks a worker serves (configured, so it can run them) / a ticker schedules
    tasks: list[str] = []
    started_at: AwareDatetime
    #: when the latest beat was written, by the Redis server's clock
    last_seen: AwareDatetime
    #: seconds between beats; the entry expires after ``HEARTBEAT_MISSED_BEATS`` of them
    interval_s: float = Field(gt=0)

    @field_validator("started_at", "last_seen")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @property
    def expires_at(self) -> datetime:
        """When this entry stops counting as alive unless another beat comes."""
        return self.last_seen + timedelta(seconds=self.interval_s * HEARTBEAT_MISSED_BEATS)
