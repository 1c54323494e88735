"""A task's world on loopback for the end-to-end tests: the sandbox stand-ins it talks to, served over
one sandbox ``World``, and one tick at a time through a real worker configured the production way
(the environment each task's ``stack`` fixture sets), with what every cycle cost."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping

import redis

from actors.tasks.deps import Dependencies
from contracts import PROVISIONER_STREAM, RunRecord, TaskName
from process.settings import Settings
from sandbox.world import World
from tests.support import make_tick, runs, send, wait_until

#: what a cycle costs, by name: a count read off the stack, taken before and after the cycle
Measures = Mapping[str, Callable[["Stack"], int]]


class Stack:
    """``task``'s stand-ins over ``world``: the platform API (``platform``, served at ``api_url``)
    and, as the task needs them, ``github``, ``time4vps`` and ``embeddings`` (sandbox apps, with
    their ``faults`` and ``counters``); ``client`` is the test's Redis, ``owner`` the platform user
    who owns the projects, if any. ``cycle()`` sends the next slot's tick and returns the run's final
    record and what the cycle cost by ``measures``."""

    def __init__(
        self,
        task: TaskName,
        world: World,
        client: redis.Redis,
        redis_url: str,
        *,
        platform,
        api_url: str,
        measures: Measures,
        github=None,
        time4vps=None,
        embeddings=None,
        owner: int | None = None,
    ):
        self.task, self.world, self.client, self.redis_url = task, world, client, redis_url
        self.platform, self.api_url, self.measures = platform, api_url, measures
        self.github, self.time4vps, self.embeddings, self.owner = github, time4vps, embeddings, owner
        self.slot = 1000

    def deps(self) -> Dependencies:
        """What a worker process builds at start, from the environment as it is now."""
        return Dependencies(Settings(redis_url=self.redis_url), self.client)

    def cost(self) -> dict[str, int]:
        return {name: measure(self) for name, measure in self.measures.items()}

    def cycle(self) -> tuple[RunRecord, dict[str, int]]:
        """One tick through the worker; (its final run record, what it cost)."""
        before = self.cost()
        self.slot += 1
        send(self.client, make_tick(self.task, slot=self.slot))
        record = wait_until(
            lambda: next((r for r in runs(self.client, self.task) if r.slot == self.slot and not r.will_retry), None),
            timeout=60,
        )
        return record, {name: n - before[name] for name, n in self.cost().items()}

    # ---- what the platform holds ----------------------------------------------------------------------

    def writes(self) -> int:
        """The platform API's write requests so far (incidents aside: they are counted on their own)."""
        return sum(
            n
            for route, n in self.platform.counters.requests.items()
            if not route.startswith("GET") and "/incidents" not in route
        )

    def servers(self) -> dict[str, dict]:
        """The platform's Server records of Time4VPS servers, by provider id."""
        return {
            s["provider_id"]: s for s in self.platform.store.list_servers() if s["labels"].get("provider") == "time4vps"
        }

    def incidents(self, active: bool = True) -> list[dict]:
        """The platform's incidents for an unavailable provider API, active or resolved."""
        return [
            i
            for i in self.platform.store.list_incidents()
            if i["incident_type"] == "provider_api_unavailable" and (i["status"] != "resolved") == active
        ]

    def repositories(self) -> dict[int, dict]:
        """The platform's repositories by GitHub id (each id once: a duplicate fails here)."""
        rows = self.platform.store.all_repositories()
        counts = Counter(r["provider_repo_id"] for r in rows)
        assert all(n == 1 for n in counts.values()), f"duplicate repositories: {counts.most_common(3)}"
        return {r["provider_repo_id"]: r for r in rows}

    def projects(self) -> dict[str, dict]:
        return {p["id"]: p for p in self.platform.store.list_projects()}

    def project_of(self, repo_id: int) -> dict:
        return self.projects()[self.repositories()[repo_id]["project_id"]]

    def announced(self) -> list[str]:
        """The handles announced on the provisioner stream, in order."""
        return [json.loads(f[b"data"])["server_handle"] for _, f in self.client.xrange(PROVISIONER_STREAM)]
