"""The platform store's SQLite tables, and how Python values map to and from their columns."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    telegram_id INTEGER NOT NULL UNIQUE, username TEXT, first_name TEXT, last_name TEXT,
    is_admin INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL, updated_at TEXT, last_seen TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY,  -- a UUID, as text
    title TEXT NOT NULL, slug TEXT NOT NULL UNIQUE, status TEXT NOT NULL,
    config TEXT NOT NULL, owner_id INTEGER NOT NULL REFERENCES users(id),
    project_spec TEXT, initiating_run_id TEXT,
    created_at TEXT NOT NULL, updated_at TEXT
);
CREATE INDEX IF NOT EXISTS projects_by_status ON projects(status);

-- As on the platform: provider_repo_id is not unique (by-provider-id answers 500 when two
-- share one), and ``status`` (active|missing) is a column no request or response carries.
CREATE TABLE IF NOT EXISTS repositories (
    id TEXT PRIMARY KEY,  -- repo-<8 hex>
    project_id TEXT NOT NULL REFERENCES projects(id),
    name TEXT NOT NULL, git_url TEXT NOT NULL, provider_repo_id INTEGER,
    role TEXT NOT NULL, visibility TEXT NOT NULL, is_managed INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'active', acceptance_criteria TEXT, bot_username TEXT,
    seq INTEGER NOT NULL,  -- creation order (newest first in listings), ties of created_at broken
    created_at TEXT NOT NULL, updated_at TEXT
);
CREATE INDEX IF NOT EXISTS repositories_by_project ON repositories(project_id);
CREATE INDEX IF NOT EXISTS repositories_by_provider_id ON repositories(provider_repo_id);

CREATE TABLE IF NOT EXISTS servers (
    -- the platform's columns (its ServerRead is these, plus provider_id read from labels)
    handle TEXT PRIMARY KEY, host TEXT NOT NULL, public_ip TEXT NOT NULL,
    ssh_user TEXT NOT NULL DEFAULT 'root', ssh_key_enc TEXT,
    capacity_cpu INTEGER NOT NULL DEFAULT 1, capacity_ram_mb INTEGER NOT NULL DEFAULT 1024,
    capacity_disk_mb INTEGER NOT NULL DEFAULT 10240,
    used_ram_mb INTEGER NOT NULL DEFAULT 0, used_disk_mb INTEGER NOT NULL DEFAULT 0,
    os_template TEXT, is_managed INTEGER NOT NULL DEFAULT 1, status TEXT NOT NULL DEFAULT 'discovered',
    notes TEXT, last_health_check TEXT,
    provisioning_attempts INTEGER NOT NULL DEFAULT 0, provisioning_episode_id TEXT,
    provisioning_started_at TEXT, last_incident TEXT,
    cpu_usage_pct REAL, load_avg_1m REAL, load_avg_5m REAL, load_avg_15m REAL,
    network_rx_errors INTEGER, network_tx_errors INTEGER,
    container_count_running INTEGER, container_count_total INTEGER, uptime_seconds REAL,
    labels TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS servers_by_status ON servers(status, is_managed);

CREATE TABLE IF NOT EXISTS incidents (
    -- as the platform's: no uniqueness at all (it does not deduplicate); an unknown server is
    -- a foreign-key error (its 500); timestamps naive UTC as it answers them
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    server_handle TEXT REFERENCES servers(handle),
    incident_type TEXT NOT NULL, status TEXT NOT NULL, details TEXT NOT NULL,
    affected_services TEXT NOT NULL DEFAULT '[]', recovery_attempts INTEGER NOT NULL DEFAULT 0,
    detected_at TEXT NOT NULL, resolved_at TEXT, created_at TEXT NOT NULL, updated_at TEXT
);
CREATE INDEX IF NOT EXISTS incidents_by_status ON incidents(status);
CREATE INDEX IF NOT EXISTS incidents_by_server ON incidents(server_handle);

CREATE TABLE IF NOT EXISTS server_metrics_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    server_handle TEXT NOT NULL REFERENCES servers(handle),
    recorded_at TEXT NOT NULL, metrics TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_history_by_server ON server_metrics_history(server_handle, recorded_at);
CREATE INDEX IF NOT EXISTS metrics_history_by_time ON server_metrics_history(recorded_at);

-- RAG, as the platform keeps it: a document per (user, project, scope, source_type, source_id),
-- its chunks with their vectors (JSON arrays here; vector(512) there). No foreign keys to
-- projects or users: the ingest checks them first and answers 404, as the platform does.
CREATE TABLE IF NOT EXISTS rag_documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER, project_id TEXT, scope TEXT NOT NULL,
    source_type TEXT NOT NULL, source_id TEXT NOT NULL, source_uri TEXT, source_hash TEXT,
    source_updated_at TEXT, language TEXT, title TEXT, body TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS rag_documents_identity
    ON rag_documents(ifnull(user_id, 0), ifnull(project_id, ''), scope, source_type, source_id);
CREATE TABLE IF NOT EXISTS rag_chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id INTEGER NOT NULL REFERENCES rag_documents(id) ON DELETE CASCADE,
    user_id INTEGER, project_id TEXT, scope TEXT NOT NULL,
    chunk_index INTEGER NOT NULL, chunk_text TEXT NOT NULL, token_count INTEGER NOT NULL,
    embedding TEXT NOT NULL, embedding_model TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rag_chunks_by_document ON rag_chunks(document_id);
CREATE INDEX IF NOT EXISTS rag_chunks_by_project ON rag_chunks(project_id, scope);
CREATE INDEX IF NOT EXISTS rag_chunks_by_user ON rag_chunks(user_id, scope);
"""

