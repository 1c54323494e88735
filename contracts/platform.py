"""The platform API the scheduler consumes (paths under ``/api/``): projects, servers,
incidents and the RAG store.

Read models (``Project``, ``Server`` ...) ignore fields they do not know, so the platform can
grow without breaking us; write models (``*Create``, ``*Update``, ...) forbid unknown fields,
so a typo is a 422 and never a silent no-op. An update carries only the fields that were set:
``model_dump(exclude_unset=True)`` (see ``Patch.changes``) is what goes on the wire.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, NonNegativeInt, model_validator

from .text import DESCRIPTION_MAX, NAME_MAX, URL_MAX, WritableLine, WritableText

#: the text fields of a project as the platform stores them (see ``contracts.text``)
Name = WritableLine(NAME_MAX)
Url = WritableLine(URL_MAX)
Description = WritableText(DESCRIPTION_MAX)

# --------------------------------------------------------------------------- shared types


def _as_utc(value: datetime) -> datetime:
    # A naive timestamp from the platform's database is UTC; everything we hold is aware.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: A timestamp, always timezone-aware UTC once validated (naive input is taken as UTC).
UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]

#: A server's identity, e.g. ``vps-12345``; it appears in URL paths, so it is path-safe.
Handle = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]

#: A pinned public host key in OpenSSH one-line format: ``ssh-ed25519 AAAA... [comment]``.
HostKey = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9@.-]* [A-Za-z0-9+/]+={0,3}( \S.*)?$")]


def server_handle(provider_id: str | int, prefix: str = "vps") -> str:
    """The handle of a provider's server: ``vps-<provider id>``."""
    return f"{prefix}-{provider_id}"


class Patch(BaseModel):
    """Base of partial updates: every field is optional, and only the fields set are sent.

    Setting a field to null is allowed only for fields listed in ``nullable_fields``: for the
    others null is not a value but a mistake, and it is refused here rather than by the server.
    """

    model_config = ConfigDict(extra="forbid")
    nullable_fields: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required_columns(self):
        bad = sorted(f for f in self.model_fields_set if getattr(self, f) is None and f not in self.nullable_fields)
        if bad:
            raise ValueError(f"may not be null: {', '.join(bad)}")
        return self

    def changes(self) -> dict[str, Any]:
        """The JSON body of the PATCH: only the fields that were set."""
        return self.model_dump(mode="json", exclude_unset=True)


# --------------------------------------------------------------------------- projects


class ProjectStatus(StrEnum):
    DISCOVERED = "discovered"
    ACTIVE = "active"
    MISSING = "missing"  # not seen in the organisation for a while; archived after N misses
    ARCHIVED = "archived"


