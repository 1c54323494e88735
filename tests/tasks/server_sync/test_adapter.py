"""The Time4VPS adapter against the sandbox stand-in and against the provider's own example bodies
(``tests/fixtures/time4vps``), quirks included: every 401 reason, waits, outages, hostile values."""

from __future__ import annotations

import asyncio
import json

import fakeredis
import fakeredis.aioredis
import httpx
import pytest

from actors.adapters.time4vps.client import Time4VpsClient
from actors.adapters.time4vps.errors import Time4VpsRefused, Time4VpsThrottled, Time4VpsUnavailable
from actors.adapters.time4vps.settings import Time4VpsSettings
from actors.configuration import absent_credentials, check_task
from contracts import Keys, TaskName
from contracts.time4vps import Time4VpsErrorKind
from process.errors import ConfigurationError
from sandbox.http import ServedApp
from sandbox.time4vps.app import time4vps_app
from sandbox.world import World
from tests.support import FIXTURES

T4V = FIXTURES / "time4vps"
USER, PASSWORD = "ops@example.test", "pl4nted-t4v-password"


def settings(url: str = "http://127.0.0.1:9/api", **values) -> Time4VpsSettings:
    return Time4VpsSettings(
        time4vps_api_url=url,
        time4vps_username=USER,
        time4vps_password=PASSWORD,
        **{f"time4vps_{k}": v for k, v in values.items()},
    )


class Sleeps:
    """Records the waits the client asks for instead of sitting them out."""

    def __init__(self):
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)


def answering(*bodies: tuple[int, bytes | str]) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A transport answering ``bodies`` in turn (the last one again once they run out)."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status, body = bodies[min(len(seen), len(bodies)) - 1]
        return httpx.Response(status, content=body if isinstance(body, bytes) else body.encode())

    return httpx.MockTransport(handle), seen


def client_of(*bodies, **values) -> tuple[Time4VpsClient, list[httpx.Request], Sleeps]:
    transport, seen = answering(*bodies)
    sleeps = Sleeps()
    return Time4VpsClient(settings(**values), transport=transport, sleep=sleeps), seen, sleeps


def session_call(client: Time4VpsClient, call, server: fakeredis.FakeServer | None = None):
    async def go():
        session = client.session(fakeredis.aioredis.FakeRedis(server=server or fakeredis.FakeServer()))
        return await call(session), session

    return asyncio.run(go())


# ---- the provider's example bodies -------------------------------------------------------------------


def test_the_documented_list_example_one_object_not_an_array_is_read():
    client, seen, _ = client_of((200, (T4V / "server-list.json").read_bytes()))
    listing, _ = session_call(client, lambda s: s.list_servers())
    assert listing.complete and [(s.server_id, s.ip, s.type) for s in listing.servers] == [(110, "1.2.3.4", "OpenVZ")]
    assert seen[0].url.path == "/api/server" and seen[0].headers["authorization"].startswith("Basic ")


def test_the_documented_details_example_with_its_nulls_and_other_date_format_is_read():
    client, seen, _ = client_of((200, (T4V / "server-details.json").read_bytes()))
    details, _ = session_call(client, lambda s: s.server_details(748457))
    assert seen[0].url.path == "/api/server/748457"
    assert (details.status, details.cpu_cores, details.ram_limit, details.disk_limit, details.os) == (
        "Active",
        1,
        462,
        12107,
        "ubuntu-16.04-x86_64",
    )
    assert details.dns_servers is None and details.synch_date.utcoffset().total_seconds() == 0


def test_ids_as_strings_and_empty_dates_are_read_and_a_bad_item_makes_the_listing_incomplete():
    items = [
        {"server_id": "301", "domain": "a.test", "ip": "192.0.2.1", "synch_date": "0000-00-00 00:00:00"},
        {"server_id": 302, "domain": "b.test", "ip": None, "date_created": ""},
        {"domain": "no-id.test"},
    ]
    client, _, _ = client_of((200, json.dumps(items)))
    listing, _ = session_call(client, lambda s: s.list_servers())
    assert [s.server_id for s in listing.servers] == [301, 302] and listing.servers[1].ip is None
    assert (listing.skipped, listing.complete) == (1, False)


@pytest.mark.parametrize(
    "bad",
    [
        {"server_id": True},
        {"server_id": -4},
        {"server_id": 0},
        {"server_id": "12; rm -rf /"},
        {"server_id": 10**30},
        {"server_id": 5.5},
        {"ip": "1.2.3.4; reboot"},
        {"ip": "<script>alert(1)</script>"},
        {"ip": "999.1.1.1"},
        {"ip": "１.２.３.４"},
        {"ip": ["1.2.3.4"]},
        {"synch_date": "yesterday"},
    ],
)
def test_hostile_list_items_are_skipped_one_by_one(bad):
    good = {"server_id": 1, "domain": "ok.test", "ip": "192.0.2.1"}
    client, _, _ = client_of((200, json.dumps([good, {**good, "server_id": 2, **bad}])))
    listing, _ = session_call(client, lambda s: s.list_servers())
    assert [s.server_id for s in listing.servers] == [1] and not listing.complete


