"""Incidents and the metrics history: the platform client against the stand-in, every request
and answer held against the real platform's openapi.json; the stand-in's quirks as the real
service has them (no dedupe, ``resolved_at`` only when sent, 500 on an unknown server); the
shared incident opener (claimed, looked up, created once)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from actors.adapters.platform.client import PlatformAPIError, PlatformClient, PlatformUnavailable, UnwritableRecord
from actors.tasks.incidents import IncidentOpener, Outcome
from contracts import Keys
from contracts.platform import (
    IncidentCreate,
    IncidentStatus,
    IncidentType,
    IncidentUpdate,
    ServerCreate,
    ServerHealthUpdate,
    ServerStatus,
)
from sandbox.http import ServedApp
from sandbox.platform.api import DEFAULT_API_KEY, create_app
from tests.platform_conformance import CheckedTransport, assert_response_conforms
from tests.support import run_async, wait_until_async

KEY = {"X-Internal-Key": DEFAULT_API_KEY}


@pytest.fixture
def platform():
    """The sandbox platform API (SQLite in memory), served; ``platform.url`` is its base URL."""
    app = create_app()
    with ServedApp(app) as served:
        app.url = served.url
        yield app


def seed(platform, *handles: str) -> None:
    platform.store.bulk_insert_servers(
        [
            ServerCreate(
                handle=h,
                host="127.1.0.1",
                public_ip="127.1.0.1",
                is_managed=True,
                status=ServerStatus.READY,
                labels={"provider_id": h},
            )
            for h in handles
        ]
    )


def checked(platform) -> tuple[PlatformClient, CheckedTransport]:
    transport = CheckedTransport()
    return PlatformClient(
        platform.url, SecretStr(DEFAULT_API_KEY), max_attempts=2, backoff_base=0.01, transport=transport
    ), transport


def raw(platform, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, platform.url + path, headers=KEY, **kwargs)


def test_incidents_as_the_platform_has_them_every_exchange_conforming(platform):
    seed(platform, "vps-1")
    api, transport = checked(platform)
    create = IncidentCreate(
        server_handle="vps-1", incident_type=IncidentType.SERVICE_DOWN, details={"opened_by": "scheduler"}
    )

    async def scenario():
        first, second = await api.create_incident(create), await api.create_incident(create)
        active = await api.list_active_incidents()
        by_type = await api.list_incidents(server_handle="vps-1", incident_type=IncidentType.SERVICE_DOWN)
        resolved = await api.resolve_incident(first.id, details={"resolution": "gone"})
        detected = await api.list_incidents(status=IncidentStatus.DETECTED)
        return first, second, active, by_type, resolved, detected

    first, second, active, by_type, resolved, detected = asyncio.run(scenario())
    assert first.id != second.id, "the platform does not deduplicate: two creates are two incidents"
    assert [i.id for i in active] == [second.id, first.id] == [i.id for i in by_type], "newest first"
    assert first.opened_by_scheduler and first.created_at and first.recovery_attempts == 0
    assert resolved.status is IncidentStatus.RESOLVED and resolved.resolved_at is not None
    assert resolved.details == {"resolution": "gone"}, "details are replaced as a whole"
    assert [i.id for i in detected] == [second.id]
    assert {(m, p) for m, p, _ in transport.exchanges} == {
        ("POST", "/api/incidents/"),
        ("GET", "/api/incidents/active"),
        ("GET", "/api/incidents/"),
        ("PATCH", f"/api/incidents/{first.id}"),
    }


def test_the_stand_in_keeps_the_platform_quirks(platform):
    seed(platform, "vps-1")
    made = raw(
        platform,
        "POST",
        "/api/incidents/",
        json={
            "server_handle": "vps-1",
            "incident_type": "service_down",
            "detected_at": "2001-01-01T00:00:00Z",
            "bogus": 1,
        },
    )
    assert made.status_code == 201, "unknown fields are ignored, detected_at is the platform's"
    assert_response_conforms("POST", "/api/incidents/", 201, made.json())
    assert made.json()["detected_at"].startswith(str(datetime.now(UTC).year)) and "Z" not in made.json()["detected_at"]
    only_status = raw(platform, "PATCH", f"/api/incidents/{made.json()['id']}", json={"status": "resolved"})
    assert only_status.json()["resolved_at"] is None, "{'status': 'resolved'} alone leaves resolved_at null"
    offset = raw(
        platform, "PATCH", f"/api/incidents/{made.json()['id']}", json={"resolved_at": "2026-01-01T14:00:00+02:00"}
    )
    assert offset.json()["resolved_at"] == "2026-01-01T12:00:00", "an offset is converted to naive UTC"
    unknown = raw(
        platform, "POST", "/api/incidents/", json={"server_handle": "vps-404", "incident_type": "service_down"}
    )
    assert (unknown.status_code, unknown.text) == (500, "Internal Server Error")
    for body, where in (
        ({"server_handle": "vps-1", "incident_type": "host_key_mismatch"}, "incident_type"),
        ({"incident_type": "server_unreachable"}, "server_handle is required"),
    ):
        refused = raw(platform, "POST", "/api/incidents/", json=body)
        assert refused.status_code == 422 and refused.json()["body"] == body and where in refused.text
    assert raw(platform, "GET", "/api/incidents", follow_redirects=False).status_code == 307
    assert raw(platform, "PATCH", "/api/incidents/999", json={}).json() == {"detail": "Incident not found"}
    assert [i["id"] for i in raw(platform, "GET", "/api/incidents/?status=resolved&status=detected").json()] == [], (
        "a repeated filter keeps the last value"
    )


def test_our_side_stays_strict():
    with pytest.raises(ValidationError, match="resolved_at"):
        IncidentUpdate(status=IncidentStatus.RESOLVED)
    with pytest.raises(ValidationError, match="needs a server_handle"):
        IncidentCreate(incident_type=IncidentType.SERVER_UNREACHABLE)
    with pytest.raises(ValidationError, match="no server_handle"):
        IncidentCreate(server_handle="vps-1", incident_type=IncidentType.PROVIDER_API_UNAVAILABLE)
    with pytest.raises(ValidationError):
        IncidentCreate(server_handle="vps-1", incident_type="host_key_mismatch")
    with pytest.raises(ValidationError, match="Extra inputs"):
        IncidentCreate(server_handle="vps-1", incident_type=IncidentType.SERVICE_DOWN, detected_at=datetime.now(UTC))
    with pytest.raises(ValidationError, match="Extra inputs"):
        ServerHealthUpdate(health_status="healthy")
    sent = IncidentUpdate(
        status=IncidentStatus.RESOLVED, resolved_at=datetime(2026, 1, 1, 14, tzinfo=UTC) + timedelta(hours=0)
    ).changes()
    assert sent["resolved_at"].endswith(("Z", "+00:00"))


def test_an_unknown_server_is_the_platforms_500_and_a_create_is_sent_once(platform):
    api, _ = checked(platform)
    plain = PlatformClient(platform.url, SecretStr(DEFAULT_API_KEY), max_attempts=4, backoff_base=0.01)
    with pytest.raises(PlatformUnavailable) as raised:
        asyncio.run(
            plain.create_incident(IncidentCreate(server_handle="vps-404", incident_type=IncidentType.SERVICE_DOWN))
        )
    assert raised.value.attempts == 1 and platform.counters.requests["POST /api/incidents/"] == 1


def test_server_health_and_its_metrics_history(platform):
    seed(platform, "vps-1", "vps-2")
    api, transport = checked(platform)
    now = datetime.now(UTC).replace(microsecond=0)
    platform.store.add_metrics_history("vps-2", {"old": True}, recorded_at=now - timedelta(hours=200))

    async def scenario():
        read = await api.record_server_health(
            "vps-1",
            ServerHealthUpdate(
                last_health_check=now,
                load_avg_1m=0.5,
                load_avg_5m=0.25,
                load_avg_15m=0.0,
                uptime_seconds=120,
                container_count_running=1,
                container_count_total=2,
                used_disk_mb=1000,
                used_ram_mb=512,
            ),
        )
        entry = await api.add_metrics_history("vps-1", {"load_avg_1m": 0.5})
        missing = None
        try:
            await api.add_metrics_history("vps-404", {})
        except PlatformAPIError as exc:
            missing = exc.status
        pruned = await api.prune_metrics_history(168)
        state, gone = await api.get_server_health("vps-1"), await api.get_server_health("vps-404")
        return read, entry, missing, pruned, state, gone

    read, entry, missing, pruned, state, gone = asyncio.run(scenario())
    assert read.last_health_check == now and (state.status, state.is_managed) == ("ready", True) and gone is None
    stored = platform.store.get_server("vps-1")
    assert (
        stored["load_avg_1m"],
        stored["uptime_seconds"],
        stored["used_ram_mb"],
        stored["container_count_total"],
    ) == (0.5, 120, 512, 2)
    assert stored["last_health_check"] == now.replace(tzinfo=None).isoformat(), "sent as UTC, stored naive"
    assert entry.server_handle == "vps-1" and entry.metrics == {"load_avg_1m": 0.5} and missing == 404
    assert pruned.deleted == 1 and platform.store.metrics_history_count() == 1
    assert ("DELETE", "/api/servers/metrics-history", 200) in transport.exchanges
    with pytest.raises(ValueError):
        asyncio.run(api.prune_metrics_history(0))


# --- the opener: at most one active incident of a kind, whatever retries and races ----------------


async def _gone(aredis, key: str) -> bool:
    return not await aredis.exists(key)


def _create(handle="vps-1"):
    return IncidentCreate(
        server_handle=handle, incident_type=IncidentType.SERVICE_DOWN, details={"opened_by": "scheduler"}
    )


def test_the_opener_looks_up_before_it_creates_and_claims_the_kind(client, platform):
    seed(platform, "vps-1")
    api, _ = checked(platform)

    async def scenario(aredis):
        opener = IncidentOpener(api, aredis)
        first = await opener.open(_create())
        raced = await opener.open(_create())  # another worker, the same moment: the claim holds it off
        await aredis.delete(Keys.incident_claim("vps-1", "service_down"))
        later = await opener.open(_create())  # the claim gone: the lookup finds the open one
        return first, raced, later

    first, raced, later = run_async(client, scenario)
    assert (first.outcome, raced.outcome, later.outcome) == (
        Outcome.OPENED,
        Outcome.CLAIMED_ELSEWHERE,
        Outcome.ALREADY_OPEN,
    )
    assert later.incident.id == first.incident.id and len(platform.store.list_incidents()) == 1


def test_a_create_whose_answer_was_lost_is_not_made_twice(client, platform):
    seed(platform, "vps-1")
    # not the checked transport: an injected 504 is the network's, not the platform's
    api = PlatformClient(platform.url, SecretStr(DEFAULT_API_KEY), max_attempts=4, backoff_base=0.01)
    platform.faults.update(lost_rate=1.0, methods="POST")  # applied, then answered 504

    async def scenario(aredis):
        opener = IncidentOpener(api, aredis, claim_ms=300)
        with pytest.raises(PlatformUnavailable):
            await opener.open(_create())
        platform.faults.update(lost_rate=0.0)
        retried_at_once = await opener.open(_create())  # a retry of the message: the claim still holds
        claim = Keys.incident_claim("vps-1", IncidentType.SERVICE_DOWN.value)
        await wait_until_async(lambda: _gone(aredis, claim), timeout=5)  # its 300 ms lapsed in Redis
        retried_later = await opener.open(_create())  # the next run: looked up, found
        return retried_at_once, retried_later

    at_once, later = run_async(client, scenario)
    assert at_once.outcome is Outcome.CLAIMED_ELSEWHERE and later.outcome is Outcome.ALREADY_OPEN
    assert len(platform.store.list_incidents()) == 1
    assert platform.counters.requests["POST /api/incidents/"] == 1


def test_an_unknown_outcome_keeps_the_claim(client, platform):
    plain = PlatformClient(platform.url, SecretStr(DEFAULT_API_KEY), max_attempts=1)

    async def scenario(aredis):
        with pytest.raises(PlatformUnavailable):  # unknown server: the platform's 500
            await IncidentOpener(plain, aredis).open(_create("vps-404"))
        return await aredis.exists(Keys.incident_claim("vps-404", "service_down"))

    assert run_async(client, scenario) == 1, "a 500 may have committed: the claim stays until it expires"


def test_a_refused_or_unsendable_create_lets_go_of_its_claim(client, platform):
    seed(platform, "vps-1")
    api, _ = checked(platform)
    unsendable = IncidentCreate(
        server_handle="vps-1",
        incident_type=IncidentType.SERVICE_DOWN,
        details={"opened_by": "scheduler", "reason": "nul \x00 in it"},
    )

    async def scenario(aredis):
        with pytest.raises(UnwritableRecord):
            await IncidentOpener(api, aredis).open(unsendable)
        return await aredis.exists(Keys.incident_claim("vps-1", "service_down"))

    assert run_async(client, scenario) == 0, "nothing was sent: nothing to hold off"
    assert platform.store.list_incidents() == []