class Visibility(StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"
    INTERNAL = "internal"


class Project(BaseModel):
    """A GitHub repository known to the platform; ``github_repo_id`` is its identity
    (names change on rename and transfer, the id does not)."""

    id: int
    name: str
    full_name: str
    github_repo_id: int
    description: str | None = None
    default_branch: str = "main"
    visibility: Visibility = Visibility.PUBLIC
    html_url: str
    pushed_at: UtcDatetime | None = None
    status: ProjectStatus
    created_at: UtcDatetime
    updated_at: UtcDatetime


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    full_name: Name
    github_repo_id: int = Field(gt=0)
    description: Description | None = None
    default_branch: Name = "main"
    visibility: Visibility = Visibility.PUBLIC
    html_url: Url
    pushed_at: UtcDatetime | None = None
    status: ProjectStatus = ProjectStatus.DISCOVERED


class ProjectUpdate(Patch):
    """The identity (``github_repo_id``) cannot change; everything else can."""

    nullable_fields: ClassVar[frozenset[str]] = frozenset({"description", "pushed_at"})

    name: Name | None = None
    full_name: Name | None = None
    description: Description | None = None
    default_branch: Name | None = None
    visibility: Visibility | None = None
    html_url: Url | None = None
    pushed_at: UtcDatetime | None = None
    status: ProjectStatus | None = None


# --------------------------------------------------------------------------- servers


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


# --------------------------------------------------------------------------- incidents


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


# --------------------------------------------------------------------------- RAG store


def _finite(vector: list[float]) -> list[float]:
    if not vector:
        raise ValueError("an embedding has at least one dimension")
    if not all(math.isfinite(x) for x in vector):
        raise ValueError("an embedding holds finite numbers only")
    return vector


Embedding = Annotated[list[float], AfterValidator(_finite)]


class DocumentChunk(BaseModel):
    index: NonNegativeInt
    text: str
    #: the chunk's heading path in its document, e.g. ``Setup > Configuration`` ("" before any heading)
    heading: str = ""
    embedding: Embedding


class ProjectDocument(BaseModel):
    """One indexed file of a project, keyed by ``path``. ``chunks`` is filled only when asked
    for (``include_chunks``); ``chunk_count`` always is. ``model`` and ``dimension`` name the
    embedding model its vectors came from (None: stored before vectors were tagged)."""

    path: str
    content_hash: str
    updated_at: UtcDatetime
    model: str | None = None
    dimension: int | None = None
    chunk_count: NonNegativeInt = 0
    chunks: list[DocumentChunk] = Field(default_factory=list)


class DocumentUpsert(BaseModel):
    """The whole document: its chunks replace any the platform held for ``path``. Every vector
    comes from one embedding ``model`` and has ``dimension`` numbers, so that vectors of two
    models are never compared (search only ranks chunks of the query's model)."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, max_length=1024)
    content_hash: str = Field(min_length=1)
    model: str = Field(min_length=1, max_length=200)
    dimension: int = Field(ge=1, le=16_384)
    chunks: list[DocumentChunk]

    @model_validator(mode="after")
    def _chunks_consistent(self):
        if [c.index for c in self.chunks] != list(range(len(self.chunks))):
            raise ValueError("chunk indexes must be 0, 1, 2, ... in order")
        if any(len(c.embedding) != self.dimension for c in self.chunks):
            raise ValueError(f"every embedding has the document's dimension ({self.dimension})")
        return self


class ChunkSearch(BaseModel):
    """``POST /api/search/chunks``: the ``k`` chunks nearest to ``vector`` (cosine), among those
    embedded by ``model`` with the vector's dimension."""

    model_config = ConfigDict(extra="forbid")

    vector: Embedding
    model: str = Field(min_length=1, max_length=200)
    k: int = Field(default=5, ge=1, le=100)


class SearchHit(BaseModel):
    project_id: int
    project: str  # the project's full_name
    path: str
    heading: str = ""
    text: str
    score: float


class ProjectSummary(BaseModel):
    """A project's summary; ``source_hash`` is the hash of the sources it was made from, so an
    unchanged project is not summarised again."""

    project_id: int
    text: str
    source_hash: str
    model: str
    updated_at: UtcDatetime


class SummaryUpsert(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: WritableText(min_length=1)  # type: ignore[valid-type]
    source_hash: str = Field(min_length=1)
    model: str = Field(min_length=1)


__all__ = [
    "PROVIDER_WIDE_INCIDENTS",
    "ChunkSearch",
    "DocumentChunk",
    "DocumentUpsert",
    "HealthReport",
    "HealthReportResult",
    "HealthStatus",
    "Incident",
    "IncidentOpen",
    "IncidentStatus",
    "IncidentType",
    "IncidentUpdate",
    "Patch",
    "Project",
    "ProjectCreate",
    "ProjectDocument",
    "ProjectStatus",
    "ProjectSummary",
    "ProjectUpdate",
    "SearchHit",
    "Server",
    "ServerCreate",
    "ServerSpecs",
    "ServerStatus",
    "ServerUpdate",
    "SummaryUpsert",
    "UtcDatetime",
    "Visibility",
    "server_handle",
]
