"""The platform API stand-in: the contract the scheduler consumes, served by FastAPI over a
real SQLite store, with its OpenAPI document at ``/openapi.json``.

- Every request carries ``X-Internal-Key`` (401 otherwise); ``X-Correlation-ID`` is echoed
  back (a fresh one when absent) and remembered in ``requests_seen`` for tests.
- The store is the truth: what two app instances sharing one SQLite file see is the same, and
  the rules that must hold under concurrency (one active incident per server and type, unique
  identities) are enforced by SQLite indexes, not by Python checks that could race.
- Reads return rows as stored, without validating them against the contracts: a test can
  plant a value from a "newer platform" (``store.execute_sql``) and see how the client copes.

``create_app()`` gives a ``PlatformSandbox``: the ASGI app wrapped in ``Instrumented`` (faults,
counters, ``/_sandbox/`` controls) with the ``store`` at hand for seeding.
"""

from __future__ import annotations

import hmac
import json
import re
import sqlite3
import threading
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, Query, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader
from pydantic import BaseModel

from contracts.platform import (
    DocumentUpsert,
    HealthReport,
    HealthReportResult,
    Incident,
    IncidentOpen,
    IncidentStatus,
    IncidentType,
    IncidentUpdate,
    Patch,
    Project,
    ProjectCreate,
    ProjectDocument,
    ProjectStatus,
    ProjectSummary,
    ProjectUpdate,
    Server,
    ServerCreate,
    ServerSpecs,
    ServerStatus,
    ServerUpdate,
    SummaryUpsert,
    server_handle,
)

from .http import Counters, Faults, Instrumented

DEFAULT_API_KEY = "sandbox-internal-key"


class NotFound(Exception):
    """Answered as 404."""


class Conflict(Exception):
    """Answered as 409."""


# --------------------------------------------------------------------------- the store

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
    handle TEXT PRIMARY KEY,
    provider TEXT NOT NULL, provider_id TEXT NOT NULL, host TEXT NOT NULL, public_ip TEXT,
    ssh_port INTEGER NOT NULL, ssh_user TEXT NOT NULL, is_managed INTEGER NOT NULL,
    status TEXT NOT NULL, specs TEXT NOT NULL, health_status TEXT NOT NULL,
    last_health_check TEXT, ssh_host_keys TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    UNIQUE (provider, provider_id)
);
CREATE INDEX IF NOT EXISTS servers_by_status ON servers(status, is_managed);

CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY,  -- no AUTOINCREMENT: an open that finds one active would burn an id
    server_handle TEXT REFERENCES servers(handle),
    incident_type TEXT NOT NULL, status TEXT NOT NULL, details TEXT NOT NULL,
    detected_at TEXT NOT NULL, resolved_at TEXT
);
-- At most one active incident per (server, type); provider-wide ones have no server, and
-- NULLs are distinct in a unique index, hence ifnull().
CREATE UNIQUE INDEX IF NOT EXISTS incidents_one_active
    ON incidents(ifnull(server_handle, ''), incident_type) WHERE status != 'resolved';
CREATE INDEX IF NOT EXISTS incidents_by_status ON incidents(status);
CREATE INDEX IF NOT EXISTS incidents_by_server ON incidents(server_handle);

