"""The Time4VPS stand-in answers like the provider: an array of servers, details without ids, three 401s."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from contracts.time4vps import ServerDetails, ServerListItem, Time4VpsErrorKind, parse_error
from sandbox.http import ServedApp
from sandbox.time4vps.app import time4vps_app
from sandbox.world import World
from tests.support import FIXTURES

TIME4VPS = FIXTURES / "time4vps"

USER, PASSWORD = "ops@example.test", "s3cret-pass"


@pytest.fixture
def world() -> World:
    return World.generate(seed=11, repos=0, servers=25)


@pytest.fixture
def app(world, clock):
    return time4vps_app(world, USER, PASSWORD, clock=clock)


@pytest.fixture
def root(app):
    """The stand-in's URL; the client's base URL is this plus ``/api``."""
    with ServedApp(app) as served:
        yield served.url


@pytest.fixture
def client(root):
    with httpx.Client(base_url=f"{root}/api", auth=(USER, PASSWORD), timeout=10) as client:
        yield client


def fixture_bytes(name: str) -> bytes:
    return (TIME4VPS / "errors" / f"{name}.json").read_bytes().rstrip(b"\n")


def test_server_list_is_an_array_of_every_active_server(client, world):
    body = client.get("/server").json()
    assert isinstance(body, list)
    items = [ServerListItem.model_validate(x) for x in body]
    assert [i.server_id for i in items] == [s.server_id for s in world.server_list()]
    example_keys = set(json.loads((TIME4VPS / "server-list.json").read_text()))
    assert all(set(x) == example_keys for x in body)
    assert all(isinstance(x["server_id"], int) for x in body)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d", x["date_created"]) for x in body)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", x["synch_date"]) for x in body)
    assert client.get("/server/").json() == body  # Time4VPS's PHP library asks with a trailing slash


def test_server_details_have_the_examples_fields_and_no_id(client, world):
    server = world.server_list()[0]
    body = client.get(f"/server/{server.server_id}").json()
    assert set(body) == set(json.loads((TIME4VPS / "server-details.json").read_text()))
    assert "server_id" not in body and "id" not in body
    details = ServerDetails.model_validate(body)
    assert (details.domain, details.ip, details.label) == (server.domain, server.public_ip, server.label)
    assert (details.cpu_cores, details.ram_limit) == (server.cpu_cores, server.ram_mb)
    assert (details.disk_limit, details.disk_usage) == (server.disk_mb, server.disk_used_mb)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", body["synch_date"])


def test_bad_credentials_answer_wronglogin_byte_for_byte(client, root):
    wrong = client.get("/server", auth=(USER, "nope"))
    assert wrong.status_code == 401 and wrong.content == fixture_bytes("wronglogin")
    missing = httpx.get(f"{root}/api/server")
    assert missing.status_code == 401 and parse_error(missing.json()).kind is Time4VpsErrorKind.WRONG_LOGIN


def test_ip_not_allowed_is_settable(app, client):
    app.ip_allowed = False
    response = client.get("/server")
    assert response.status_code == 401 and response.content == fixture_bytes("ipnotallowed")
    assert parse_error(response.json()).kind is Time4VpsErrorKind.IP_NOT_ALLOWED
    app.ip_allowed = True
    assert client.get("/server").status_code == 200


def test_throttle_answers_wait_x_between_action_with_the_seconds_left(app, client, clock):
    app.throttle(24)
    response = client.get("/server")
    assert response.status_code == 401 and response.content == fixture_bytes("wait_x_between_action")
    clock.now += 20
    error = parse_error(client.get("/server").json())
    assert error.kind is Time4VpsErrorKind.THROTTLED and error.wait_seconds == 4
    clock.now += 4
    assert client.get("/server").status_code == 200


def test_calls_closer_than_the_minimum_interval_are_throttled(world, clock):
    app = time4vps_app(world, USER, PASSWORD, clock=clock, min_interval_s=10)
    with ServedApp(app) as served:
        client = httpx.Client(base_url=f"{served.url}/api", auth=(USER, PASSWORD))
        assert client.get("/server").status_code == 200
        clock.now += 3
        error = parse_error(client.get(f"/server/{world.server_list()[0].server_id}").json())
        assert error.kind is Time4VpsErrorKind.THROTTLED and error.wait_seconds == 7
        clock.now += 7
        assert client.get("/server").status_code == 200
        assert app.counters.refusals == {"wait_x_between_action": 1}


def test_the_three_refusals_are_told_apart_by_body_alone(app, client):
    kinds = [parse_error(client.get("/server", auth=(USER, "x")).json()).kind]
    app.ip_allowed = False
    kinds.append(parse_error(client.get("/server").json()).kind)
    app.ip_allowed = True
    app.throttle(5)
    kinds.append(parse_error(client.get("/server").json()).kind)
    assert kinds == [Time4VpsErrorKind.WRONG_LOGIN, Time4VpsErrorKind.IP_NOT_ALLOWED, Time4VpsErrorKind.THROTTLED]


def test_unknown_server_id_answers_an_error_body(client):
    for server_id in ("999999999", "abc"):
        response = client.get(f"/server/{server_id}")
        assert response.status_code == 404
        error = parse_error(response.json())
        assert error.kind is Time4VpsErrorKind.OTHER and error.reason == "Invalid server ID"


def test_world_changes_show_in_list_and_details(client, world):
    added = world.add_server(label="new-box")
    assert added.server_id in {x["server_id"] for x in client.get("/server").json()}
    first = world.server_list()[0]
    world.fill_disk(first.server_id, 96)
    details = ServerDetails.model_validate(client.get(f"/server/{first.server_id}").json())
    assert details.disk_usage == first.disk_mb * 96 // 100
    world.set_server_status(first.server_id, "Suspended")
    assert first.server_id not in {x["server_id"] for x in client.get("/server").json()}  # lists active only
    assert client.get(f"/server/{first.server_id}").json()["status"] == "Suspended"
    world.remove_server(added.server_id)
    assert added.server_id not in {x["server_id"] for x in client.get("/server").json()}
    assert client.get(f"/server/{added.server_id}").status_code == 404


def test_faults_and_counters(client, root):
    client.get("/server")
    client.get("/server", auth=(USER, "x"))
    counters = httpx.get(f"{root}/_sandbox/counters").json()
    assert counters["requests"] == {"GET /api/server": 2} and counters["refusals"] == {"wronglogin": 1}
    httpx.post(f"{root}/_sandbox/faults", json={"error_rate": 1.0})
    assert client.get("/server").status_code == 503
    httpx.post(f"{root}/_sandbox/faults", json={"error_rate": 0.0, "malformed_rate": 1.0})
    with pytest.raises(json.JSONDecodeError):
        json.loads(client.get("/server").content)
    assert httpx.get(f"{root}/_sandbox/counters").json()["faults"] == {"5xx": 1, "malformed": 1}
