"""The OpenAPI checks themselves (tests/platform_conformance.py) catch what the real platform
would refuse or answer differently, and pass what its document declares."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.platform_conformance import (
    CheckedTransport,
    Nonconformance,
    assert_request_conforms,
    assert_response_conforms,
    operation,
)

SERVER = {"created_at": "2026-01-01T00:00:00", "handle": "vps-1", "host": "127.0.0.1", "public_ip": "127.0.0.1"}


def test_exact_paths_literal_segments_first_and_the_missing_slash_named():
    assert operation("GET", "/api/servers/")[0] == "/api/servers/"
    assert operation("GET", "/api/incidents/active")[0] == "/api/incidents/active"
    assert operation("GET", "/api/incidents/7")[0] == "/api/incidents/{incident_id}"
    assert operation("DELETE", "/api/servers/metrics-history")[0] == "/api/servers/metrics-history"
    with pytest.raises(Nonconformance, match="answers 307"):
        operation("GET", "/api/servers")
    with pytest.raises(Nonconformance, match="no such operation"):
        operation("POST", "/api/servers/health-reports")


def test_query_parameters_are_declared_scalars():
    assert_request_conforms("GET", "/api/servers/", params={"status": "ready", "is_managed": "true"})
    with pytest.raises(Nonconformance, match="repeated"):
        assert_request_conforms("GET", "/api/servers/", params=[("status", "ready"), ("status", "in_use")])
    with pytest.raises(Nonconformance, match="not declared"):
        assert_request_conforms("GET", "/api/servers/", params={"provider": "time4vps"})


def test_request_bodies_validate_against_the_declared_schema():
    assert_request_conforms(
        "POST",
        "/api/servers/",
        body={"handle": "vps-1", "host": "h", "public_ip": "1.2.3.4", "labels": {"provider_id": "1"}},
    )
    with pytest.raises(Nonconformance, match="public_ip"):
        assert_request_conforms("POST", "/api/servers/", body={"handle": "vps-1", "host": "h"})
    with pytest.raises(Nonconformance, match="ssh_user"):
        assert_request_conforms(
            "POST", "/api/servers/", body={"handle": "vps-1", "host": "h", "public_ip": "1", "ssh_user": "Root!"}
        )


def test_responses_validate_and_undeclared_statuses_are_only_the_known_quirks():
    assert_response_conforms("GET", "/api/servers/", 200, [SERVER])
    with pytest.raises(Nonconformance, match="host"):
        assert_response_conforms("GET", "/api/servers/", 200, [{**SERVER, "host": None}])
    assert_response_conforms("GET", "/api/servers/vps-1", 404, {"detail": "Server not found"})
    with pytest.raises(Nonconformance, match="detail"):
        assert_response_conforms("GET", "/api/servers/vps-1", 404, {"error": "nope"})
    with pytest.raises(Nonconformance, match="not declared"):
        assert_response_conforms("GET", "/api/servers/vps-1", 418, {"detail": "teapot"})


def test_the_checked_transport_fails_at_the_first_breach_and_records_the_rest():
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/servers/":
            return httpx.Response(200, json=[SERVER])
        return httpx.Response(200, json=[{"handle": "no timestamps"}])

    async def scenario():
        transport = CheckedTransport(httpx.MockTransport(answer))
        async with httpx.AsyncClient(transport=transport, base_url="http://platform.test") as client:
            assert (await client.get("/api/servers/", params={"status": "ready"})).json() == [SERVER]
            with pytest.raises(Nonconformance, match="307"):
                await client.get("/api/servers")
            with pytest.raises(Nonconformance, match="/api/incidents/active 200 response"):
                await client.get("/api/incidents/active")
        return transport.exchanges

    assert asyncio.run(scenario()) == [("GET", "/api/servers/", 200)]
