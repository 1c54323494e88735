"""Pydantic models and names for everything that crosses a process boundary.

No I/O, and nothing of ours is imported here: other services may vendor this package.
"""

from __future__ import annotations

from pydantic import BaseModel

from .counters import RECORDS_FAILED
from .health import HealthCheckBatch, ProbeResult
from .heartbeat import HEARTBEAT_MISSED_BEATS, ROLES, Heartbeat
from .names import (
    DEFAULT_SCHEDULES,
    IMPLEMENTED_TASKS,
    PROVISIONER_STREAM,
    RUNS_STREAM,
    TICKS_STREAM,
    Keys,
    TaskName,
    queue_name,
)
from .platform import (
    Incident,
    IncidentCreate,
    IncidentUpdate,
    MetricsHistoryCreate,
    MetricsHistoryRead,
    Project,
    ProjectCreate,
    ProjectUpdate,
    RagIngest,
    RagIngestResult,
    RagQuery,
    RagQueryResult,
    Repository,
    RepositoryCreate,
    RepositoryUpdate,
    Server,
    ServerCreate,
    ServerHealthUpdate,
    ServerUpdate,
)
from .provisioner import ProvisionerMessage
from .ticks import RunOutcome, RunRecord, Tick, TickReason

#: Every message model, by the name its JSON Schema is exported under.
MESSAGES: dict[str, type[BaseModel]] = {
    "tick": Tick,
    "run_record": RunRecord,
    "provisioner_message": ProvisionerMessage,
    "heartbeat": Heartbeat,
    "health_check_batch": HealthCheckBatch,
    "health_probe_result": ProbeResult,
    # the platform API (paths under /api/)
    "platform_project": Project,
    "platform_project_create": ProjectCreate,
    "platform_project_update": ProjectUpdate,
    "platform_repository": Repository,
    "platform_repository_create": RepositoryCreate,
    "platform_repository_update": RepositoryUpdate,
    "platform_server": Server,
    "platform_server_create": ServerCreate,
    "platform_server_update": ServerUpdate,
    "platform_incident": Incident,
    "platform_incident_create": IncidentCreate,
    "platform_incident_update": IncidentUpdate,
    "platform_rag_ingest": RagIngest,
    "platform_rag_ingest_result": RagIngestResult,
    "platform_rag_query": RagQuery,
    "platform_rag_query_result": RagQueryResult,
    "platform_server_health_update": ServerHealthUpdate,
    "platform_metrics_history_create": MetricsHistoryCreate,
    "platform_metrics_history": MetricsHistoryRead,
}


def json_schemas() -> dict[str, dict]:
    """One JSON Schema per message, keyed by file stem."""
    return {name: model.model_json_schema() for name, model in MESSAGES.items()}


__all__ = [
    "DEFAULT_SCHEDULES",
    "HEARTBEAT_MISSED_BEATS",
    "IMPLEMENTED_TASKS",
    "MESSAGES",
    "PROVISIONER_STREAM",
    "RECORDS_FAILED",
    "ROLES",
    "RUNS_STREAM",
    "TICKS_STREAM",
    "Heartbeat",
    "Incident",
    "IncidentCreate",
    "IncidentUpdate",
    "Keys",
    "MetricsHistoryCreate",
    "MetricsHistoryRead",
    "Project",
    "ProjectCreate",
    "ProjectUpdate",
    "ProvisionerMessage",
    "RECORDS_FAILED",
    "RunOutcome",
    "RunRecord",
    "Server",
    "ServerCreate",
    "ServerHealthUpdate",
    "ServerUpdate",
    "TaskName",
    "Tick",
    "TickReason",
    "json_schemas",
    "queue_name",
]
