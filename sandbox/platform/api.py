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

from fastapi import APIRouter, FastAPI, Request, Security
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader

from sandbox.http import Counters, Faults, Instrumented
from sandbox.platform.responses import json_response as _json
from sandbox.platform.routes_incidents import add_incidents_routes
from sandbox.platform.routes_metrics import add_metrics_routes
from sandbox.platform.routes_projects import add_projects_routes
from sandbox.platform.routes_rag import RagConfig, add_rag_routes
from sandbox.platform.routes_repositories import add_repositories_routes
from sandbox.platform.routes_servers import add_servers_routes

# The store, its schema and sample data live in their own modules; their names are re-exported
# here so ``from sandbox.platform.api import ...`` keeps working for every caller.
from sandbox.platform.schema import (  # noqa: F401
    BOOL_COLUMNS,
    INCIDENT_COLUMNS,
    JSON_COLUMNS,
    PROJECT_COLUMNS,
    REPOSITORY_COLUMNS,
    SCHEMA,
    SERVER_COLUMNS,
    timestamp,
)
from sandbox.platform.store import (  # noqa: F401
    Conflict,
    NotFound,
    PlatformStore,
    sample_projects,
    sample_servers,
)

DEFAULT_API_KEY = "sandbox-internal-key"
DEFAULT_RAG_INGEST_SECRET = "sandbox-rag-secret"


#: what the real service serves without the key (tests/fixtures/platform/README.md)
_PUBLIC_PATHS = frozenset({"/", "/health", "/openapi.json"})

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
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"x-correlation-id", correlation_id.encode())],
                }
            await send(message)

        public = scope["method"] == "GET" and scope["path"] in _PUBLIC_PATHS
        if not public and not hmac.compare_digest(headers.get(b"x-internal-key", b""), self.api_key):
            response = JSONResponse({"detail": "missing or wrong X-Internal-Key"}, status_code=401)
            return await response(scope, receive, send_with_id)
        await self.app(scope, receive, send_with_id)


def build_api(store: PlatformStore, rag: RagConfig | None = None) -> FastAPI:
    api = FastAPI(title="Platform API (sandbox)", version="1.0.0", docs_url=None, redoc_url=None)
    # Documents the header in OpenAPI; the check itself is in _Gate, so it covers every path.
    key = APIKeyHeader(name="X-Internal-Key", auto_error=False)
    r = APIRouter(prefix="/api", dependencies=[Security(key)])

    @api.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError):
        # as the platform answers: the errors and the body it was given
        return _json({"detail": jsonable_encoder(exc.errors()), "body": jsonable_encoder(exc.body)}, 422)

    @api.exception_handler(NotFound)
    async def _not_found(_request: Request, exc: NotFound):
        return _json({"detail": str(exc)}, 404)

    @api.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError):
        # as the platform answers: the errors and the body it was given
        return _json({"detail": jsonable_encoder(exc.errors()), "body": jsonable_encoder(exc.body)}, 422)

    @api.exception_handler(Conflict)
    async def _conflict(_request: Request, exc: Conflict):
        return _json({"detail": str(exc)}, 409)

    add_projects_routes(r, store)
    add_repositories_routes(r, store)
    add_metrics_routes(r, store)
    add_servers_routes(r, store)
    add_incidents_routes(r, store)
    add_rag_routes(r, store, rag if rag is not None else RagConfig())
    api.include_router(r)
    return api


class PlatformSandbox(Instrumented):
    """The platform API as an ASGI app, with faults, counters, and its ``store`` at hand."""

    def __init__(
        self,
        store: PlatformStore,
        api_key: str = DEFAULT_API_KEY,
        faults: Faults | None = None,
        counters: Counters | None = None,
        rag: RagConfig | None = None,
    ):
        self.store = store
        self.api_key = api_key
        #: the RAG ingest's secret and the embeddings endpoint (settable once that one is served)
        self.rag = rag if rag is not None else RagConfig(DEFAULT_RAG_INGEST_SECRET)
        #: (method, path, correlation id) of recent requests, newest last
        self.requests_seen: deque[tuple[str, str, str]] = deque(maxlen=1000)
        self.api = build_api(store, self.rag)
        super().__init__(_Gate(self.api, api_key, self.requests_seen), faults, counters)


def create_app(
    db_path: str = ":memory:",
    api_key: str = DEFAULT_API_KEY,
    *,
    rag_ingest_secret: str | None = DEFAULT_RAG_INGEST_SECRET,
    embeddings_url: str | None = None,
) -> PlatformSandbox:
    """A platform API over the SQLite database at ``db_path``; serve it with ``ServedApp``.
    ``embeddings_url``: the OpenAI-compatible endpoint its RAG embeds with (``.../v1``)."""
    return PlatformSandbox(PlatformStore(db_path), api_key, rag=RagConfig(rag_ingest_secret, embeddings_url))
