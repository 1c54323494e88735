"""Pause, resume and trigger from the dashboard: only with the operator token, never cross-site;
a refused action changes nothing and says why."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from contracts import TICKS_STREAM, Keys, TaskName, queue_name
from contracts.names import DRAMATIQ_NAMESPACE
from scheduler.web.actions import Refused, authorize
from scheduler.web.app import create_app
from scheduler.web.settings import WebSettings

TOKEN = "s3cret-operator-token"


def app(client, token: str | None = TOKEN) -> TestClient:
    return TestClient(create_app(client, WebSettings(dashboard_token=SecretStr(token) if token else None)))


@pytest.mark.parametrize(
    ("token", "headers", "status", "why"),
    [
        (None, {"x-dashboard-token": TOKEN}, 403, "actions are off"),
        (TOKEN, {}, 401, "no operator token"),
        (TOKEN, {"x-dashboard-token": "s3cret-operator-tokeX"}, 403, "wrong"),
        (TOKEN, {"x-dashboard-token": TOKEN[:-1]}, 403, "wrong"),
        (
            TOKEN,
            {"x-dashboard-token": TOKEN, "host": "dash.example", "origin": "https://evil.example"},
            403,
            "cross-site",
        ),
        (TOKEN, {"x-dashboard-token": TOKEN, "sec-fetch-site": "cross-site"}, 403, "cross-site"),
        (TOKEN, {"x-dashboard-token": TOKEN, "origin": "null"}, 403, "opaque origin"),
    ],
)
def test_refusals_say_why(token, headers, status, why):
    with pytest.raises(Refused) as refused:
        authorize(SecretStr(token) if token else None, headers)
    assert refused.value.status == status and why in refused.value.reason
    assert TOKEN not in refused.value.reason


def test_the_right_token_from_the_same_origin_is_allowed():
    authorize(
        SecretStr(TOKEN),
        {
            "x-dashboard-token": TOKEN,
            "host": "dash.example",
            "origin": "https://dash.example",
            "sec-fetch-site": "same-origin",
        },
    )


def test_pause_with_the_token_pauses_and_resume_resumes(client):
    web = app(client)
    answer = web.post("/actions/github_sync/pause", headers={"x-dashboard-token": TOKEN})
    assert answer.status_code == 200 and "github_sync paused" in answer.json()["done"]
    assert client.sismember(Keys.PAUSED, "github_sync")
    assert 'data-paused="true"' in web.get("/").text
    answer = web.post("/actions/github_sync/resume", headers={"x-dashboard-token": TOKEN})
    assert answer.status_code == 200 and not client.sismember(Keys.PAUSED, "github_sync")


@pytest.mark.parametrize("headers", [{}, {"x-dashboard-token": "nope"}])
def test_a_refused_pause_changes_nothing(client, headers):
    answer = app(client).post("/actions/github_sync/pause", headers=headers)
    assert answer.status_code in (401, 403) and answer.json()["refused"].startswith("refused:")
    assert not client.sismember(Keys.PAUSED, "github_sync")


def test_without_a_configured_token_the_dashboard_is_read_only(client):
    web = app(client, token=None)
    assert "read-only" in web.get("/").text and 'data-action="pause"' not in web.get("/").text
    answer = web.post("/actions/github_sync/trigger", headers={"x-dashboard-token": TOKEN})
    assert answer.status_code == 403 and "DASHBOARD_TOKEN is not set" in answer.json()["refused"]
    assert client.llen(f"{DRAMATIQ_NAMESPACE}:{queue_name(TaskName.GITHUB_SYNC)}") == 0


def test_trigger_queues_a_manual_tick_as_the_cli_does(client):
    answer = app(client).post("/actions/server_sync/trigger", headers={"x-dashboard-token": TOKEN})
    assert answer.status_code == 200 and "lock decides" in answer.json()["done"]
    assert client.llen(f"{DRAMATIQ_NAMESPACE}:{queue_name(TaskName.SERVER_SYNC)}") == 1
    ((_, fields),) = client.xrange(TICKS_STREAM)
    assert b'"reason":"manual"' in fields[b"data"] and b'"emitted_by":"web"' in fields[b"data"]


def test_unknown_task_or_action(client):
    web = app(client)
    assert web.post("/actions/nope/pause", headers={"x-dashboard-token": TOKEN}).status_code == 404
    assert web.post("/actions/github_sync/delete", headers={"x-dashboard-token": TOKEN}).status_code == 404
    assert web.get("/actions/github_sync/pause").status_code == 405
