"""Incidents the scheduler opens and resolves."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from .common import Handle, Patch, UtcDatetime


class IncidentType(StrEnum):
    SERVER_UNREACHABLE = "server_unreachable"
    RESOURCE_EXHAUSTED = "resource_exhausted"
    SERVICE_DOWN = "service_down"
    HOST_KEY_MISMATCH = "host_key_mismatch"
    PROVIDER_API_UNAVAILABLE = "provider_api_unavailable"
    PROVISIONING_FAILED = "provisioning_failed"


#: Incident types that concern a whole provider rather than one server (``server_handle`` null).
PROVIDER_WIDE_INCIDENTS = frozenset({IncidentType.PROVIDER_API_UNAVAILABLE})


class IncidentStatus(StrEnum):
    DETECTED = "detected"
    RECOVERING = "recovering"
    RESOLVED = "resolved"


class Incident(BaseModel):
    """At most one incident per (server_handle, incident_type) is active (not resolved)."""

    id: int
    server_handle: str | None = None  # null only for provider-wide incidents
    incident_type: IncidentType
    status: IncidentStatus
    details: dict[str, Any] = Field(default_factory=dict)
    detected_at: UtcDatetime
    resolved_at: UtcDatetime | None = None


class IncidentOpen(BaseModel):
    """Opening is idempotent: if an active incident of this type exists for this server, the
    platform answers it (200) instead of creating another (201)."""

    model_config = ConfigDict(extra="forbid")

    server_handle: Handle | None = None
    incident_type: IncidentType
    details: dict[str, Any] = Field(default_factory=dict)
    detected_at: UtcDatetime | None = None  # the platform's clock when omitted

    @model_validator(mode="after")
    def _provider_wide_only_without_server(self):
        if self.server_handle is None and self.incident_type not in PROVIDER_WIDE_INCIDENTS:
            raise ValueError(f"a {self.incident_type} incident needs a server_handle")
        return self


class IncidentUpdate(Patch):
    """Moves an incident along: detected ⇄ recovering → resolved (terminal). ``details`` is
    replaced as a whole; resolving without ``resolved_at`` stamps the platform's clock."""

    status: IncidentStatus | None = None
    details: dict[str, Any] | None = None
    resolved_at: UtcDatetime | None = None

    @model_validator(mode="after")
    def _resolved_at_only_when_resolving(self):
        if self.resolved_at is not None and self.status != IncidentStatus.RESOLVED:
            raise ValueError("resolved_at is set only together with status 'resolved'")
        return self


__all__ = [
    "Incident",
    "IncidentOpen",
    "IncidentStatus",
    "IncidentType",
    "IncidentUpdate",
    "PROVIDER_WIDE_INCIDENTS",
]
