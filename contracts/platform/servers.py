"""Servers: machines at a provider, as the platform's ``/api/servers/`` has them.

The platform's ``ServerRead`` has no provider, port, specs, health status or host keys. What we
track of those lives where the platform can hold it:

- the provider's id is ``labels.provider_id`` (the platform's own ``provider_id`` is read from
  there), the provider's name is ``labels.provider`` (``LABEL_PROVIDER``);
- the SSH port, where it is not the default, is ``labels.ssh_port`` (``LABEL_SSH_PORT``);
- specs are ``capacity_cpu``, ``capacity_ram_mb``, ``capacity_disk_mb`` and ``os_template``;
- health is ``last_health_check`` and the metrics columns (and incidents); there is no status.

Read model: strict where the scheduler's decisions depend on it (``handle``, ``status`` in the
platform's fourteen values, ``is_managed``), tolerant of every field it does not know. Write
models forbid unknown fields. On ``PATCH`` the platform strips a timestamp's offset instead of
converting it, so ``ServerUpdate`` sends timestamps as naive UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
)

from .common import Handle, Patch, UtcDatetime

#: ``labels`` keys the scheduler reads or writes
LABEL_PROVIDER = "provider"
LABEL_PROVIDER_ID = "provider_id"
LABEL_SSH_PORT = "ssh_port"

#: the platform's integer columns are 32-bit (``capacity_*``, ``used_*``, container counts)
INT32_MAX = 2**31 - 1
#: ``network_*_errors`` are 64-bit
INT64_MAX = 2**63 - 1

Int32 = Annotated[int, Field(ge=0, le=INT32_MAX)]
Int64 = Annotated[int, Field(ge=0, le=INT64_MAX)]
Gauge = Annotated[float, Field(ge=0)]

#: ``ssh_user`` as the platform validates it
SshUser = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z_][a-z0-9_-]*$")]

#: a column of ``String(255)`` (host, public_ip)
Address = Annotated[str, Field(min_length=1, max_length=255)]


def _naive_utc(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat()


#: An aware timestamp that goes on the wire as naive UTC (``PATCH /api/servers/{handle}`` strips
#: an offset rather than converting it).
NaiveUtcOut = Annotated[UtcDatetime, PlainSerializer(_naive_utc, return_type=str, when_used="json")]


def _text_or_none(value: Any) -> Any:
    # labels.provider_id may have been written as a number by another client
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class ServerStatus(StrEnum):
    """The platform's ``ServerStatus``, all fourteen values."""

    DISCOVERED = "discovered"
    NEW = "new"
    PENDING_SETUP = "pending_setup"
    PROVISIONING = "provisioning"
    FORCE_REBUILD = "force_rebuild"
    READY = "ready"
    IN_USE = "in_use"
    ACTIVE = "active"
    ERROR = "error"
    UNREACHABLE = "unreachable"
    MAINTENANCE = "maintenance"
    RESERVED = "reserved"  # at the provider, but not ours to provision or check (not on the allowlist)
    MISSING = "missing"  # gone from the provider's listing; nothing is deleted, and it comes back if listed again
    DECOMMISSIONED = "decommissioned"


#: the metrics columns (``PATCH`` writes them; ``ServerRead`` returns them)
METRIC_FIELDS = (
    "cpu_usage_pct",
    "load_avg_1m",
    "load_avg_5m",
    "load_avg_15m",
    "network_rx_errors",
    "network_tx_errors",
    "container_count_running",
    "container_count_total",
    "uptime_seconds",
)


