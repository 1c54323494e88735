"""The platform API sandbox itself, served on loopback: the contract the scheduler relies on."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import httpx
import pytest
from openapi_schema_validator import OAS31Validator

from contracts.platform import IncidentOpen, IncidentType
from sandbox.http import ServedApp
from sandbox.platform.api import PlatformSandbox, PlatformStore, create_app, sample_servers

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
    return {"handle": handle, "host": "10.0.0.1", "public_ip": "10.0.0.1", "labels": {"provider_id": provider_id},
            **extra}


def _project(repo_id=1, **extra):
    return {"name": f"r{repo_id}", "full_name": f"acme/r{repo_id}", "github_repo_id": repo_id,
            "html_url": f"https://github.com/acme/r{repo_id}", **extra}


def test_openapi_is_served_and_responses_match_it(platform):
    spec = platform.http.get("/openapi.json").json()
    assert set(spec["paths"]) == {
        "/api/projects", "/api/projects/{project_id}", "/api/servers/", "/api/servers/{handle}",
        "/api/incidents", "/api/incidents/{incident_id}",
        "/api/projects/{project_id}/documents", "/api/projects/{project_id}/summary", "/api/search/chunks",
    }
    assert "X-Internal-Key" in str(spec["components"]["securitySchemes"])

    server = platform.http.post("/api/servers/", json=_server()).json()
    project = platform.http.post("/api/projects", json=_project()).json()
    incident = platform.http.post("/api/incidents", json={"server_handle": "vps-1",
                                                          "incident_type": "service_down"}).json()
    for name, instance in (("Server", server), ("Project", project), ("Incident", incident)):
        OAS31Validator({"$ref": f"#/components/schemas/{name}", "components": spec["components"]}).validate(instance)


@pytest.mark.parametrize("headers", [{}, {"X-Internal-Key": "wrong"}])
@pytest.mark.parametrize("path", ["/api/servers", "/api/projects/1", "/openapi.json", "/api/nowhere"])
def test_every_request_needs_the_key(platform, headers, path):
    response = httpx.get(platform.url + path, headers={**headers, "X-Correlation-ID": "corr-401"})
    assert response.status_code == 401
    assert response.json() == {"detail": "missing or wrong X-Internal-Key"}
    assert response.headers["x-correlation-id"] == "corr-401"


def test_correlation_id_is_echoed_or_minted(platform):
    echoed = platform.http.get("/api/servers", headers={"X-Correlation-ID": "run-7"})
    assert echoed.headers["x-correlation-id"] == "run-7"
    minted = {platform.http.get("/api/servers").headers["x-correlation-id"] for _ in range(2)}
    assert len(minted) == 2 and "run-7" not in minted
    assert platform.app.requests_seen[0] == ("GET", "/api/servers", "run-7")


def test_data_persists_across_app_instances_sharing_a_file(tmp_path):
    db = str(tmp_path / "platform.sqlite")
    for first in _serve(create_app(db, api_key=KEY)):
        first.http.post("/api/servers/", json=_server())
        first.http.post("/api/incidents", json={"server_handle": "vps-1", "incident_type": "server_unreachable"})
    for second in _serve(create_app(db, api_key=KEY)):
        assert second.http.get("/api/servers/vps-1").json()["host"] == "10.0.0.1"
        reopened = second.http.post("/api/incidents", json={"server_handle": "vps-1",
                                                            "incident_type": "server_unreachable"})
        assert reopened.status_code == 200  # the incident opened by the first instance is still active


def test_duplicates_are_409_and_unknowns_404(platform):
    http = platform.http


# projects: tests/sandbox/test_platform_projects.py; servers: tests/sandbox/test_platform_servers.py


def test_opening_an_incident_is_idempotent_until_it_is_resolved(platform):
    http = platform.http
    http.post("/api/servers/", json=_server())
    body = {"server_handle": "vps-1", "incident_type": "resource_exhausted", "details": {"disk": "/"}}
    first, second = http.post("/api/incidents", json=body), http.post("/api/incidents", json=body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json() == second.json()
    other = http.post("/api/incidents", json={**body, "incident_type": "service_down"})
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]

    incident_id = first.json()["id"]
    early = http.patch(f"/api/incidents/{incident_id}", json={"resolved_at": "2030-01-01T00:00:00Z"})
    assert early.status_code == 422  # a resolution time only comes with status resolved
    recovering = http.patch(f"/api/incidents/{incident_id}", json={"status": "recovering"}).json()
    assert recovering["status"] == "recovering" and recovering["resolved_at"] is None
    assert http.post("/api/incidents", json=body).json()["id"] == incident_id  # recovering is still active
    resolved = http.patch(f"/api/incidents/{incident_id}", json={"status": "resolved"}).json()
    assert resolved["resolved_at"] is not None
    assert http.patch(f"/api/incidents/{incident_id}", json={"status": "resolved"}).json() == resolved
    assert http.patch(f"/api/incidents/{incident_id}", json={"status": "detected"}).status_code == 409

    reopened = http.post("/api/incidents", json=body)
    assert reopened.status_code == 201 and reopened.json()["id"] != incident_id
    active = http.get("/api/incidents", params={"status": ["detected", "recovering"], "server_handle": "vps-1",
                                                "incident_type": "resource_exhausted"}).json()
    assert [i["id"] for i in active] == [reopened.json()["id"]]


def test_provider_wide_incidents_are_deduplicated_and_need_no_server(platform):
    body = {"server_handle": None, "incident_type": "provider_api_unavailable"}
    codes = [platform.http.post("/api/incidents", json=body).status_code for _ in range(3)]
    assert codes == [201, 200, 200]
    assert platform.http.post("/api/incidents", json={"incident_type": "service_down"}).status_code == 422
    unknown = platform.http.post("/api/incidents", json={"server_handle": "vps-9", "incident_type": "service_down"})
    assert unknown.status_code == 404


def test_concurrent_opens_on_two_platform_replicas_yield_one_incident(tmp_path):
    db = str(tmp_path / "shared.sqlite")
    first, second = create_app(db, api_key=KEY), create_app(db, api_key=KEY)
    first.store.create_server(sample_servers(1)[0])
    body = {"server_handle": "vps-1", "incident_type": "server_unreachable"}

    async def storm(urls):
        async with httpx.AsyncClient(headers={"X-Internal-Key": KEY}) as http:
            return await asyncio.gather(*(http.post(f"{urls[i % 2]}/api/incidents", json=body) for i in range(40)))

    with ServedApp(first) as a, ServedApp(second) as b:
        responses = asyncio.run(storm([a.url, b.url]))
    assert sorted(r.status_code for r in responses) == [200] * 39 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(first.store.list_incidents(server_handle="vps-1")) == 1


def test_concurrent_opens_from_many_store_connections_yield_one_incident(tmp_path):
    db = str(tmp_path / "shared.sqlite")
    stores = [PlatformStore(db) for _ in range(8)]
    stores[0].create_server(sample_servers(1)[0])
    request = IncidentOpen(server_handle="vps-1", incident_type=IncidentType.HOST_KEY_MISMATCH)
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda i: stores[i % 8].open_incident(request), range(64)))
    assert sum(created for _, created in results) == 1
    assert {row["id"] for row, _ in results} == {results[0][0]["id"]}
    assert len(stores[3].list_incidents(statuses=["detected"])) == 1