@pytest.mark.parametrize(
    "bad", [{"cpu_cores": -1}, {"ram_limit": 10**20}, {"disk_limit": "lots"}, {"cpu_cores": True}, {"ip": "not-an-ip"}]
)
def test_a_hostile_details_body_is_counted_and_left_for_a_later_run(bad):
    body = json.loads((T4V / "server-details.json").read_text())
    client, _, _ = client_of((200, json.dumps({**body, **bad})))
    details, session = session_call(client, lambda s: s.server_details(5))
    assert details is None and session.invalid_details == 1


def test_markup_shell_and_odd_unicode_in_texts_are_kept_verbatim():
    label, domain, os_name = "<b>web</b>\u202e$(reboot)", "vps.té\u200bst; `id`", "ubuntu'; DROP TABLE servers;--"
    client, _, _ = client_of(
        (200, json.dumps([{"server_id": 9, "domain": domain, "label": label, "ip": "::1"}])),
    )
    listing, _ = session_call(client, lambda s: s.list_servers())
    assert (listing.servers[0].label, listing.servers[0].domain, listing.servers[0].ip) == (label, domain, "::1")
    body = json.loads((T4V / "server-details.json").read_text())
    client, _, _ = client_of((200, json.dumps({**body, "os": os_name, "label": label})))
    details, _ = session_call(client, lambda s: s.server_details(9))
    assert details.os == os_name and details.label == label


# ---- the three 401s ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "says"),
    [
        ("wronglogin", Time4VpsErrorKind.WRONG_LOGIN, "check TIME4VPS_USERNAME and TIME4VPS_PASSWORD"),
        (
            "ipnotallowed",
            Time4VpsErrorKind.IP_NOT_ALLOWED,
            "allow this host's outgoing IP for the API in the Time4VPS client area",
        ),
    ],
)
def test_a_refused_login_or_address_is_a_configuration_error_that_says_what_to_fix(name, kind, says):
    client, seen, _ = client_of((401, (T4V / "errors" / f"{name}.json").read_bytes()))
    with pytest.raises(Time4VpsRefused) as refused:
        session_call(client, lambda s: s.list_servers())
    assert refused.value.kind is kind and says in str(refused.value)
    assert PASSWORD not in str(refused.value) and len(seen) == 1, "not retried"


def test_an_error_body_is_read_whatever_the_status_as_time4vps_own_library_does():
    client, _, _ = client_of((200, (T4V / "errors" / "wronglogin.json").read_bytes()))
    with pytest.raises(Time4VpsRefused):
        session_call(client, lambda s: s.list_servers())


def test_a_short_wait_between_actions_is_sat_out_inside_the_run():
    client, seen, sleeps = client_of(
        (401, (T4V / "errors" / "wait_x_between_action.json").read_bytes()), (200, "[]"), max_wait_s=30
    )
    listing, session = session_call(client, lambda s: s.list_servers())
    assert listing.complete and sleeps.asked == [24] and session.waited_s == 24 and len(seen) == 2


def test_a_long_wait_stops_the_run_and_is_remembered_so_no_request_goes_out_before_it_ends():
    client, seen, sleeps = client_of((401, (T4V / "errors" / "wait_x_between_action.json").read_bytes()), max_wait_s=10)
    server = fakeredis.FakeServer()
    with pytest.raises(Time4VpsThrottled) as throttled:
        session_call(client, lambda s: s.list_servers(), server)
    assert throttled.value.wait_s == 24 and sleeps.asked == []
    assert fakeredis.FakeRedis(server=server).get(Keys.TIME4VPS_THROTTLED_UNTIL) is not None
    with pytest.raises(Time4VpsThrottled):  # the next tick, on any worker: not even asked
        session_call(client, lambda s: s.list_servers(), server)
    assert len(seen) == 1


@pytest.mark.parametrize(
    "body",
    [
        '{"error":[["wait_x_between_action","soon"],"unauthorized"]}',
        '{"error":[["wait_x_between_action",-5],"unauthorized"]}',
        '{"error":[["wait_x_between_action",0],"unauthorized"]}',
        '{"error":[["wait_x_between_action",99999999],"unauthorized"]}',
    ],
)
def test_odd_wait_values_neither_crash_nor_wait_forever(body):
    client, _, _ = client_of((401, body), max_wait_s=5)
    with pytest.raises(Time4VpsThrottled) as throttled:
        session_call(client, lambda s: s.list_servers())
    assert 1 <= throttled.value.wait_s <= 3600


