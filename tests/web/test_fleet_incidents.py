"""The dashboard's open incidents: read from the platform through the tasks' own client, only those
the scheduler raised (``details.opened_by``), newest first; a platform that does not answer is
said on the panel, and what was read before stays."""

from __future__ import annotations

import pytest

from sandbox.http import ServedApp
from sandbox.platform.api import create_app, sample_servers
from scheduler.web.fleet import OpenIncidents

KEY = "web-incidents-key"


@pytest.fixture
def platform(monkeypatch):
    app = create_app(api_key=KEY)
    app.store.bulk_insert_servers(sample_servers(2))
    with ServedApp(app) as served:
        monkeypatch.setenv("API_BASE_URL", served.url)
        monkeypatch.setenv("INTERNAL_API_KEY", KEY)
        yield app


def test_only_the_schedulers_active_incidents_newest_first(platform):
    store = platform.store
    ours = {"opened_by": "scheduler", "cause": "connection refused"}
    first = store.create_incident("vps-1", "server_unreachable", ours, [])
    store.create_incident("vps-1", "service_down", {"opened_by": "an operator"}, [])  # someone else's
    store.create_incident("vps-2", "ssl_expiring", {"opened_by": "scheduler"}, [])  # not a type we raise
    resolved = store.create_incident("vps-2", "resource_exhausted", ours, [])
    store.execute_sql("UPDATE incidents SET status = 'resolved' WHERE id = ?", (resolved["id"],))
    newest = store.create_incident("vps-2", "service_down", {**ours, "cause": "docker down"}, [])

    view = OpenIncidents().refresh()
    assert view.problem is None
    assert [(i.id, i.server_handle, i.incident_type.value) for i in view.incidents] == [
        (newest["id"], "vps-2", "service_down"),
        (first["id"], "vps-1", "server_unreachable"),
    ]


def test_a_platform_that_does_not_answer_is_said_and_the_last_view_kept(platform, monkeypatch):
    platform.store.create_incident("vps-1", "server_unreachable", {"opened_by": "scheduler"}, [])
    panel = OpenIncidents()
    assert len(panel.refresh().incidents) == 1
    monkeypatch.setenv("INTERNAL_API_KEY", "wrong")
    view = panel.refresh()
    assert view.problem.startswith("the platform API did not answer") and KEY not in view.problem
    assert len(view.incidents) == 1
