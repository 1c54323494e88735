"""github_sync benchmark: what a sync cycle costs on a 1,000-repository organisation, beside the naive way.

Both run in this process, each against its own copy of the same sandbox world (same seed, same
mutations), its own GitHub stand-in and its own platform API, all on loopback:
- ours: the real task function (``run_github_sync``: conditional page walk, pure plan, diffed
  writes) with a real task lock, on a real Redis (``REDIS_URL`` if set, else an embedded
  redis-server; only this run's own keys are touched, and removed afterwards);
- naive: the earlier scheduler's way: every listing page unconditionally, plus each repository's
  README and its ``docs/`` directory every cycle, and every project written back every cycle.

Phases: a cold sync (empty platform), a steady-state cycle (nothing changed), and a cycle after 10
repositories changed (5 descriptions, 2 renames, 2 archived, 1 new). Figures: GitHub requests,
rate-limit points (a 304 costs none), platform API writes, wall time.

    .venv/bin/python bench/github_sync.py [--repos 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import httpx
import redis
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kit import ratio, run_task_once  # noqa: E402  (bench/kit.py)

from actors.adapters.github.client import GitHubClient, GitHubSettings  # noqa: E402
from actors.adapters.platform.client import PlatformClient  # noqa: E402
from actors.tasks.deps import Dependencies  # noqa: E402
from actors.tasks.github_sync.plan import desired_fields, desired_status  # noqa: E402
from actors.tasks.github_sync.task import run_github_sync  # noqa: E402
from contracts import Keys, TaskName  # noqa: E402
from contracts.github import MinimalRepository  # noqa: E402
from contracts.platform import Project, ProjectCreate, ProjectUpdate  # noqa: E402
from sandbox.github import github_app  # noqa: E402
from sandbox.http import ServedApp  # noqa: E402
from sandbox.platform_api import create_app  # noqa: E402
from sandbox.world import World  # noqa: E402
from scheduler.embedded import EmbeddedRedis  # noqa: E402
from scheduler.logs import configure_logging  # noqa: E402

TOKEN = "ghp_benchtoken000000000000000000000000000"
KEY = "bench-internal-key"
HOURLY_POINTS = 5000  # GitHub's primary limit for a token


class Side:
    """One approach's world, GitHub stand-in and platform API, and its cost counters."""

    def __init__(self, name: str, repos: int, org: str):
        self.name = name
        self.world = World.generate(seed=42, repos=repos, servers=0, org=org)
        self.github = github_app(self.world, TOKEN, rate_limit=1_000_000)  # never the limit here: we count
        self.platform = create_app(api_key=KEY)
        self.served = [ServedApp(self.github).start(), ServedApp(self.platform).start()]
        self.github_url, self.platform_url = self.served[0].url, self.served[1].url

    def snapshot(self) -> tuple[int, int, int]:
        writes = sum(n for route, n in self.platform.counters.requests.items() if not route.startswith("GET"))
        return self.github.counters.total(), self.github.points_used(), writes

    def mutate(self) -> None:
        """The same 10 changes on either side (the worlds are identical)."""
        live = sorted((r for r in self.world.org_repos() if not r.archived), key=lambda r: r.id)
        picks = live[len(live) // 18::len(live) // 9][:9]  # spread over the pages
        for repo in picks[:5]:
            self.world.edit_description(repo.id, f"{repo.description or ''} (edited)")
        self.world.rename_repo(picks[5].id, "renamed-one")
        self.world.rename_repo(picks[6].id, "renamed-two")
        self.world.archive_repo(picks[7].id)
        self.world.archive_repo(picks[8].id)
        self.world.add_repo("brand-new-repo")

    def stop(self) -> None:
        for served in self.served:
            served.stop()


# ---- naive: everything, every cycle ----------------------------------------------------------------------

async def naive_cycle(side: Side) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/vnd.github+json"}
    async with httpx.AsyncClient(base_url=side.github_url, headers=headers, timeout=30) as gh:
        repos: list[MinimalRepository] = []
        url: str | None = f"/orgs/{side.world.org}/repos?per_page=100"
        while url:
            page = await gh.get(url)
            repos += [MinimalRepository.model_validate(item) for item in page.json()]
            url = page.links.get("next", {}).get("url")
        gate = asyncio.Semaphore(16)

        async def fetch(path: str) -> None:
            async with gate:
                await gh.get(path)

        await asyncio.gather(*(fetch(f"/repos/{r.full_name}/{what}") for r in repos
                               for what in ("readme", "contents/docs")))
    platform = PlatformClient(side.platform_url, SecretStr(KEY))
    async with platform:
        known = {p.github_repo_id: p for p in await platform.list_projects()}
        for repo in repos:  # no diff: every project is written back, every cycle
            project = known.get(repo.id)
            fields = {**desired_fields(repo), "status": desired_status(project and project.status, repo)}
            if project is None:
                await platform.create_project(ProjectCreate(github_repo_id=repo.id, **fields))
            else:
                await platform.update_project(project.id, ProjectUpdate(**fields))


# ---- the run ---------------------------------------------------------------------------------------------

def measure(side: Side, cycle) -> dict:
    before, started = side.snapshot(), time.perf_counter()
    cycle()
    after = side.snapshot()
    return {"requests": after[0] - before[0], "points": after[1] - before[1], "writes": after[2] - before[2],
            "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repos", type=int, default=1000)
    args = parser.parse_args()
    configure_logging("console", "ERROR")
    embedded = None
    url = os.environ.get("REDIS_URL")
    if not url:
        embedded = EmbeddedRedis().start()
        url = embedded.url
    client = redis.Redis.from_url(url)
    org = f"bench-org-{os.getpid()}"
    ours, naive = Side("ours", args.repos, org), Side("naive", args.repos, org)
    settings = GitHubSettings(github_api_url=ours.github_url, github_org=org, github_token=SecretStr(TOKEN))
    deps = Dependencies(url, client, github=GitHubClient(settings), platform=PlatformClient(ours.platform_url, SecretStr(KEY)))
    rows = []
    try:
        for slot, phase in enumerate(("cold sync", "steady-state cycle", "after 10 repos changed"), start=1):
            if phase.startswith("after"):
                ours.mutate()
                naive.mutate()
            counters: dict = {}
            mine = measure(ours, lambda: counters.update(run_task_once(
                run_github_sync, TaskName.GITHUB_SYNC, client, deps, slot, f"github_sync-bench-{os.getpid()}")))
            peer = measure(naive, lambda: asyncio.run(naive_cycle(naive)))
            rows.append((phase, mine, peer, counters))
        same = {p.github_repo_id: (p.name, p.status) for p in map(_project, ours.platform.store.list_projects())}
        twin = {p.github_repo_id: (p.name, p.status) for p in map(_project, naive.platform.store.list_projects())}
        assert same == twin, "both ways must end with the same Project records"
    finally:
        ours.stop()
        naive.stop()
        for key in client.scan_iter(match=f"scheduler:github:*{org}*"):
            client.delete(key)
        client.delete(Keys.lock(f"github_sync-bench-{os.getpid()}"), Keys.fence(f"github_sync-bench-{os.getpid()}"))
        client.close()
        if embedded:
            embedded.close()
    report(rows, args.repos, "embedded redis-server" if embedded else "REDIS_URL")


def _project(row: dict) -> Project:
    return Project.model_validate(row)


def report(rows, repos: int, redis_kind: str) -> None:
    print(f"github_sync, {repos:,}-repository organisation, 100 per page; Redis: {redis_kind}; "
          "GitHub stand-in and platform API on loopback")
    head = (f"{'phase':<24}{'':1}{'requests':>9}{'points':>8}{'writes':>8}{'time s':>8}  |{'requests':>9}"
            f"{'points':>8}{'writes':>8}{'time s':>8}  |{'requests':>9}{'points':>8}{'writes':>8}{'time':>8}")
    print(f"{'':<25}{'ours':-^33}  |{'naive':-^33}  |{'naive / ours':-^33}")
    print(head)
    for phase, mine, peer, _ in rows:
        cells = [f"{mine['requests']:>9}{mine['points']:>8}{mine['writes']:>8}{mine['seconds']:>8.2f}",
                 f"{peer['requests']:>9}{peer['points']:>8}{peer['writes']:>8}{peer['seconds']:>8.2f}",
                 f"{ratio(peer['requests'], mine['requests']):>9}{ratio(peer['points'], mine['points']):>8}"
                 f"{ratio(peer['writes'], mine['writes']):>8}{ratio(peer['seconds'], mine['seconds']):>8}"]
        print(f"{phase:<25}" + "  |".join(cells))
    steady_mine, steady_peer = rows[1][1]["points"], rows[1][2]["points"]
    per_hour = "unlimited" if steady_mine == 0 else f"{HOURLY_POINTS // steady_mine:,}"
    print(f"steady-state cycles per hour within GitHub's {HOURLY_POINTS:,} points: ours {per_hour}, "
          f"naive {HOURLY_POINTS / max(steady_peer, 1):.1f} (the task runs 12 an hour)")
    print("ours, per phase (run counters): " + "; ".join(
        f"{phase}: " + ", ".join(f"{k}={v}" for k, v in sorted(c.items()) if v) for phase, _, _, c in rows))


if __name__ == "__main__":
    main()
