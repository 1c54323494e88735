"""The platform store's SQLite tables, and how Python values map to and from their columns."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel

SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    github_repo_id INTEGER NOT NULL UNIQUE,
    name TEXT NOT NULL, full_name TEXT NOT NULL, description TEXT,
    default_branch TEXT NOT NULL, visibility TEXT NOT NULL, html_url TEXT NOT NULL,
    pushed_at TEXT, status TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS projects_by_status ON projects(status);

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

CREATE TABLE IF NOT EXISTS documents (
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    path TEXT NOT NULL, content_hash TEXT NOT NULL, updated_at TEXT NOT NULL,
    model TEXT, dimension INTEGER,  -- the embedding model of every vector of the document
    PRIMARY KEY (project_id, path)
);
CREATE TABLE IF NOT EXISTS chunks (
    project_id INTEGER NOT NULL, path TEXT NOT NULL, idx INTEGER NOT NULL,
    text TEXT NOT NULL, heading TEXT NOT NULL DEFAULT '', embedding TEXT NOT NULL,
    PRIMARY KEY (project_id, path, idx),
    FOREIGN KEY (project_id, path) REFERENCES documents(project_id, path) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS summaries (
    project_id INTEGER PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    text TEXT NOT NULL, source_hash TEXT NOT NULL, model TEXT NOT NULL, updated_at TEXT NOT NULL
);
"""

PROJECT_COLUMNS = ("id", "name", "full_name", "github_repo_id", "description", "default_branch", "visibility",
                   "html_url", "pushed_at", "status", "created_at", "updated_at")
SERVER_COLUMNS = ("handle", "host", "public_ip", "ssh_user", "ssh_key_enc", "capacity_cpu", "capacity_ram_mb",
                  "capacity_disk_mb", "used_ram_mb", "used_disk_mb", "os_template", "is_managed", "status", "notes",
                  "last_health_check", "provisioning_attempts", "provisioning_episode_id", "provisioning_started_at",
                  "last_incident", "cpu_usage_pct", "load_avg_1m", "load_avg_5m", "load_avg_15m",
                  "network_rx_errors", "network_tx_errors", "container_count_running", "container_count_total",
                  "uptime_seconds", "labels", "created_at", "updated_at")
INCIDENT_COLUMNS = ("created_at", "updated_at", "server_handle", "incident_type", "details", "affected_services", "id",
                    "status", "detected_at", "resolved_at", "recovery_attempts")
JSON_COLUMNS = frozenset({"labels", "details", "affected_services", "metrics"})
BOOL_COLUMNS = frozenset({"is_managed"})


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
        out[key] = json.loads(out[key])
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
