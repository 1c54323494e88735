"""Incidents as the platform's API has them (``/api/incidents/``).

- Six types (``IncidentType``); a changed host key is ``server_unreachable`` with the reason in
  ``details`` (the platform has no type of its own for it).
- The platform does **not** deduplicate: two ``POST /api/incidents/`` make two active incidents.
  Whoever opens one checks first that none of that (server, type) is active (the scheduler's
  opener: ``actors/tasks/incidents.py``).
- ``server_handle`` is null only for ``provider_api_unavailable`` (a check constraint on the
  platform; an unknown handle is a 500 there, a foreign-key error).
- ``PATCH /api/incidents/{id}`` applies ``status``, ``resolved_at``, ``details`` and
  ``recovery_attempts``; ``{"status": "resolved"}`` alone leaves ``resolved_at`` null, so our
  ``IncidentUpdate`` refuses a resolution without it.
- ``details`` is free JSON; the incidents the scheduler opens carry ``opened_by = "scheduler"``
  (``OPENED_BY_SCHEDULER``), and the scheduler resolves no incident without that mark.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from .common import Handle, Patch, UtcDatetime


class IncidentType(StrEnum):
    SERVER_UNREACHABLE = "server_unreachable"
    PROVISIONING_FAILED = "provisioning_failed"
    SERVICE_DOWN = "service_down"
    RESOURCE_EXHAUSTED = "resource_exhausted"
    SSL_EXPIRING = "ssl_expiring"
    PROVIDER_API_UNAVAILABLE = "provider_api_unavailable"


#: Incident types that concern a whole provider rather than one server (``server_handle`` null).
PROVIDER_WIDE_INCIDENTS = frozenset({IncidentType.PROVIDER_API_UNAVAILABLE})


class IncidentStatus(StrEnum):
    DETECTED = "detected"
    RECOVERING = "recovering"
    RESOLVED = "resolved"
    FAILED = "failed"


#: what ``GET /api/incidents/active`` answers: the incidents still open
ACTIVE_INCIDENT_STATUSES = frozenset({IncidentStatus.DETECTED, IncidentStatus.RECOVERING})

#: ``details["opened_by"]`` of every incident the scheduler opens: the ones it may resolve
OPENED_BY = "opened_by"
OPENED_BY_SCHEDULER = "scheduler"


class Incident(BaseModel):
    """``IncidentRead``: the platform's incident. Several may be active for one (server, type)
    (the platform does not deduplicate)."""

    id: int
    server_handle: str | None = None  # null only for provider-wide incidents
    incident_type: IncidentType
    status: IncidentStatus
    details: dict[str, Any] = Field(default_factory=dict)
    affected_services: list[str] = Field(default_factory=list)
    detected_at: UtcDatetime
    resolved_at: UtcDatetime | None = None
    recovery_attempts: int = 0
    created_at: UtcDatetime
    updated_at: UtcDatetime | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_INCIDENT_STATUSES

    @property
    def opened_by_scheduler(self) -> bool:
        return self.details.get(OPENED_BY) == OPENED_BY_SCHEDULER


#: the platform's name for the read model
IncidentRead = Incident


class IncidentCreate(BaseModel):
    """``POST /api/incidents/`` (201). Not idempotent on the platform: see the module docstring."""

    model_config = ConfigDict(extra="forbid")

    server_handle: Handle | None = None
    incident_type: IncidentType
    details: dict[str, Any] = Field(default_factory=dict)
    affected_services: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _server_handle_unless_provider_wide(self):
        if self.server_handle is None and self.incident_type not in PROVIDER_WIDE_INCIDENTS:
            raise ValueError(f"a {self.incident_type} incident needs a server_handle")
        if self.server_handle is not None and self.incident_type in PROVIDER_WIDE_INCIDENTS:
            raise ValueError(f"a {self.incident_type} incident concerns a provider: no server_handle")
        return self


class IncidentUpdate(Patch):
    """``PATCH /api/incidents/{id}``. ``details`` is replaced as a whole. Resolving needs
    ``resolved_at`` here: the platform does not stamp it (``{"status": "resolved"}`` alone
    leaves it null); it is sent as UTC (the platform converts an offset)."""

    nullable_fields: ClassVar[frozenset[str]] = frozenset()

    status: IncidentStatus | None = None
    resolved_at: UtcDatetime | None = None
    details: dict[str, Any] | None = None
    recovery_attempts: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _resolved_at_with_resolution(self):
        if self.status is IncidentStatus.RESOLVED and self.resolved_at is None:
            raise ValueError("resolving an incident needs resolved_at (the platform leaves it null otherwise)")
        if self.resolved_at is not None and self.status is not IncidentStatus.RESOLVED:
            raise ValueError("resolved_at is set only together with status 'resolved'")
        return self


__all__ = [
    "ACTIVE_INCIDENT_STATUSES",
    "Incident",
    "IncidentCreate",
    "IncidentRead",
    "IncidentStatus",
    "IncidentType",
    "IncidentUpdate",
    "OPENED_BY",
    "OPENED_BY_SCHEDULER",
    "PROVIDER_WIDE_INCIDENTS",
]
