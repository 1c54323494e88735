"""Servers: machines at a provider, and their health."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
)

from .common import Handle, HostKey, Patch, UtcDatetime


class ServerStatus(StrEnum):
    DISCOVERED = "discovered"
    PENDING_SETUP = "pending_setup"
    PROVISIONING = "provisioning"
    READY = "ready"
    IN_USE = "in_use"
    ERROR = "error"
    UNREACHABLE = "unreachable"
    RESERVED = "reserved"  # at the provider, but not ours to provision or check (not on the allowlist)
    DECOMMISSIONED = "decommissioned"
    MISSING = "missing"  # gone from the provider's listing; nothing is deleted, and it comes back if listed again


class HealthStatus(StrEnum):
    UNKNOWN = "unknown"
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


class ServerSpecs(BaseModel):
    cpu_cores: NonNegativeInt | None = None
    ram_mb: NonNegativeInt | None = None
    disk_gb: NonNegativeInt | None = None
    os: str | None = None


class Server(BaseModel):
    """A machine at a provider; ``handle`` is its identity."""

    handle: Handle
    provider: str
    provider_id: str
    host: str  # the address the health checker connects to over SSH
    public_ip: str | None = None
    ssh_port: int = Field(default=22, ge=1, le=65535)
    ssh_user: str = "root"
    is_managed: bool
    status: ServerStatus
    specs: ServerSpecs = Field(default_factory=ServerSpecs)
    health_status: HealthStatus = HealthStatus.UNKNOWN
    last_health_check: UtcDatetime | None = None
    ssh_host_keys: list[HostKey] = Field(default_factory=list)
    created_at: UtcDatetime
    updated_at: UtcDatetime


class ServerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    handle: Handle
    provider: str = Field(default="time4vps", min_length=1)
    provider_id: str = Field(min_length=1)
    host: str = Field(min_length=1)
    public_ip: str | None = None
    ssh_port: int = Field(default=22, ge=1, le=65535)
    ssh_user: str = Field(default="root", min_length=1)
    is_managed: bool = False
    status: ServerStatus = ServerStatus.DISCOVERED
    specs: ServerSpecs = Field(default_factory=ServerSpecs)
    health_status: HealthStatus = HealthStatus.UNKNOWN
    ssh_host_keys: list[HostKey] = Field(default_factory=list)


class ServerUpdate(Patch):
    """The identity (``handle``, ``provider``, ``provider_id``) cannot change. ``specs`` and
    ``ssh_host_keys`` are replaced as a whole."""

    nullable_fields: ClassVar[frozenset[str]] = frozenset({"public_ip", "last_health_check"})

    host: str | None = Field(default=None, min_length=1)
    public_ip: str | None = None
    ssh_port: int | None = Field(default=None, ge=1, le=65535)
    ssh_user: str | None = Field(default=None, min_length=1)
    is_managed: bool | None = None
    status: ServerStatus | None = None
    specs: ServerSpecs | None = None
    health_status: HealthStatus | None = None
    last_health_check: UtcDatetime | None = None
    ssh_host_keys: list[HostKey] | None = None


class HealthReport(BaseModel):
    """One server's health as of ``checked_at``; a report older than the one the platform
    already holds is ignored (``stale``), so out-of-order workers cannot roll health back."""

    model_config = ConfigDict(extra="forbid")

    handle: Handle
    health_status: HealthStatus
    checked_at: UtcDatetime


class HealthReportResult(BaseModel):
    """The answer to a batch of health reports."""

    received: NonNegativeInt
    updated: NonNegativeInt  # health status or check time changed
    stale: NonNegativeInt = 0  # older than the server's last_health_check: ignored
    unknown_handles: list[str] = Field(default_factory=list)


__all__ = [
    "HealthReport",
    "HealthReportResult",
    "HealthStatus",
    "Server",
    "ServerCreate",
    "ServerSpecs",
    "ServerStatus",
    "ServerUpdate",
]
