"""The health checker's messages: a batch of servers to check (the fan-out payload) and what
one SSH check of one server found (``ProbeResult``).

A ``ProbeResult`` holds facts (disk usage, the Docker daemon's state, containers in trouble)
and ``findings`` about the check itself (unreachable, host key mismatch, output that could
not be parsed...). Thresholds are not applied here: the health model does that.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, NonNegativeInt

from .platform import Handle, IncidentType, UtcDatetime
from .text import WritableLine

#: the incident types the health checker opens and resolves (and no other); a host key that
#: changed is ``server_unreachable`` with the reason in its details (the platform has no type for it)
HEALTH_INCIDENTS = (
    IncidentType.SERVER_UNREACHABLE,
    IncidentType.RESOURCE_EXHAUSTED,
    IncidentType.SERVICE_DOWN,
)


class HealthStatus(StrEnum):
    """A server's health as the scheduler judges it (kept in Redis: the platform has no field for it)."""

    UNKNOWN = "unknown"
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


class FindingKind(StrEnum):
    # the connection (the server is unreachable for us)
    CONNECT_REFUSED = "connect_refused"
    CONNECT_TIMEOUT = "connect_timeout"
    NETWORK_ERROR = "network_error"
    AUTH_FAILED = "auth_failed"
    SSH_ERROR = "ssh_error"
    COMMAND_TIMEOUT = "command_timeout"
    # the host key (refused; never silently accepted)
    HOST_KEY_MISMATCH = "host_key_mismatch"
    HOST_KEY_UNKNOWN = "host_key_unknown"  # neither pinned on the record nor in known_hosts
    # the answers (the check is incomplete)
    COMMAND_FAILED = "command_failed"
    UNPARSABLE_OUTPUT = "unparsable_output"
    OUTPUT_TOO_LARGE = "output_too_large"
    MOUNT_MISSING = "mount_missing"
    DOCKER_DENIED = "docker_denied"  # the SSH user may not talk to the Docker daemon


class Finding(BaseModel):
    """Something the check ran into. ``message`` is for humans: short, printable, no secrets."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: FindingKind
    message: str = Field(max_length=500)
    #: what it concerns: a command name (``df``, ``docker info``, ``docker ps``) or a mount point
    subject: str | None = Field(default=None, max_length=200)


class DiskUsage(BaseModel):
    """One filesystem as ``df -P`` shows it (sizes in 1024-byte blocks)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mount: str = Field(max_length=200)
    size_kb: NonNegativeInt
    used_kb: NonNegativeInt
    available_kb: NonNegativeInt
    capacity_pct: int = Field(ge=0, le=100)


class DockerState(StrEnum):
    RUNNING = "running"
    DOWN = "down"  # installed, but the daemon does not answer
    NOT_INSTALLED = "not_installed"
    UNKNOWN = "unknown"  # not asked (unreachable) or the answer was unreadable


class ContainerIssue(BaseModel):
    """A container that is unhealthy, restarting or dead."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(max_length=200)
    state: str = Field(max_length=40)
    status: str = Field(max_length=200)


class LoadAverage(BaseModel):
    """``/proc/loadavg``'s first three fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    m1: NonNegativeFloat
    m5: NonNegativeFloat
    m15: NonNegativeFloat


class MemoryUsage(BaseModel):
    """From ``/proc/meminfo``: ``MemTotal`` and ``MemAvailable`` (kB); used = total - available."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    total_kb: NonNegativeInt
    available_kb: NonNegativeInt

    @property
    def used_kb(self) -> int:
        return max(0, self.total_kb - self.available_kb)

    @property
    def used_pct(self) -> int:
        return 0 if not self.total_kb else min(100, -(-self.used_kb * 100 // self.total_kb))


class ProbeResult(BaseModel):
    """One SSH check of one server."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    handle: Handle
    checked_at: UtcDatetime
    duration_ms: NonNegativeInt = 0
    #: connected, host key verified and logged in
    connected: bool
    findings: list[Finding] = Field(default_factory=list)
    disks: list[DiskUsage] = Field(default_factory=list)
    docker: DockerState = DockerState.UNKNOWN
    docker_version: str | None = Field(default=None, max_length=64)
    containers_total: NonNegativeInt = 0
    containers_running: NonNegativeInt = 0
    container_issues: list[ContainerIssue] = Field(default_factory=list)
    load: LoadAverage | None = None
    uptime_s: NonNegativeFloat | None = None
    memory: MemoryUsage | None = None

    def has(self, *kinds: FindingKind) -> bool:
        return any(f.kind in kinds for f in self.findings)


class CheckTarget(BaseModel):
    """A server to check, with what the platform held for it when the tick listed it. Its host
    keys are those of ``SSH_KNOWN_HOSTS`` (the platform's Server has no field for them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    handle: Handle
    #: single lines without control characters: a NUL in a user name never reaches the SSH client
    host: WritableLine(255)  # type: ignore[valid-type]
    #: ``labels.ssh_port`` of the record, else ``SSH_PORT``
    ssh_port: int = Field(default=22, ge=1, le=65535)
    ssh_user: WritableLine(64) = "root"  # type: ignore[valid-type]
    last_health_check: UtcDatetime | None = None
    #: the server's active incidents of the health checker's types that the scheduler opened:
    #: type -> their ids (the platform does not deduplicate: there may be several)
    incidents: dict[IncidentType, list[int]] = Field(default_factory=dict)
    #: the types of which an incident someone else opened is active: none of ours is opened beside it
    foreign_incidents: list[IncidentType] = Field(default_factory=list)


class HealthCheckBatch(BaseModel):
    """The payload of one ``health_checker.check`` message: up to ``HEALTH_BATCH_SIZE`` servers,
    to be checked for ``slot`` before ``deadline`` (work that cannot finish by then is cut)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[2] = 2  # 2: targets without pinned keys or a platform health status
    slot: int
    deadline: UtcDatetime
    correlation_id: str = Field(min_length=1, max_length=128)
    servers: list[CheckTarget] = Field(min_length=1, max_length=5000)


class SlotCoverage(BaseModel):
    """What one slot of the health checker covered. ``never_checked``: servers the tick planned
    that no batch reported on at all (a worker that died mid-check, a message lost); a slot that
    ``checked`` fewer servers than ``planned`` is not ``complete``, and says so."""

    slot: int
    planned: NonNegativeInt = 0
    checked: NonNegativeInt = 0
    cut: NonNegativeInt = 0
    claimed_elsewhere: NonNegativeInt = 0
    never_checked: NonNegativeInt = 0

    @property
    def complete(self) -> bool:
        return self.checked >= self.planned

    @classmethod
    def of(cls, slot: int, stats: dict[str, int], checked: int) -> SlotCoverage:
        """From the slot's counters (``Keys.health_slot``) and its set of checked servers."""
        planned, cut, elsewhere = stats.get("servers", 0), stats.get("cut", 0), stats.get("claimed_elsewhere", 0)
        return cls(
            slot=slot,
            planned=planned,
            checked=checked,
            cut=cut,
            claimed_elsewhere=elsewhere,
            never_checked=max(0, planned - checked - cut - elsewhere),
        )


__all__ = [
    "HEALTH_INCIDENTS",
    "CheckTarget",
    "ContainerIssue",
    "DiskUsage",
    "DockerState",
    "Finding",
    "FindingKind",
    "HealthCheckBatch",
    "HealthStatus",
    "LoadAverage",
    "MemoryUsage",
    "ProbeResult",
    "SlotCoverage",
]