PROJECT_COLUMNS = (
    "id",
    "title",
    "slug",
    "status",
    "config",
    "owner_id",
    "project_spec",
    "initiating_run_id",
    "created_at",
    "updated_at",
)
USER_COLUMNS = (
    "id",
    "telegram_id",
    "username",
    "first_name",
    "last_name",
    "is_admin",
    "created_at",
    "updated_at",
    "last_seen",
)
REPOSITORY_COLUMNS = (
    "id",
    "project_id",
    "name",
    "git_url",
    "provider_repo_id",
    "role",
    "visibility",
    "is_managed",
    "acceptance_criteria",
    "bot_username",
    "created_at",
    "updated_at",
)
SERVER_COLUMNS = (
    "handle",
    "host",
    "public_ip",
    "ssh_user",
    "ssh_key_enc",
    "capacity_cpu",
    "capacity_ram_mb",
    "capacity_disk_mb",
    "used_ram_mb",
    "used_disk_mb",
    "os_template",
    "is_managed",
    "status",
    "notes",
    "last_health_check",
    "provisioning_attempts",
    "provisioning_episode_id",
    "provisioning_started_at",
    "last_incident",
    "cpu_usage_pct",
    "load_avg_1m",
    "load_avg_5m",
    "load_avg_15m",
    "network_rx_errors",
    "network_tx_errors",
    "container_count_running",
    "container_count_total",
    "uptime_seconds",
    "labels",
    "created_at",
    "updated_at",
)
INCIDENT_COLUMNS = (
    "created_at",
    "updated_at",
    "server_handle",
    "incident_type",
    "details",
    "affected_services",
    "id",
    "status",
    "detected_at",
    "resolved_at",
    "recovery_attempts",
)
JSON_COLUMNS = frozenset({"labels", "details", "config", "project_spec", "affected_services", "metrics"})
BOOL_COLUMNS = frozenset({"is_managed", "is_admin"})


def timestamp(value: datetime | None = None) -> str:
    """UTC, fixed width: stored text sorts in time order, so SQLite can compare it."""
    value = datetime.now(UTC) if value is None else value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_column(value: Any) -> Any:
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, BaseModel):
        return json.dumps(value.model_dump(mode="json"), sort_keys=True)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Enum):
        return value.value
    return value


def from_row(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    for key in out.keys() & JSON_COLUMNS:
        out[key] = None if out[key] is None else json.loads(out[key])
    for key in out.keys() & BOOL_COLUMNS:
        out[key] = bool(out[key])
    return out


def in_clause(column: str, values: list | None) -> tuple[str, list]:
    if not values:
        return "", []
    return f"{column} IN ({', '.join('?' * len(values))})", [to_column(v) for v in values]


def where_clause(*clauses: tuple[str, list]) -> tuple[str, list]:
    parts = [c for c, _ in clauses if c]
    params = [p for _, ps in clauses for p in ps]
    return (" WHERE " + " AND ".join(parts) if parts else ""), params
