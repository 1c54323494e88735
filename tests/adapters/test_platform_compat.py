"""The compatibility check at start: each task's platform needs held against the platform's own
/openapi.json, every gap named in one message (route, field, task), an unreachable platform
not mistaken for a wrong one."""

from __future__ import annotations

import copy
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from actors.adapters.platform.compat import PlatformUnreachable, fetch_openapi, missing
from actors.configuration import check_platform
from actors.runtime.spec import TaskSpec
from contracts import TaskName
from contracts.platform import PlatformNeed
from tests.platform_conformance import spec as real_document

NEEDS = (
    PlatformNeed("GET", "/api/servers/", ("labels", "status", "last_health_check")),
    PlatformNeed("PATCH", "/api/servers/{handle}", ("load_avg_1m",)),
    PlatformNeed("POST", "/api/incidents/", ("server_handle", "incident_type", "details")),
    # its body is read raw (for the HMAC), so only the answer's fields are declared
    PlatformNeed("POST", "/api/rag/ingest", ("documents_indexed", "documents_skipped")),
)


def test_the_real_platform_document_has_what_these_needs_name():
    assert missing(real_document(), NEEDS) == []


def test_each_gap_is_named_route_or_field():
    document = copy.deepcopy(real_document())
    del document["paths"]["/api/incidents/"]["post"]
    needs = (
        *NEEDS[:3],
        PlatformNeed("GET", "/api/servers", ()),
        PlatformNeed("GET", "/api/servers/", ("health_status",)),
    )
    assert missing(document, needs) == [
        "POST /api/incidents/: no such route",
        "GET /api/servers: no such route",
        "GET /api/servers/: no field health_status",
    ]


class _Serve(BaseHTTPRequestHandler):
    document: bytes = b""

    def do_GET(self):  # noqa: N802 (http.server's name)
        status, body = (200, self.document) if self.path == "/openapi.json" else (404, b"{}")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def platform_serving(monkeypatch):
    """A loopback platform serving a given /openapi.json; API_BASE_URL points at it."""
    servers = []

    def serve(document) -> str:
        handler = type(
            "Handler",
            (_Serve,),
            {"document": document if isinstance(document, bytes) else json.dumps(document).encode()},
        )
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        url = f"http://127.0.0.1:{server.server_address[1]}"
        monkeypatch.setenv("API_BASE_URL", url)
        monkeypatch.setenv("INTERNAL_API_KEY", "k")
        return url

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def _spec(task: TaskName, needs=NEEDS) -> TaskSpec:
    return TaskSpec(task=task, fn=lambda run: None, platform_needs=needs)


def test_the_worker_check_names_task_and_gap_and_points_at_api_base_url(platform_serving):
    document = copy.deepcopy(real_document())
    del document["paths"]["/api/rag/ingest"]
    platform_serving(document)
    problems = check_platform([_spec(TaskName.RAG_SUMMARIZER), _spec(TaskName.SERVER_SYNC, NEEDS[:1])])
    assert [(p.variable, p.needed_by, p.message) for p in problems] == [
        ("API_BASE_URL", "task rag_summarizer", "the platform there lacks POST /api/rag/ingest: no such route")
    ]


def test_a_platform_that_does_not_answer_is_not_refused(platform_serving, monkeypatch):
    platform_serving(b"<html>not json</html>")
    with pytest.raises(PlatformUnreachable):
        fetch_openapi(os.environ["API_BASE_URL"])
    assert check_platform([_spec(TaskName.SERVER_SYNC)]) == []
    monkeypatch.setenv("API_BASE_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    assert check_platform([_spec(TaskName.SERVER_SYNC)]) == []
