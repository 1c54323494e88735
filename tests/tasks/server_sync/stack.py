"""server_sync's world on loopback for the end-to-end tests (``tests.stack.Stack``): the Time4VPS
stand-in and the platform API over one sandbox ``World``, and the environment a worker reads."""

from __future__ import annotations

import pytest

from contracts import TaskName
from sandbox.http import ServedApp
from sandbox.platform.api import create_app
from sandbox.time4vps.app import time4vps_app
from sandbox.world import World
from tests.stack import Stack

TASK = TaskName.SERVER_SYNC
USER, PASSWORD, KEY = "ops@example.test", "t4v-planted-secret-0000", "platform-planted-key-0000"
LIST, DETAILS = "GET /api/server", "GET /api/server/{server_id}"
#: a cycle's cost: Time4VPS list and details requests, platform writes
MEASURES = {
    "list": lambda stack: stack.time4vps.counters.requests[LIST],
    "details": lambda stack: stack.time4vps.counters.requests[DETAILS],
    "writes": Stack.writes,
}


@pytest.fixture
def stack(client, redis_url, monkeypatch):
    world = World.generate(seed=5, repos=0, servers=12)
    time4vps, platform = time4vps_app(world, USER, PASSWORD), create_app(api_key=KEY)
    with ServedApp(time4vps) as t4v, ServedApp(platform) as api:
        for name, value in {
            "API_BASE_URL": api.url,
            "INTERNAL_API_KEY": KEY,
            "TIME4VPS_API_URL": f"{t4v.url}/api",
            "TIME4VPS_USERNAME": USER,
            "TIME4VPS_PASSWORD": PASSWORD,
            "TIME4VPS_MAX_ATTEMPTS": "2",
            "TIME4VPS_MISSING_AFTER": "2",
            "TIME4VPS_MANAGE_ALL": "true",
            "PLATFORM_MAX_ATTEMPTS": "2",
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("TIME4VPS_MAX_DETAILS_PER_RUN", raising=False)
        monkeypatch.delenv("TIME4VPS_MANAGED_SERVER_IDS", raising=False)
        yield Stack(
            TASK, world, client, redis_url, platform=platform, api_url=api.url, time4vps=time4vps, measures=MEASURES
        )
