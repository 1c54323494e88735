"""The platform API sandbox itself, served on loopback: the contract the scheduler relies on."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import httpx
import pytest
from openapi_schema_validator import OAS31Validator

from sandbox.http import ServedApp
from sandbox.platform.api import PlatformSandbox, PlatformStore, create_app, sample_projects, sample_servers

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
        "/api/incidents/", "/api/incidents/active", "/api/incidents/{incident_id}",
        "/api/servers/metrics-history", "/api/servers/{handle}/metrics-history",
        "/api/projects/{project_id}/documents", "/api/projects/{project_id}/summary", "/api/search/chunks",
    }
    assert "X-Internal-Key" in str(spec["components"]["securitySchemes"])

    server = platform.http.post("/api/servers/", json=_server()).json()
    project = platform.http.post("/api/projects", json=_project()).json()
    incident = platform.http.post("/api/incidents/", json={"server_handle": "vps-1",
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
        first.http.post("/api/projects", json=_project(42))
        first.http.post("/api/servers/", json=_server())
        first.http.post("/api/incidents/", json={"server_handle": "vps-1", "incident_type": "server_unreachable"})
    for second in _serve(create_app(db, api_key=KEY)):
        assert [p["github_repo_id"] for p in second.http.get("/api/projects").json()] == [42]
        assert second.http.get("/api/servers/vps-1").json()["host"] == "10.0.0.1"
        assert [i["server_handle"] for i in second.http.get("/api/incidents/active").json()] == ["vps-1"]
        assert second.http.post("/api/projects", json=_project(43)).json()["id"] == 2


def test_duplicates_are_409_and_unknowns_404(platform):
    http = platform.http
    assert http.post("/api/projects", json=_project(7)).status_code == 201
    dup = http.post("/api/projects", json=_project(7, name="other"))
    assert dup.status_code == 409 and "github_repo_id 7" in dup.json()["detail"]
    # servers: tests/sandbox/test_platform_servers.py
    assert http.patch("/api/projects/999", json={"status": "active"}).status_code == 404
    assert http.get("/api/projects/999/documents").status_code == 404


@pytest.mark.parametrize("body", [
    {"status": "hibernating"},  # not a status
    {"name": None},  # a required column cannot be nulled
    {"github_repo_id": 9},  # the identity cannot change
    {"colour": "red"},  # a typo is refused, not ignored
])
def test_invalid_updates_are_422_with_a_detail(platform, body):
    project_id = platform.http.post("/api/projects", json=_project()).json()["id"]
    response = platform.http.patch(f"/api/projects/{project_id}", json=body)
    assert response.status_code == 422 and response.json()["detail"]


def test_patch_changes_only_what_it_names_and_a_no_op_writes_nothing(platform):
    http = platform.http
    created = http.post("/api/projects", json=_project(description="old")).json()
    renamed = http.patch(f"/api/projects/{created['id']}", json={"name": "new", "description": None}).json()
    assert (renamed["name"], renamed["description"], renamed["full_name"]) == ("new", None, created["full_name"])
    assert renamed["updated_at"] > created["updated_at"]
    again = http.patch(f"/api/projects/{created['id']}", json={"name": "new"}).json()
    assert again == renamed


# the servers routes: tests/sandbox/test_platform_servers.py


# the incidents and metrics-history routes: tests/adapters/test_platform_incidents_metrics.py


def test_documents_are_upserted_by_path_and_deleted(platform):
    http = platform.http
    project_id = http.post("/api/projects", json=_project()).json()["id"]
    docs = f"/api/projects/{project_id}/documents"
    chunks = [{"index": i, "text": f"part {i}", "heading": "Intro", "embedding": [0.5, -1.25, i]} for i in range(3)]
    tag = {"model": "m", "dimension": 3}
    created = http.put(docs, json={"path": "README.md", "content_hash": "h1", "chunks": chunks, **tag})
    assert created.status_code == 201 and created.json()["chunk_count"] == 3
    replaced = http.put(docs, json={"path": "README.md", "content_hash": "h2", "chunks": chunks[:1], **tag})
    assert replaced.status_code == 200
    http.put(docs, json={"path": "docs/setup.md", "content_hash": "h3", "chunks": [], **tag})

    listing = http.get(docs).json()
    assert [(d["path"], d["content_hash"], d["chunk_count"], d["chunks"], d["model"], d["dimension"])
            for d in listing] == [("README.md", "h2", 1, [], "m", 3), ("docs/setup.md", "h3", 0, [], "m", 3)]
    full = http.get(docs, params={"include_chunks": "true"}).json()
    assert full[0]["chunks"] == chunks[:1]

    assert http.delete(docs, params={"path": "README.md"}).status_code == 204
    assert http.delete(docs, params={"path": "README.md"}).status_code == 404
    assert [d["path"] for d in http.get(docs).json()] == ["docs/setup.md"]
    out_of_order = {"path": "x.md", "content_hash": "h", "chunks": [{**chunks[1]}], **tag}
    assert http.put(docs, json=out_of_order).status_code == 422
    wrong_dimension = {"path": "x.md", "content_hash": "h", "chunks": chunks[:1], "model": "m", "dimension": 2}
    assert http.put(docs, json=wrong_dimension).status_code == 422
    untagged = {"path": "x.md", "content_hash": "h", "chunks": chunks[:1]}
    assert http.put(docs, json=untagged).status_code == 422


def test_search_ranks_chunks_of_the_query_model_only_by_cosine(platform):
    http = platform.http
    first, second = (http.post("/api/projects", json=_project(n)).json()["id"] for n in (1, 2))

    def put(project_id, path, model, vectors):
        chunks = [{"index": i, "text": f"{path} {i}", "heading": f"H{i}", "embedding": v} for i, v in enumerate(vectors)]
        body = {"path": path, "content_hash": "h", "model": model, "dimension": len(vectors[0]), "chunks": chunks}
        assert http.put(f"/api/projects/{project_id}/documents", json=body).status_code == 201

    put(first, "README.md", "m1", [[1.0, 0.0], [0.6, 0.8]])
    put(second, "docs/a.md", "m1", [[0.0, 1.0]])
    put(second, "docs/b.md", "m2", [[1.0, 0.0]])  # another model: never ranked against m1's query
    put(second, "docs/c.md", "m1", [[1.0, 0.0, 0.0]])  # m1 with another dimension: neither
    hits = http.post("/api/search/chunks", json={"vector": [2.0, 0.0], "model": "m1", "k": 2}).json()
    assert [(h["project"], h["path"], h["heading"], h["score"]) for h in hits] == [
        ("acme/r1", "README.md", "H0", 1.0), ("acme/r1", "README.md", "H1", 0.6)]
    assert len(http.post("/api/search/chunks", json={"vector": [2.0, 0.0], "model": "m1", "k": 9}).json()) == 3
    assert http.post("/api/search/chunks", json={"vector": [1.0], "model": "none"}).json() == []
    assert http.post("/api/search/chunks", json={"vector": [], "model": "m1"}).status_code == 422


def test_summary_is_null_until_put_then_replaced(platform):
    http = platform.http
    project_id = http.post("/api/projects", json=_project()).json()["id"]
    url = f"/api/projects/{project_id}/summary"
    assert http.get(url).json() is None
    http.put(url, json={"text": "v1", "source_hash": "s1", "model": "local"})
    stored = http.put(url, json={"text": "v2", "source_hash": "s2", "model": "local"}).json()
    assert http.get(url).json() == stored and stored["text"] == "v2" and stored["project_id"] == project_id
    assert http.get("/api/projects/999/summary").status_code == 404