CREATE TABLE IF NOT EXISTS documents (
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    path TEXT NOT NULL, content_hash TEXT NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (project_id, path)
);
CREATE TABLE IF NOT EXISTS chunks (
    project_id INTEGER NOT NULL, path TEXT NOT NULL, idx INTEGER NOT NULL,
    text TEXT NOT NULL, embedding TEXT NOT NULL,
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
SERVER_COLUMNS = ("handle", "provider", "provider_id", "host", "public_ip", "ssh_port", "ssh_user", "is_managed",
                  "status", "specs", "health_status", "last_health_check", "ssh_host_keys", "created_at", "updated_at")
INCIDENT_COLUMNS = ("id", "server_handle", "incident_type", "status", "details", "detected_at", "resolved_at")
JSON_COLUMNS = frozenset({"specs", "ssh_host_keys", "details"})
BOOL_COLUMNS = frozenset({"is_managed"})


def timestamp(value: datetime | None = None) -> str:
    """UTC, fixed width: stored text sorts in time order, so SQLite can compare it."""
    value = datetime.now(UTC) if value is None else value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _to_column(value: Any) -> Any:
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


def _from_row(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    for key in out.keys() & JSON_COLUMNS:
        out[key] = json.loads(out[key])
    for key in out.keys() & BOOL_COLUMNS:
        out[key] = bool(out[key])
    return out


def _in(column: str, values: list | None) -> tuple[str, list]:
    if not values:
        return "", []
    return f"{column} IN ({', '.join('?' * len(values))})", [_to_column(v) for v in values]


def _where(*clauses: tuple[str, list]) -> tuple[str, list]:
    parts = [c for c, _ in clauses if c]
    params = [p for _, ps in clauses for p in ps]
    return (" WHERE " + " AND ".join(parts) if parts else ""), params


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
        return _from_row(row)

    def _patch(self, db, table: str, key: str, current: dict[str, Any], changes: Patch,
               stamp: str | None = "updated_at") -> dict[str, Any]:
        """Apply only the fields that differ; an update that changes nothing writes nothing."""
        new = {name: _to_column(getattr(changes, name)) for name in changes.model_fields_set}
        stored = {name: _to_column(current[name]) for name in new}
        diff = {name: value for name, value in new.items() if value != stored[name]}
        if not diff:
            return current
        if stamp:
            diff[stamp] = timestamp()
        assignments = ", ".join(f"{name} = ?" for name in diff)
        row = db.execute(f"UPDATE {table} SET {assignments} WHERE {key} = ? RETURNING *",
                         (*diff.values(), current[key])).fetchone()
        return _from_row(row)

    # ---------------------------------------------------------------- projects

    def list_projects(self, statuses: list[ProjectStatus] | None = None) -> list[dict[str, Any]]:
        where, params = _where(_in("status", statuses))
        with self._read() as db:
            return [_from_row(r) for r in db.execute(f"SELECT * FROM projects{where} ORDER BY id", params)]

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
                    row = db.execute(sql, [_to_column(values[c]) for c in columns]).fetchone()
                except sqlite3.IntegrityError:
                    raise Conflict(f"a project with github_repo_id {project.github_repo_id} exists") from None
                out.append(_from_row(row))
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
        where, params = _where(_in("status", statuses), managed)
        with self._read() as db:
            return [_from_row(r) for r in db.execute(f"SELECT * FROM servers{where} ORDER BY handle", params)]

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
                    row = db.execute(sql, [_to_column(values[c]) for c in columns]).fetchone()
                except sqlite3.IntegrityError:
                    raise Conflict(f"server {server.handle!r} or {server.provider} id "
                                   f"{server.provider_id!r} exists") from None
                out.append(_from_row(row))
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
        where, params = _where(
            _in("status", statuses),
            ("server_handle = ?", [server_handle]) if server_handle is not None else ("", []),
            ("incident_type = ?", [incident_type.value]) if incident_type is not None else ("", []),
        )
        with self._read() as db:
            return [_from_row(r) for r in db.execute(f"SELECT * FROM incidents{where} ORDER BY id", params)]

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
                (handle, kind, _to_column(incident.details), timestamp(incident.detected_at)),
            ).fetchone()
            if row is not None:
                return _from_row(row), True
            existing = db.execute(
                "SELECT * FROM incidents WHERE ifnull(server_handle, '') = ? AND incident_type = ? "
                "AND status != 'resolved'", (handle or "", kind)).fetchone()
            return _from_row(existing), False

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
                "SELECT d.path, d.content_hash, d.updated_at, "
                "(SELECT count(*) FROM chunks c WHERE c.project_id = d.project_id AND c.path = d.path) AS chunk_count "
                "FROM documents d WHERE d.project_id = ? ORDER BY d.path", (project_id,))}
            if include_chunks:
                for r in db.execute("SELECT path, idx, text, embedding FROM chunks WHERE project_id = ? "
                                    "ORDER BY path, idx", (project_id,)):
                    docs[r["path"]]["chunks"].append(
                        {"index": r["idx"], "text": r["text"], "embedding": json.loads(r["embedding"])})
            return list(docs.values())

    def put_document(self, project_id: int, document: DocumentUpsert) -> tuple[dict[str, Any], bool]:
        """Store the document and replace its chunks; whether it was new."""
        now = timestamp()
        with self._write() as db:
            self._require_project(db, project_id)
            existed = db.execute("SELECT 1 FROM documents WHERE project_id = ? AND path = ?",
                                 (project_id, document.path)).fetchone() is not None
            db.execute("INSERT INTO documents (project_id, path, content_hash, updated_at) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT (project_id, path) DO UPDATE SET content_hash = excluded.content_hash, "
                       "updated_at = excluded.updated_at", (project_id, document.path, document.content_hash, now))
            db.execute("DELETE FROM chunks WHERE project_id = ? AND path = ?", (project_id, document.path))
            db.executemany("INSERT INTO chunks (project_id, path, idx, text, embedding) VALUES (?, ?, ?, ?, ?)",
                           [(project_id, document.path, c.index, c.text, json.dumps(c.embedding))
                            for c in document.chunks])
        meta = {"path": document.path, "content_hash": document.content_hash, "updated_at": now,
                "chunk_count": len(document.chunks), "chunks": []}
        return meta, not existed

    def delete_document(self, project_id: int, path: str) -> None:
        with self._write() as db:
            self._require_project(db, project_id)
            if not db.execute("DELETE FROM documents WHERE project_id = ? AND path = ?", (project_id, path)).rowcount:
                raise NotFound(f"project {project_id} has no document {path!r}")

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


