"""The platform stand-in as a whole, served on loopback: the key, correlation ids, persistence,
and that every route it serves is one the real platform declares. Each resource's own routes
are tested beside its adapter (tests/adapters/test_platform_*.py, tests/sandbox/test_platform_servers.py)."""

from __future__ import annotations

from typing import NamedTuple

import httpx
import pytest

from sandbox.http import ServedApp
from sandbox.platform.api import PlatformSandbox, create_app
from tests.platform_conformance import spec as real_document

KEY = "platform-test-key"


class Platform(NamedTuple):
    app: PlatformSandbox
    http: httpx.Client
    url: str


def _serve(app: PlatformSandbox):
    with ServedApp(app) as served, httpx.Client(base_url=served.url, headers={"X-Internal-Key": KEY}) as http:
        yield Platform(app, http, served.url)


@pytest.fixture
def platform():
    yield from _serve(create_app(api_key=KEY))


def _server(handle="vps-1", provider_id="1", **extra):
    return {
        "handle": handle,
        "host": "10.0.0.1",
        "public_ip": "10.0.0.1",
        "labels": {"provider_id": provider_id},
        **extra,
    }


def test_every_route_the_stand_in_serves_is_declared_by_the_real_platform(platform):
    """The stand-in may serve less than the platform, never something else: a route of ours that
    the real document lacks would be a route the scheduler could come to rely on and not find."""
    ours = platform.http.get("/openapi.json").json()["paths"]
    real = real_document()["paths"]
    served = {(method.upper(), path) for path, operations in ours.items() for method in operations}
    declared = {(method.upper(), path) for path, operations in real.items() for method in operations}
    assert served - declared == set()
    # and what the scheduler uses is all there
    assert {
        ("GET", "/api/servers/"),
        ("PATCH", "/api/servers/{handle}"),
        ("POST", "/api/incidents/"),
        ("GET", "/api/incidents/active"),
        ("POST", "/api/repositories/"),
        ("POST", "/api/projects/"),
        ("POST", "/api/rag/ingest"),
        ("POST", "/api/rag/query"),
    } <= served


@pytest.mark.parametrize("headers", [{}, {"X-Internal-Key": "wrong"}])
@pytest.mark.parametrize(
    "path", ["/api/servers/", "/api/projects/7f0c8a52-0f5d-4a8e-9d7c-1b2a3c4d5e6f", "/api/incidents/active"]
)
def test_every_api_request_needs_the_key(platform, headers, path):
    response = httpx.get(platform.url + path, headers={**headers, "X-Correlation-ID": "corr-401"})
    assert response.status_code == 401
    assert response.json() == {"detail": "missing or wrong X-Internal-Key"}
    assert response.headers["x-correlation-id"] == "corr-401"


def test_the_document_is_public_as_on_the_real_service(platform):
    response = httpx.get(platform.url + "/openapi.json")
    assert response.status_code == 200 and "/api/servers/" in response.json()["paths"]


def test_a_collection_without_its_slash_is_a_307_to_it(platform):
    response = platform.http.get("/api/servers", follow_redirects=False)
    assert response.status_code == 307 and response.headers["location"].endswith("/api/servers/")


def test_correlation_id_is_echoed_or_minted(platform):
    echoed = platform.http.get("/api/servers/", headers={"X-Correlation-ID": "run-7"})
    assert echoed.headers["x-correlation-id"] == "run-7"
    minted = {platform.http.get("/api/servers/").headers["x-correlation-id"] for _ in range(2)}
    assert len(minted) == 2 and "run-7" not in minted
    assert platform.app.requests_seen[0] == ("GET", "/api/servers/", "run-7")


def test_data_persists_across_app_instances_sharing_a_file(tmp_path):
    db = str(tmp_path / "platform.sqlite")
    for first in _serve(create_app(db, api_key=KEY)):
        assert first.http.post("/api/servers/", json=_server()).status_code == 201
        first.http.post("/api/incidents/", json={"server_handle": "vps-1", "incident_type": "server_unreachable"})
    for second in _serve(create_app(db, api_key=KEY)):
        assert second.http.get("/api/servers/vps-1").json()["host"] == "10.0.0.1"
        incidents = second.http.get("/api/incidents/", params={"server_handle": "vps-1"}).json()
        assert [i["incident_type"] for i in incidents] == ["server_unreachable"]