class Server(BaseModel):
    """``ServerRead``: a machine the platform knows; ``handle`` is its identity."""

    model_config = ConfigDict(extra="ignore")

    handle: Handle
    host: str
    public_ip: str
    ssh_user: str = "root"
    is_managed: bool = True
    status: ServerStatus
    labels: dict[str, Any] = Field(default_factory=dict)
    provider_id: Annotated[str | None, BeforeValidator(_text_or_none)] = None
    notes: str | None = None

    capacity_cpu: int = 1
    capacity_ram_mb: int = 1024
    capacity_disk_mb: int = 10240
    used_ram_mb: int = 0
    used_disk_mb: int = 0
    os_template: str | None = None
    provisioning_started_at: UtcDatetime | None = None

    cpu_usage_pct: float | None = None
    load_avg_1m: float | None = None
    load_avg_5m: float | None = None
    load_avg_15m: float | None = None
    network_rx_errors: int | None = None
    network_tx_errors: int | None = None
    container_count_running: int | None = None
    container_count_total: int | None = None
    uptime_seconds: float | None = None
    last_health_check: UtcDatetime | None = None

    created_at: UtcDatetime
    updated_at: UtcDatetime | None = None

    @field_validator("labels", mode="before")
    @classmethod
    def _null_labels(cls, value: Any) -> Any:
        return {} if value is None else value

    @property
    def provider(self) -> str | None:
        """``labels.provider``: the provider's name, as we write it (``time4vps``)."""
        value = self.labels.get(LABEL_PROVIDER)
        return value if isinstance(value, str) and value else None

    @property
    def ssh_port(self) -> int | None:
        """``labels.ssh_port`` when it holds a port (1-65535), else None (the default applies)."""
        value = self.labels.get(LABEL_SSH_PORT)
        if isinstance(value, bool):
            return None
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdecimal():
            value = int(value.strip())
        return value if isinstance(value, int) and 1 <= value <= 65535 else None

    @property
    def last_changed(self) -> datetime:
        """When the record last changed (``updated_at``, else ``created_at``)."""
        return self.updated_at or self.created_at


class ServerCreate(BaseModel):
    """``POST /api/servers/``. The platform ignores ``capacity_disk_mb`` and ``notes`` on create, so
    they are not here: set them with a ``ServerUpdate`` afterwards. No ``ssh_key``: the scheduler
    never holds a server's private key."""

    model_config = ConfigDict(extra="forbid")

    handle: Handle
    host: Address
    public_ip: Address
    ssh_user: SshUser = "root"
    capacity_cpu: Int32 = 1
    capacity_ram_mb: Int32 = 1024
    is_managed: bool  # no default: the platform's is True, ours would be False; say which
    status: ServerStatus = ServerStatus.DISCOVERED
    labels: dict[str, Any] = Field(default_factory=dict)


class ServerUpdate(Patch):
    """``PATCH /api/servers/{handle}``: the fields the platform applies, and only those (it drops any
    other silently, so a field it would drop is refused here). ``labels`` replaces the labels
    whole; ``provider_id`` sets ``labels.provider_id`` in the labels the platform holds (or in the
    ``labels`` sent with it). The handle cannot change."""

    nullable_fields: ClassVar[frozenset[str]] = frozenset(
        {"notes", "os_template", "provisioning_started_at", "last_health_check", "provider_id", *METRIC_FIELDS}
    )

    host: Address | None = None
    public_ip: Address | None = None
    ssh_user: SshUser | None = None
    status: ServerStatus | None = None
    is_managed: bool | None = None
    labels: dict[str, Any] | None = None
    provider_id: str | None = Field(default=None, min_length=1)
    notes: str | None = None

    capacity_cpu: Int32 | None = None
    capacity_ram_mb: Int32 | None = None
    capacity_disk_mb: Int32 | None = None
    used_ram_mb: Int32 | None = None
    used_disk_mb: Int32 | None = None
    os_template: Annotated[str, Field(max_length=100)] | None = None
    provisioning_started_at: NaiveUtcOut | None = None

    cpu_usage_pct: Gauge | None = None
    load_avg_1m: Gauge | None = None
    load_avg_5m: Gauge | None = None
    load_avg_15m: Gauge | None = None
    network_rx_errors: Int64 | None = None
    network_tx_errors: Int64 | None = None
    container_count_running: Int32 | None = None
    container_count_total: Int32 | None = None
    uptime_seconds: Gauge | None = None
    last_health_check: NaiveUtcOut | None = None


__all__ = [
    "INT32_MAX",
    "LABEL_PROVIDER",
    "LABEL_PROVIDER_ID",
    "LABEL_SSH_PORT",
    "METRIC_FIELDS",
    "Server",
    "ServerCreate",
    "ServerStatus",
    "ServerUpdate",
]