# ---- outages -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", [(503, "busy"), (200, "<html>maintenance</html>"), (200, '"a string"')])
def test_5xx_and_bodies_that_are_not_a_listing_are_retried_then_unavailable(answer):
    client, seen, sleeps = client_of(answer, max_attempts=3)
    with pytest.raises(Time4VpsUnavailable):
        session_call(client, lambda s: s.list_servers())
    assert len(seen) == (3 if answer[1] != '"a string"' else 1) and len(sleeps.asked) == len(seen) - 1


def test_a_failure_then_an_answer_is_one_listing():
    client, seen, _ = client_of((502, ""), (200, '[{"server_id": 1, "domain": "a.test", "ip": "192.0.2.1"}]'))
    listing, session = session_call(client, lambda s: s.list_servers())
    assert len(listing.servers) == 1 and session.requests["list"] == 2


def test_details_of_a_server_gone_since_the_listing_are_none():
    client, _, _ = client_of((404, '{"error":["Invalid server ID"]}'))
    assert session_call(client, lambda s: s.server_details(1))[0] is None


def test_a_missing_setting_names_the_variables_and_never_quotes_the_password(monkeypatch):
    monkeypatch.delenv("TIME4VPS_USERNAME", raising=False)
    monkeypatch.setenv("TIME4VPS_PASSWORD", PASSWORD)
    monkeypatch.setenv("TIME4VPS_MAX_ATTEMPTS", "0")
    with pytest.raises(ConfigurationError) as refused:
        Time4VpsSettings.from_env()
    assert str(refused.value) == "Time4VPS not configured: check TIME4VPS_MAX_ATTEMPTS, TIME4VPS_USERNAME"


# ---- the sandbox stand-in ---------------------------------------------------------------------------


def test_against_the_sandbox_every_server_is_listed_and_its_details_match_the_world():
    world = World.generate(seed=3, repos=0, servers=12)
    with ServedApp(time4vps_app(world, USER, PASSWORD)) as served:
        client = Time4VpsClient(settings(f"{served.url}/api"))
        listing, _ = session_call(client, lambda s: s.list_servers())
        assert listing.complete and {s.server_id for s in listing.servers} == set(world.servers)
        some = world.server_list()[4]
        details, session = session_call(client, lambda s: s.server_details(some.server_id))
        assert (details.cpu_cores, details.ram_limit, details.disk_limit, details.os, details.ip) == (
            some.cpu_cores,
            some.ram_mb,
            some.disk_mb,
            some.os,
            some.public_ip,
        )
        assert session.requests == {"details": 1}

        wrong = Time4VpsClient(
            Time4VpsSettings(time4vps_api_url=f"{served.url}/api", time4vps_username=USER, time4vps_password="not-it")
        )
        with pytest.raises(Time4VpsRefused) as refused:
            session_call(wrong, lambda s: s.list_servers())
        assert refused.value.kind is Time4VpsErrorKind.WRONG_LOGIN


def test_without_time4vps_credentials_the_task_is_not_configured_and_a_bad_setting_is_named(monkeypatch):
    platform = {"API_BASE_URL": "http://127.0.0.1:1", "INTERNAL_API_KEY": "k" * 8}
    assert absent_credentials(TaskName.SERVER_SYNC, platform) == ["TIME4VPS_PASSWORD or TIME4VPS_USERNAME"]
    assert absent_credentials(TaskName.SERVER_SYNC, {**platform, "TIME4VPS_USERNAME": USER}) == []
    for name, value in {**platform, "TIME4VPS_USERNAME": USER, "TIME4VPS_MANAGED_SERVER_IDS": "all"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TIME4VPS_PASSWORD", raising=False)
    assert sorted(p.variable for p in check_task(TaskName.SERVER_SYNC)) == [
        "TIME4VPS_MANAGED_SERVER_IDS",
        "TIME4VPS_PASSWORD",
    ]
    monkeypatch.setenv("TIME4VPS_MANAGED_SERVER_IDS", "*")  # the platform would refuse to start: so do we
    problems = check_task(TaskName.SERVER_SYNC)
    assert [p.variable for p in problems if "MANAGE" in p.variable] == ["TIME4VPS_MANAGED_SERVER_IDS"]
    assert "TIME4VPS_MANAGE_ALL=true" in str([str(p) for p in problems])
    monkeypatch.setenv("TIME4VPS_MANAGED_SERVER_IDS", "1,2")
    monkeypatch.setenv("TIME4VPS_MANAGE_ALL", "true")
    assert "TIME4VPS_MANAGE_ALL" in [p.variable for p in check_task(TaskName.SERVER_SYNC)]
