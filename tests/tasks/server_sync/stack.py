"""server_sync's world on loopback for the end-to-end tests: the Time4VPS stand-in and
the platform API over one sandbox ``World``, the environment a worker reads, and one tick at a time
through a real worker."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from actors.tasks.deps import Dependencies
from contracts import PROVISIONER_STREAM, RunRecord, TaskName
from process.settings import Settings
from sandbox.http import ServedApp
from sandbox.platform.api import create_app
from sandbox.time4vps.app import time4vps_app
from sandbox.world import World
from tests.support import make_tick, runs, send, wait_until

TASK = TaskName.SERVER_SYNC
USER, PASSWORD, KEY = "ops@example.test", "t4v-planted-secret-0000", "platform-planted-key-0000"
LIST, DETAILS = "GET /api/server", "GET /api/server/{server_id}"


class Stack:
    def __init__(self, world: World, time4vps, platform, client, redis_url: str):
        self.world, self.time4vps, self.platform, self.client = world, time4vps, platform, client
        self.redis_url = redis_url
        self.slot = 1000

    def deps(self) -> Dependencies:
        """What a worker process builds at start, from the environment as it is now."""
        return Dependencies(Settings(redis_url=self.redis_url), self.client)

    def records(self) -> dict[str, dict]:
        return {
            s["provider_id"]: s for s in self.platform.store.list_servers() if s["labels"].get("provider") == "time4vps"
        }

    def writes(self) -> int:
        return sum(
            n
            for route, n in self.platform.counters.requests.items()
            if not route.startswith("GET") and "/incidents" not in route
        )

    def announced(self) -> list[str]:
        return [json.loads(f[b"data"])["server_handle"] for _, f in self.client.xrange(PROVISIONER_STREAM)]

    def incidents(self, active: bool = True) -> list[dict]:
        return [
            i
            for i in self.platform.store.list_incidents()
            if i["incident_type"] == "provider_api_unavailable" and (i["status"] != "resolved") == active
        ]

    def cycle(self) -> tuple[RunRecord, Counter]:
        """One tick through the worker; (its final run record, the requests and writes it cost)."""
        before = Counter(self.time4vps.counters.requests), self.writes()
        self.slot += 1
        send(self.client, make_tick(TASK, slot=self.slot))
        record = wait_until(
            lambda: next((r for r in runs(self.client, TASK) if r.slot == self.slot and not r.will_retry), None),
            timeout=60,
        )
        requests = Counter(self.time4vps.counters.requests)
        requests.subtract(before[0])
        return record, Counter(list=requests[LIST], details=requests[DETAILS], writes=self.writes() - before[1])


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
        yield Stack(world, time4vps, platform, client, redis_url)
