"""The stand-in's servers routes behave as the real service's (tests/fixtures/platform/README.md,
and its router read for what the schema does not say); every answer is held against the real
service's OpenAPI document."""

from __future__ import annotations

import httpx
import pytest

from sandbox.http import ServedApp
from sandbox.platform.api import create_app, sample_servers
from tests.platform_conformance import assert_request_conforms, assert_response_conforms

KEY = "platform-servers-key"


class Http:
    """An HTTP client whose every /api/ exchange is checked against openapi.json."""

    def __init__(self, url: str):
        self.http = httpx.Client(base_url=url, headers={"X-Internal-Key": KEY})

    def __call__(self, method: str, path: str, *, json=None, params=None, check_request: bool = True):
        if check_request:
            assert_request_conforms(method, path, body=json, params=list((params or {}).items()))
        response = self.http.request(method, path, json=json, params=params)
        body = response.json() if response.content and response.status_code != 307 else None
        assert_response_conforms(method, path, response.status_code, body)
        return response


@pytest.fixture
def api():
    app = create_app(api_key=KEY)
    with ServedApp(app) as served:
        client = Http(served.url)
        client.app = app
        yield client
        client.http.close()


def server(handle="vps-1", **extra):
    return {"handle": handle, "host": "10.0.0.1", "public_ip": "10.0.0.1", **extra}


def test_paths_are_exact_a_missing_or_extra_slash_is_a_307(api):
    for method, path, target in (
        ("GET", "/api/servers", "/api/servers/"),
        ("POST", "/api/servers", "/api/servers/"),
        ("GET", "/api/servers/vps-1/", "/api/servers/vps-1"),
    ):
        response = api.http.request(method, path, json=server() if method == "POST" else None)
        assert response.status_code == 307 and response.headers["location"].endswith(target)
    assert api.app.store.list_servers() == [], "a redirected POST creates nothing"


def test_create_stores_what_the_real_one_stores_and_answers_server_read(api):
    created = api(
        "POST",
        "/api/servers/",
        json=server(
            capacity_cpu=4,
            capacity_disk_mb=5,
            notes="n",
            ssh_key="k",
            labels={"provider_id": "77", "team": "ops"},
            colour="red",
        ),
    )
    assert created.status_code == 201
    body = created.json()
    assert (body["capacity_cpu"], body["capacity_disk_mb"], body["notes"]) == (4, 10240, None), "disk, notes ignored"
    assert (body["is_managed"], body["status"], body["ssh_user"]) == (True, "discovered", "root"), "its defaults"
    assert (body["provider_id"], body["labels"]) == ("77", {"provider_id": "77", "team": "ops"})
    assert "ssh_key" not in body and "ssh_key_enc" not in body and "colour" not in body
    assert body["created_at"].endswith("Z") and body["last_health_check"] is None


def test_a_duplicate_handle_is_400_and_an_invalid_body_422_with_the_body(api):
    api("POST", "/api/servers/", json=server())
    duplicate = api("POST", "/api/servers/", json=server(host="elsewhere"))
    assert duplicate.status_code == 400 and duplicate.json() == {"detail": "Server with this handle already exists"}
    bad = api("POST", "/api/servers/", json={"handle": "vps-2", "host": "h", "ssh_user": "Root"}, check_request=False)
    assert bad.status_code == 422 and bad.json()["body"] == {"handle": "vps-2", "host": "h", "ssh_user": "Root"}
    assert {tuple(e["loc"]) for e in bad.json()["detail"]} == {("body", "public_ip"), ("body", "ssh_user")}
    assert api("GET", "/api/servers/vps-404").json() == {"detail": "Server not found"}
    assert api("PATCH", "/api/servers/vps-404", json={"status": "ready"}).status_code == 404


def test_patch_applies_only_the_real_fields_and_drops_the_rest_silently(api):
    api("POST", "/api/servers/", json=server(labels={"provider_id": "1", "team": "ops"}))
    patched = api(
        "PATCH",
        "/api/servers/vps-1",
        json={
            "status": "sleeping",
            "capacity_disk_mb": 81920,
            "os_template": "debian-12",
            "handle": "renamed",
            "ssh_port": 2222,
            "health_status": "healthy",
            "provisioning_attempts": 9,
            "load_avg_1m": 0.25,
            "last_health_check": "2026-03-01T14:30:00+02:00",
        },
    ).json()
    assert patched["handle"] == "vps-1" and "ssh_port" not in patched and "health_status" not in patched
    assert (patched["status"], patched["capacity_disk_mb"], patched["os_template"]) == ("sleeping", 81920, "debian-12")
    assert patched["last_health_check"] == "2026-03-01T14:30:00", "the offset stripped, not converted"
    assert patched["load_avg_1m"] == 0.25 and patched["labels"] == {"provider_id": "1", "team": "ops"}


def test_labels_are_replaced_whole_and_provider_id_goes_into_them(api):
    api("POST", "/api/servers/", json=server(labels={"provider_id": "1", "team": "ops"}))
    moved = api("PATCH", "/api/servers/vps-1", json={"provider_id": 2}).json()
    assert (moved["labels"], moved["provider_id"]) == ({"provider_id": "2", "team": "ops"}, "2")
    replaced = api("PATCH", "/api/servers/vps-1", json={"labels": {"a": 1}}).json()
    assert (replaced["labels"], replaced["provider_id"]) == ({"a": 1}, None)
    both = api("PATCH", "/api/servers/vps-1", json={"labels": {"b": 1}, "provider_id": "3"}).json()
    assert both["labels"] == {"b": 1, "provider_id": "3"}
    cleared = api("PATCH", "/api/servers/vps-1", json={"provider_id": None}).json()
    assert cleared["labels"] == {"b": 1} and cleared["provider_id"] is None


def test_a_patch_that_changes_nothing_writes_nothing_and_a_bad_value_is_the_databases_500(api):
    created = api("POST", "/api/servers/", json=server()).json()
    same = api("PATCH", "/api/servers/vps-1", json={"host": "10.0.0.1", "colour": "red"}).json()
    assert same["updated_at"] == created["updated_at"]
    for bad in ({"capacity_cpu": None}, {"capacity_cpu": "four"}, {"labels": "x"}, {"capacity_ram_mb": 2**31}):
        response = api.http.patch("/api/servers/vps-1", json=bad)
        assert response.status_code == 500, bad
    assert api("PATCH", "/api/servers/vps-1", json={"ssh_user": "Root User"}).status_code == 422


def test_filters_are_scalars_the_last_repeated_status_wins(api):
    store = api.app.store
    store.bulk_insert_servers(sample_servers(3, status="ready"))
    store.bulk_insert_servers(sample_servers(2, start=10, status="in_use", managed=False))
    store.bulk_insert_servers(sample_servers(1, start=20, status="pending_setup"))

    def handles(query: str) -> list[str]:
        response = api.http.get(f"/api/servers/?{query}")
        assert_response_conforms("GET", "/api/servers/", response.status_code, response.json())
        return [s["handle"] for s in response.json()]

    assert len(handles("")) == 6
    assert handles("status=ready&status=pending_setup") == ["vps-20"], "only the last value counts"
    assert handles("status=in_use&is_managed=false") == ["vps-10", "vps-11"]
    assert handles("status=ready&is_managed=false") == []
    assert handles("status=bogus") == [], "an unknown status matches nothing (no 422)"
