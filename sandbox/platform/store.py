"""The platform's database: ``PlatformStore`` over SQLite, and plausible sample rows to seed it."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np

from contracts.platform import (
    ChunkSearch,
    DocumentUpsert,
    HealthReport,
    HealthReportResult,
    IncidentOpen,
    IncidentStatus,
    IncidentType,
    IncidentUpdate,
    Patch,
    ProjectCreate,
    ProjectStatus,
    ProjectUpdate,
    ServerCreate,
    ServerSpecs,
    ServerStatus,
    ServerUpdate,
    SummaryUpsert,
    server_handle,
)

from sandbox.platform.schema import (
    PROJECT_COLUMNS,
    SCHEMA,
    SERVER_COLUMNS,
    from_row,
    in_clause,
    timestamp,
    to_column,
    where_clause,
)


class NotFound(Exception):
    """Answered as 404."""


class Conflict(Exception):
    """Answered as 409."""


class PlatformStore:
    """The platform's database, in SQLite (a file path or ``":memory:"``).

    One connection per store, guarded by a lock (the app thread and a test thread may both use
    it). Writes run in ``BEGIN IMMEDIATE`` transactions, so several stores on one file (several
    app instances, several "platform replicas") serialise their writes instead of racing.
    """

    def __init__(self, path: str = ":memory:"):
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA foreign_keys = ON")
        if path != ":memory:":
            self._db.execute("PRAGMA journal_mode = WAL")  # readers never wait for the writer
            self._db.execute("PRAGMA synchronous = NORMAL")
        with self._lock:  # one transaction, so stores opening one new file at once agree on it
            self._db.executescript(f"BEGIN IMMEDIATE; {SCHEMA} COMMIT;")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def execute_sql(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        """Test back door: write what the API would refuse (e.g. a status from a newer platform)."""
        with self._write() as db:
            return [dict(row) for row in db.execute(sql, tuple(params)).fetchall()]

    def _one(self, db: sqlite3.Connection, sql: str, params: tuple, missing: str) -> dict[str, Any]:
        row = db.execute(sql, params).fetchone()
        if row is None:
            raise NotFound(missing)
        return from_row(row)

    def _patch(self, db, table: str, key: str, current: dict[str, Any], changes: Patch,
               stamp: str | None = "updated_at") -> dict[str, Any]:
        """Apply only the fields that differ; an update that changes nothing writes nothing."""
        new = {name: to_column(getattr(changes, name)) for name in changes.model_fields_set}
        stored = {name: to_column(current[name]) for name in new}
        diff = {name: value for name, value in new.items() if value != stored[name]}
        if not diff:
            return current
        if stamp:
            diff[stamp] = timestamp()
        assignments = ", ".join(f"{name} = ?" for name in diff)
        row = db.execute(f"UPDATE {table} SET {assignments} WHERE {key} = ? RETURNING *",
                         (*diff.values(), current[key])).fetchone()
        return from_row(row)

    # ---------------------------------------------------------------- projects

    def list_projects(self, statuses: list[ProjectStatus] | None = None) -> list[dict[str, Any]]:
        where, params = where_clause(in_clause("status", statuses))
        with self._read() as db:
            return [from_row(r) for r in db.execute(f"SELECT * FROM projects{where} ORDER BY id", params)]

    def get_project(self, project_id: int) -> dict[str, Any]:
        with self._read() as db:
            return self._one(db, "SELECT * FROM projects WHERE id = ?", (project_id,),
                             f"project {project_id} not found")

    def create_project(self, project: ProjectCreate) -> dict[str, Any]:
        return self.bulk_insert_projects([project])[0]

    def bulk_insert_projects(self, projects: Iterable[ProjectCreate]) -> list[dict[str, Any]]:
        """Insert many in one transaction; all or nothing (409 on a duplicate github_repo_id)."""
        now = timestamp()
        columns = [c for c in PROJECT_COLUMNS if c != "id"]
        sql = (f"INSERT INTO projects ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
               "RETURNING *")
        out = []
        with self._write() as db:
            for project in projects:
                values = {**project.model_dump(), "created_at": now, "updated_at": now}
                try:
                    row = db.execute(sql, [to_column(values[c]) for c in columns]).fetchone()
                except sqlite3.IntegrityError:
                    raise Conflict(f"a project with github_repo_id {project.github_repo_id} exists") from None
                out.append(from_row(row))
        return out

    def update_project(self, project_id: int, changes: ProjectUpdate) -> dict[str, Any]:
        with self._write() as db:
            current = self._one(db, "SELECT * FROM projects WHERE id = ?", (project_id,),
                                f"project {project_id} not found")
            return self._patch(db, "projects", "id", current, changes)

    # ---------------------------------------------------------------- servers

    def list_servers(self, statuses: list[ServerStatus] | None = None,
                     is_managed: bool | None = None) -> list[dict[str, Any]]:
        managed = ("is_managed = ?", [int(is_managed)]) if is_managed is not None else ("", [])
        where, params = where_clause(in_clause("status", statuses), managed)
        with self._read() as db:
            return [from_row(r) for r in db.execute(f"SELECT * FROM servers{where} ORDER BY handle", params)]

    def get_server(self, handle: str) -> dict[str, Any]:
        with self._read() as db:
            return self._one(db, "SELECT * FROM servers WHERE handle = ?", (handle,), f"server {handle!r} not found")

    def create_server(self, server: ServerCreate) -> dict[str, Any]:
        return self.bulk_insert_servers([server])[0]

    def bulk_insert_servers(self, servers: Iterable[ServerCreate]) -> list[dict[str, Any]]:
        """Insert many in one transaction; all or nothing (409 on a duplicate handle or provider id)."""
        now = timestamp()
        columns = SERVER_COLUMNS
        sql = f"INSERT INTO servers ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) RETURNING *"
        out = []
        with self._write() as db:
            for server in servers:
                values = {**server.model_dump(), "specs": server.specs, "last_health_check": None,
                          "created_at": now, "updated_at": now}
                try:
                    row = db.execute(sql, [to_column(values[c]) for c in columns]).fetchone()
                except sqlite3.IntegrityError:
                    raise Conflict(f"server {server.handle!r} or {server.provider} id "
                                   f"{server.provider_id!r} exists") from None
                out.append(from_row(row))
        return out

    def update_server(self, handle: str, changes: ServerUpdate) -> dict[str, Any]:
        with self._write() as db:
            current = self._one(db, "SELECT * FROM servers WHERE handle = ?", (handle,),
                                f"server {handle!r} not found")
            return self._patch(db, "servers", "handle", current, changes)

    def report_health(self, reports: Iterable[HealthReport]) -> HealthReportResult:
        """One transaction for the batch; a report not newer than the stored check is stale."""
        received = updated = stale = 0
        unknown: list[str] = []
        now = timestamp()
        with self._write() as db:
            for report in reports:
                received += 1
                checked_at = timestamp(report.checked_at)
                cursor = db.execute(
                    "UPDATE servers SET health_status = ?, last_health_check = ?, updated_at = ? "
                    "WHERE handle = ? AND (last_health_check IS NULL OR last_health_check < ?)",
                    (report.health_status.value, checked_at, now, report.handle, checked_at))
                if cursor.rowcount:
                    updated += 1
                elif db.execute("SELECT 1 FROM servers WHERE handle = ?", (report.handle,)).fetchone():
                    stale += 1
                else:
                    unknown.append(report.handle)
        return HealthReportResult(received=received, updated=updated, stale=stale, unknown_handles=unknown)

    # ---------------------------------------------------------------- incidents

    def list_incidents(self, statuses: list[IncidentStatus] | None = None, server_handle: str | None = None,
                       incident_type: IncidentType | None = None) -> list[dict[str, Any]]:
        where, params = where_clause(
            in_clause("status", statuses),
            ("server_handle = ?", [server_handle]) if server_handle is not None else ("", []),
            ("incident_type = ?", [incident_type.value]) if incident_type is not None else ("", []),
        )
        with self._read() as db:
            return [from_row(r) for r in db.execute(f"SELECT * FROM incidents{where} ORDER BY id", params)]

    def open_incident(self, incident: IncidentOpen) -> tuple[dict[str, Any], bool]:
        """The active incident for (server, type) and whether this call created it.

        ``ON CONFLICT ... DO NOTHING`` against the partial unique index is what makes this safe
        when two platform replicas open the same incident at once.
        """
        handle, kind = incident.server_handle, incident.incident_type.value
        with self._write() as db:
            if handle is not None and not db.execute("SELECT 1 FROM servers WHERE handle = ?", (handle,)).fetchone():
                raise NotFound(f"server {handle!r} not found")
            row = db.execute(
                "INSERT INTO incidents (server_handle, incident_type, status, details, detected_at) "
                "VALUES (?, ?, 'detected', ?, ?) "
                "ON CONFLICT (ifnull(server_handle, ''), incident_type) WHERE status != 'resolved' DO NOTHING "
                "RETURNING *",
                (handle, kind, to_column(incident.details), timestamp(incident.detected_at)),
            ).fetchone()
            if row is not None:
                return from_row(row), True
            existing = db.execute(
                "SELECT * FROM incidents WHERE ifnull(server_handle, '') = ? AND incident_type = ? "
                "AND status != 'resolved'", (handle or "", kind)).fetchone()
            return from_row(existing), False

    def update_incident(self, incident_id: int, changes: IncidentUpdate) -> dict[str, Any]:
        with self._write() as db:
            current = self._one(db, "SELECT * FROM incidents WHERE id = ?", (incident_id,),
                                f"incident {incident_id} not found")
            resolved = current["status"] == IncidentStatus.RESOLVED
            if resolved and changes.status not in (None, IncidentStatus.RESOLVED):
                raise Conflict(f"incident {incident_id} is resolved; open a new one instead")
            fields = changes.model_dump(exclude_unset=True)
            if changes.status == IncidentStatus.RESOLVED and not resolved and changes.resolved_at is None:
                changes = IncidentUpdate(**fields, resolved_at=datetime.now(UTC))
            elif resolved and changes.status == IncidentStatus.RESOLVED:
                # Resolving twice is a no-op: the first resolution time stands.
                changes = IncidentUpdate(**{k: v for k, v in fields.items() if k not in ("status", "resolved_at")})
            return self._patch(db, "incidents", "id", current, changes, stamp=None)

    # ---------------------------------------------------------------- RAG store

    def _require_project(self, db: sqlite3.Connection, project_id: int) -> None:
        if not db.execute("SELECT 1 FROM projects WHERE id = ?", (project_id,)).fetchone():
            raise NotFound(f"project {project_id} not found")

    def list_documents(self, project_id: int, include_chunks: bool = False) -> list[dict[str, Any]]:
        with self._read() as db:
            self._require_project(db, project_id)
            docs = {r["path"]: {**dict(r), "chunks": []} for r in db.execute(
                "SELECT d.path, d.content_hash, d.updated_at, d.model, d.dimension, "
                "(SELECT count(*) FROM chunks c WHERE c.project_id = d.project_id AND c.path = d.path) AS chunk_count "
                "FROM documents d WHERE d.project_id = ? ORDER BY d.path", (project_id,))}
            if include_chunks:
                for r in db.execute("SELECT path, idx, text, heading, embedding FROM chunks WHERE project_id = ? "
                                    "ORDER BY path, idx", (project_id,)):
                    docs[r["path"]]["chunks"].append({"index": r["idx"], "text": r["text"], "heading": r["heading"],
                                                      "embedding": json.loads(r["embedding"])})
            return list(docs.values())

    def put_document(self, project_id: int, document: DocumentUpsert) -> tuple[dict[str, Any], bool]:
        """Store the document and replace its chunks; whether it was new."""
        now = timestamp()
        with self._write() as db:
            self._require_project(db, project_id)
            existed = db.execute("SELECT 1 FROM documents WHERE project_id = ? AND path = ?",
                                 (project_id, document.path)).fetchone() is not None
            db.execute("INSERT INTO documents (project_id, path, content_hash, updated_at, model, dimension) "
                       "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, path) DO UPDATE SET "
                       "content_hash = excluded.content_hash, updated_at = excluded.updated_at, "
                       "model = excluded.model, dimension = excluded.dimension",
                       (project_id, document.path, document.content_hash, now, document.model, document.dimension))
            db.execute("DELETE FROM chunks WHERE project_id = ? AND path = ?", (project_id, document.path))
            db.executemany("INSERT INTO chunks (project_id, path, idx, text, heading, embedding) "
                           "VALUES (?, ?, ?, ?, ?, ?)",
                           [(project_id, document.path, c.index, c.text, c.heading, json.dumps(c.embedding))
                            for c in document.chunks])
        meta = {"path": document.path, "content_hash": document.content_hash, "updated_at": now,
                "model": document.model, "dimension": document.dimension,
                "chunk_count": len(document.chunks), "chunks": []}
        return meta, not existed

    def delete_document(self, project_id: int, path: str) -> None:
        with self._write() as db:
            self._require_project(db, project_id)
            if not db.execute("DELETE FROM documents WHERE project_id = ? AND path = ?", (project_id, path)).rowcount:
                raise NotFound(f"project {project_id} has no document {path!r}")

    def search_chunks(self, query: ChunkSearch) -> list[dict[str, Any]]:
        """The ``k`` chunks nearest to the query vector by cosine, among the chunks of documents
        embedded by the query's model with its dimension: vectors of two models are never compared."""
        with self._read() as db:
            rows = db.execute(
                "SELECT c.project_id, p.full_name, c.path, c.heading, c.text, c.embedding FROM chunks c "
                "JOIN documents d ON d.project_id = c.project_id AND d.path = c.path "
                "JOIN projects p ON p.id = c.project_id WHERE d.model = ? AND d.dimension = ? "
                "ORDER BY c.project_id, c.path, c.idx", (query.model, len(query.vector))).fetchall()
        if not rows:
            return []
        matrix = np.array([json.loads(r["embedding"]) for r in rows], dtype=np.float64)
        vector = np.array(query.vector, dtype=np.float64)
        norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(vector) or 1.0)
        scores = matrix @ vector / np.where(norms == 0, 1.0, norms)
        best = sorted(range(len(rows)), key=lambda i: (-scores[i], i))[:query.k]  # ties: a stable order
        return [{"project_id": rows[i]["project_id"], "project": rows[i]["full_name"], "path": rows[i]["path"],
                 "heading": rows[i]["heading"], "text": rows[i]["text"], "score": round(float(scores[i]), 6)}
                for i in best]

    def get_summary(self, project_id: int) -> dict[str, Any] | None:
        with self._read() as db:
            self._require_project(db, project_id)
            row = db.execute("SELECT * FROM summaries WHERE project_id = ?", (project_id,)).fetchone()
            return dict(row) if row else None

    def put_summary(self, project_id: int, summary: SummaryUpsert) -> dict[str, Any]:
        with self._write() as db:
            self._require_project(db, project_id)
            row = db.execute(
                "INSERT INTO summaries (project_id, text, source_hash, model, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (project_id) DO UPDATE SET text = excluded.text, source_hash = excluded.source_hash, "
                "model = excluded.model, updated_at = excluded.updated_at RETURNING *",
                (project_id, summary.text, summary.source_hash, summary.model, timestamp())).fetchone()
            return dict(row)


# --------------------------------------------------------------------------- seeding


def sample_servers(count: int, *, start: int = 1, managed: bool = True,
                   status: ServerStatus = ServerStatus.READY) -> list[ServerCreate]:
    """``count`` plausible Time4VPS servers with provider ids ``start``, ``start + 1``, ..."""
    def address(n: int) -> str:
        return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"

    return [
        ServerCreate(handle=server_handle(n), provider="time4vps", provider_id=str(n), host=address(n),
                     public_ip=address(n), is_managed=managed, status=status,
                     specs=ServerSpecs(cpu_cores=2, ram_mb=4096, disk_gb=80, os="ubuntu-24.04"))
        for n in range(start, start + count)
    ]


def sample_projects(count: int, *, start: int = 1, org: str = "acme",
                    status: ProjectStatus = ProjectStatus.ACTIVE) -> list[ProjectCreate]:
    """``count`` projects with github_repo_ids ``start``, ``start + 1``, ..."""
    return [
        ProjectCreate(name=f"repo-{n}", full_name=f"{org}/repo-{n}", github_repo_id=n,
                      html_url=f"https://github.com/{org}/repo-{n}", status=status)
        for n in range(start, start + count)
    ]