# --------------------------------------------------------------------------- the HTTP API

_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class _Gate:
    """ASGI middleware: echo (or mint) ``X-Correlation-ID``, then check ``X-Internal-Key``."""

    def __init__(self, app, api_key: str, seen: deque):
        self.app = app
        self.api_key = api_key.encode()
        self.seen = seen

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        given = headers.get(b"x-correlation-id", b"").decode("latin-1")
        correlation_id = given if _CORRELATION_ID.match(given) else str(uuid.uuid4())
        self.seen.append((scope["method"], scope["path"], correlation_id))

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-correlation-id", correlation_id.encode())]}
            await send(message)

        if not hmac.compare_digest(headers.get(b"x-internal-key", b""), self.api_key):
            response = JSONResponse({"detail": "missing or wrong X-Internal-Key"}, status_code=401)
            return await response(scope, receive, send_with_id)
        await self.app(scope, receive, send_with_id)


def _json(payload: Any, status_code: int = 200) -> JSONResponse:
    # Rows go out as stored (already JSON-shaped), with no re-validation: see the module docstring.
    if isinstance(payload, BaseModel):
        payload = payload.model_dump(mode="json")
    return JSONResponse(payload, status_code=status_code)


StatusQuery = Annotated[list[ServerStatus] | None, Query(description="repeatable: ?status=ready&status=in_use")]


