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
import re
import uuid
from collections import deque
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, Query, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader
from pydantic import BaseModel

from contracts.platform import (
    ChunkSearch,
    DocumentUpsert,
    HealthReport,
    HealthReportResult,
    Incident,
    IncidentOpen,
    IncidentStatus,
    IncidentType,
    IncidentUpdate,
    Project,
    ProjectCreate,
    ProjectDocument,
    ProjectStatus,
    ProjectSummary,
    ProjectUpdate,
    SearchHit,
    Server,
    ServerCreate,
    ServerStatus,
    ServerUpdate,
    SummaryUpsert,
)

from sandbox.http import Counters, Faults, Instrumented

# The store, its schema and sample data live in their own modules; their names are re-exported
# here so ``from sandbox.platform.api import ...`` keeps working for every caller.
from sandbox.platform.schema import (  # noqa: F401
    BOOL_COLUMNS,
    INCIDENT_COLUMNS,
    JSON_COLUMNS,
    PROJECT_COLUMNS,
    SCHEMA,
    SERVER_COLUMNS,
    timestamp,
)
from sandbox.platform.store import Conflict, NotFound, PlatformStore, sample_projects, sample_servers  # noqa: F401

DEFAULT_API_KEY = "sandbox-internal-key"


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

    @r.post("/search/chunks", response_model=list[SearchHit],
            description="the k chunks nearest to the vector (cosine), among those of its model and dimension")
    async def search_chunks(query: ChunkSearch):
        return _json(store.search_chunks(query))

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
