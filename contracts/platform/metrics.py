"""A server's health as the platform stores it: the metric columns of its Server record and
its metrics history.

- ``PATCH /api/servers/{handle}`` with ``ServerHealthUpdate``: ``last_health_check`` and the
  metric columns the platform has (load averages, uptime, running / total containers, used
  disk and RAM). The platform applies these fields and drops unknown ones silently, so ours
  forbids anything else. It strips an offset without converting it: timestamps go as UTC.
- ``POST /api/servers/{handle}/metrics-history`` with ``{"metrics": {...}}`` → 201
  ``MetricsHistoryRead`` (404 for an unknown server); ``DELETE
  /api/servers/metrics-history?retention_hours=N`` → 200 ``{"deleted": n}``: entries older
  than N hours, every server's. The platform keeps the series; pruning it is its writers' job.
- There is no health status on the platform (healthy / degraded / unhealthy): the scheduler
  keeps that in Redis.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, NonNegativeInt

from .common import Patch, UtcDatetime


class ServerHealthUpdate(Patch):
    """The health fields of ``PATCH /api/servers/{handle}``: only those set are sent."""

    nullable_fields: ClassVar[frozenset[str]] = frozenset()

    last_health_check: UtcDatetime | None = None
    load_avg_1m: NonNegativeFloat | None = None
    load_avg_5m: NonNegativeFloat | None = None
    load_avg_15m: NonNegativeFloat | None = None
    uptime_seconds: NonNegativeFloat | None = None
    container_count_running: NonNegativeInt | None = None
    container_count_total: NonNegativeInt | None = None
    used_disk_mb: NonNegativeInt | None = None
    used_ram_mb: NonNegativeInt | None = None


class ServerHealthRead(BaseModel):
    """What the health checker reads of a ``ServerRead`` (after a health PATCH, or to tell why a
    server left monitoring); the rest is the Server resource's."""

    handle: str
    status: str = ""
    is_managed: bool = True
    last_health_check: UtcDatetime | None = None


class MetricsHistoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metrics: dict[str, Any]


class MetricsHistoryRead(BaseModel):
    id: int
    server_handle: str
    recorded_at: UtcDatetime
    metrics: dict[str, Any] = Field(default_factory=dict)


class MetricsPruned(BaseModel):
    """The answer of ``DELETE /api/servers/metrics-history``."""

    deleted: NonNegativeInt = 0


__all__ = [
    "MetricsHistoryCreate",
    "MetricsHistoryRead",
    "MetricsPruned",
    "ServerHealthRead",
    "ServerHealthUpdate",
]