def build_api(store: PlatformStore) -> FastAPI:
    api = FastAPI(title="Platform API (sandbox)", version="1.0.0", docs_url=None, redoc_url=None)
    # Documents the header in OpenAPI; the check itself is in _Gate, so it covers every path.
    key = APIKeyHeader(name="X-Internal-Key", auto_error=False)
    r = APIRouter(prefix="/api", dependencies=[Security(key)])

    @api.exception_handler(NotFound)
    async def _not_found(_request: Request, exc: NotFound):
        return _json({"detail": str(exc)}, 404)

    @api.exception_handler(Conflict)
    async def _conflict(_request: Request, exc: Conflict):
        return _json({"detail": str(exc)}, 409)

    @r.get("/projects", response_model=list[Project])
    async def list_projects(status: Annotated[list[ProjectStatus] | None, Query()] = None):
        return _json(store.list_projects(status))

    @r.get("/projects/{project_id}", response_model=Project)
    async def get_project(project_id: int):
        return _json(store.get_project(project_id))

    @r.post("/projects", response_model=Project, status_code=201)
    async def create_project(project: ProjectCreate):
        return _json(store.create_project(project), 201)

    @r.patch("/projects/{project_id}", response_model=Project)
    async def update_project(project_id: int, changes: ProjectUpdate):
        return _json(store.update_project(project_id, changes))

    @r.get("/servers", response_model=list[Server])
    async def list_servers(status: StatusQuery = None, is_managed: bool | None = None):
        return _json(store.list_servers(status, is_managed))

    @r.post("/servers/health-reports", response_model=HealthReportResult)
    async def report_health(reports: Annotated[list[HealthReport], Body()]):
        return _json(store.report_health(reports))

    @r.get("/servers/{handle}", response_model=Server)
    async def get_server(handle: str):
        return _json(store.get_server(handle))

    @r.post("/servers", response_model=Server, status_code=201)
    async def create_server(server: ServerCreate):
        return _json(store.create_server(server), 201)

    @r.patch("/servers/{handle}", response_model=Server)
    async def update_server(handle: str, changes: ServerUpdate):
        return _json(store.update_server(handle, changes))

    @r.get("/incidents", response_model=list[Incident])
    async def list_incidents(status: Annotated[list[IncidentStatus] | None, Query()] = None,
                             server_handle: str | None = None, incident_type: IncidentType | None = None):
        return _json(store.list_incidents(status, server_handle, incident_type))

    @r.post("/incidents", response_model=Incident, status_code=201,
            responses={200: {"model": Incident, "description": "an active incident of this kind already exists"}})
    async def open_incident(incident: IncidentOpen):
        row, created = store.open_incident(incident)
        return _json(row, 201 if created else 200)

    @r.patch("/incidents/{incident_id}", response_model=Incident)
    async def update_incident(incident_id: int, changes: IncidentUpdate):
        return _json(store.update_incident(incident_id, changes))

    @r.get("/projects/{project_id}/documents", response_model=list[ProjectDocument])
    async def list_documents(project_id: int, include_chunks: bool = False):
        return _json(store.list_documents(project_id, include_chunks))

    @r.put("/projects/{project_id}/documents", response_model=ProjectDocument,
           responses={201: {"model": ProjectDocument, "description": "a new document"}})
    async def put_document(project_id: int, document: DocumentUpsert):
        row, created = store.put_document(project_id, document)
        return _json(row, 201 if created else 200)

    @r.delete("/projects/{project_id}/documents", status_code=204)
    async def delete_document(project_id: int, path: str):
        store.delete_document(project_id, path)
        return Response(status_code=204)

    @r.get("/projects/{project_id}/summary", response_model=ProjectSummary | None,
           description="null when the project has no summary yet")
    async def get_summary(project_id: int):
        return _json(store.get_summary(project_id))

    @r.put("/projects/{project_id}/summary", response_model=ProjectSummary)
    async def put_summary(project_id: int, summary: SummaryUpsert):
        return _json(store.put_summary(project_id, summary))

    api.include_router(r)
    return api


class PlatformSandbox(Instrumented):
    """The platform API as an ASGI app, with faults, counters, and its ``store`` at hand."""

    def __init__(self, store: PlatformStore, api_key: str = DEFAULT_API_KEY,
                 faults: Faults | None = None, counters: Counters | None = None):
        self.store = store
        self.api_key = api_key
        #: (method, path, correlation id) of recent requests, newest last
        self.requests_seen: deque[tuple[str, str, str]] = deque(maxlen=1000)
        self.api = build_api(store)
        super().__init__(_Gate(self.api, api_key, self.requests_seen), faults, counters)


def create_app(db_path: str = ":memory:", api_key: str = DEFAULT_API_KEY) -> PlatformSandbox:
    """A platform API over the SQLite database at ``db_path``; serve it with ``ServedApp``."""
    return PlatformSandbox(PlatformStore(db_path), api_key)
