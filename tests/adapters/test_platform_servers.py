"""The platform client's servers methods against the stand-in, served on loopback, with every
request and every answer held against the real service's OpenAPI document (``CheckedTransport``)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from actors.adapters.platform.client import PlatformAPIError, PlatformClient, PlatformUnavailable
from contracts.platform import ServerCreate, ServerStatus, ServerUpdate
from sandbox.http import ServedApp
from sandbox.platform.api import create_app, sample_servers
from tests.platform_conformance import assert_request_conforms, assert_response_conforms

KEY = "planted-platform-key-servers"


class Checked(httpx.AsyncBaseTransport):
    """Every request and answer held against the document (as ``CheckedTransport``), except the
    answers of the stand-in's injected faults: a gateway's words, not the service's."""

    def __init__(self):
        self.inner = httpx.AsyncHTTPTransport()
        self.exchanges: list[tuple[str, str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        assert_request_conforms(
            request.method,
            path,
            body=json.loads(request.content) if request.content else None,
            params=list(request.url.params.multi_items()),
        )
        response = await self.inner.handle_async_request(request)
        raw = await response.aread()
        if not (response.status_code in (503, 504) and b"injected fault" in raw):
            assert_response_conforms(request.method, path, response.status_code, json.loads(raw) if raw else None)
        self.exchanges.append((request.method, path, response.status_code))
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() != "content-encoding"]
        return httpx.Response(response.status_code, headers=headers, content=raw, request=request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def platform():
    app = create_app(api_key=KEY)
    with ServedApp(app) as served:
        app.url = served.url
        yield app


def run(platform, scenario, **options):
    transport = Checked()
    options = {"backoff_base": 0.001, "max_attempts": 3, "transport": transport, **options}

    async def main():
        async with PlatformClient(platform.url, SecretStr(KEY), **options) as client:
            return await scenario(client)

    return asyncio.run(main()), transport


def new_server(pid: int, **fields) -> ServerCreate:
    return ServerCreate(
        handle=f"vps-{pid}",
        host=f"10.9.0.{pid}",
        public_ip=f"10.9.0.{pid}",
        is_managed=True,
        status=ServerStatus.PENDING_SETUP,
        labels={"provider": "time4vps", "provider_id": str(pid)},
        **fields,
    )


def test_round_trip_create_update_get_and_list_one_request_per_status(platform):
    platform.store.bulk_insert_servers(sample_servers(4))

    async def scenario(client):
        new = await client.create_server(new_server(900, capacity_cpu=4, capacity_ram_mb=8192))
        patched = await client.update_server(
            "vps-900", ServerUpdate(status=ServerStatus.READY, capacity_disk_mb=81920, os_template="debian-12")
        )
        await client.update_server("vps-2", ServerUpdate(status=ServerStatus.IN_USE))
        await client.update_server("vps-3", ServerUpdate(is_managed=False))
        listing = await client.list_servers(statuses=[ServerStatus.READY, ServerStatus.IN_USE], is_managed=True)
        return new, patched, listing, await client.get_server("vps-2"), await client.find_server("vps-404")

    (new, patched, listing, second, absent), transport = run(platform, scenario)
    assert (new.status, new.ssh_user, new.provider_id, new.provider, new.capacity_cpu) == (
        ServerStatus.PENDING_SETUP,
        "root",
        "900",
        "time4vps",
        4,
    )
    assert new.capacity_disk_mb == 10240 and new.created_at.tzinfo is UTC
    assert (patched.status, patched.capacity_disk_mb, patched.os_template) == (ServerStatus.READY, 81920, "debian-12")
    assert [s.handle for s in listing] == ["vps-1", "vps-4", "vps-900", "vps-2"], "ready first, then in_use"
    assert second.status is ServerStatus.IN_USE and absent is None
    lists = [(m, p) for m, p, _ in transport.exchanges if m == "GET" and p == "/api/servers/"]
    assert len(lists) == 2, "one request per status value: the platform keeps only the last of a repeat"
    assert platform.counters.requests["POST /api/servers/"] == 1


def test_a_record_the_platform_holds_with_a_status_we_do_not_know_is_skipped_and_counted(platform):
    platform.store.bulk_insert_servers(sample_servers(3))
    platform.store.update_server("vps-2", {"status": "sleeping"})  # the platform does not validate it on PATCH
    platform.store.update_server("vps-3", {"labels": {"provider_id": "3", "x": "new"}, "fan_speed": 3})
    listing, _ = run(platform, lambda client: client.list_servers())
    assert [s.handle for s in listing] == ["vps-1", "vps-3"] and listing.skipped == 1
    assert listing.items[1].labels == {"provider_id": "3", "x": "new"} and listing.items[1].provider is None


def test_update_sends_only_the_fields_set_and_timestamps_as_naive_utc(platform):
    platform.store.bulk_insert_servers(sample_servers(1))
    checked = datetime(2026, 3, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    changes = ServerUpdate(last_health_check=checked, load_avg_1m=0.5)
    assert changes.changes() == {"last_health_check": "2026-03-01T12:30:00", "load_avg_1m": 0.5}
    server, _ = run(platform, lambda client: client.update_server("vps-1", changes))
    assert server.last_health_check == datetime(2026, 3, 1, 12, 30, tzinfo=UTC), "stored as 12:30 UTC, not 14:30"
    assert platform.store.get_server("vps-1")["capacity_cpu"] == 2, "nothing else touched"


@pytest.mark.parametrize(
    "fields",
    [
        {"handle": "other"},
        {"ssh_port": 2222},
        {"specs": {}},
        {"health_status": "ok"},
        {"ssh_key": "-----BEGIN"},
        {"host": None},
        {"capacity_cpu": 2**31},
        {"ssh_user": "Root User"},
        {"status": "sleeping"},
    ],
)
def test_our_update_refuses_what_the_platform_would_drop_silently_or_break_on(fields):
    with pytest.raises(ValidationError):
        ServerUpdate(**fields)


@pytest.mark.parametrize(
    "fields", [{"capacity_disk_mb": 1}, {"notes": "x"}, {"provider": "time4vps"}, {"ssh_port": 22}]
)
def test_our_create_refuses_what_the_platform_ignores_on_create(fields):
    with pytest.raises(ValidationError):
        new_server(1, **fields)


def test_a_create_whose_answer_is_lost_after_it_committed_is_found_not_posted_again(platform):
    platform.faults.update(lost_rate=1.0, methods="POST")
    server, transport = run(platform, lambda client: client.create_server(new_server(7)))
    assert server.handle == "vps-7" and server.provider_id == "7"
    assert platform.counters.faults["lost"] == 1 and platform.counters.requests["POST /api/servers/"] == 1
    assert [(m, p, s) for m, p, s in transport.exchanges] == [
        ("POST", "/api/servers/", 504),
        ("GET", "/api/servers/vps-7", 200),
    ]
    assert len(platform.store.list_servers()) == 1


def test_a_create_that_did_not_commit_is_posted_again_after_the_lookup_finds_nothing(platform):
    platform.faults.update(error_rate=0.5, methods="POST", seed=3)  # some POSTs refused before they commit
    servers, _ = run(
        platform,
        lambda client: asyncio.gather(*(client.create_server(new_server(n)) for n in range(1, 7))),
        max_attempts=6,
    )
    assert sorted(s.handle for s in servers) == [f"vps-{n}" for n in range(1, 7)]
    assert platform.counters.faults["5xx"] >= 1 and len(platform.store.list_servers()) == 6


def test_a_duplicate_handle_is_answered_with_the_record_when_it_is_ours_and_refused_when_not(platform):
    platform.store.create_server(new_server(7))
    platform.store.create_server(new_server(8).model_copy(update={"labels": {"provider_id": "999"}}))
    found, _ = run(platform, lambda client: client.create_server(new_server(7)))
    assert found.handle == "vps-7"
    with pytest.raises(PlatformAPIError) as refused:
        run(platform, lambda client: client.create_server(new_server(8)))
    assert refused.value.status == 400 and refused.value.per_record


def test_a_create_whose_answers_are_all_lost_and_never_found_fails_as_unavailable(platform):
    platform.faults.update(error_rate=1.0, methods="POST")
    with pytest.raises(PlatformUnavailable):
        run(platform, lambda client: client.create_server(new_server(7)))
    assert platform.counters.faults["5xx"] == 3 and platform.store.list_servers() == []
