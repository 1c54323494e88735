"""github_sync benchmark: what a sync cycle costs on a 1,000-repository organisation, beside two peers
doing the same job, so that each ratio isolates one idea.

All three run in this process, each against its own copy of the same sandbox world (same seed, same
mutations), its own GitHub stand-in and its own platform API, all on loopback:
- ours: the real task function (``run_github_sync``: conditional page walk, pure plan, diffed
  writes) with a real task lock, on a real Redis (``REDIS_URL`` if set, else an embedded
  redis-server; only this run's own keys are touched, and removed afterwards);
- naive: lists the same pages (same order, 100 per page) unconditionally and writes every record
  back every cycle (a PATCH per known project, a POST per new one). No README/docs fetches: github_sync
  does none, so neither does its peer;
- change-only: lists unconditionally like naive, but compares each record with what GitHub says and
  writes only what changed (the same fields, the same statuses as ours).
naive / change-only isolates change-only writes; change-only / ours isolates conditional requests
(``If-None-Match`` with stored ETags: a 304 costs no rate-limit point).

Phases: a cold sync (empty platform), a steady-state cycle (nothing changed), and a cycle after 10
repositories changed (5 descriptions, 2 renames, 2 archived, 1 new). Figures: GitHub requests,
rate-limit points (a 304 costs none), platform API writes (deterministic), wall time (the median of
``--repeat`` runs of the three phases, each on fresh worlds, with min–max).

    .venv/bin/python bench/github_sync.py [--repos 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

import httpx
import redis
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kit import bench_redis, machine, ratio, run_task_once  # noqa: E402  (bench/kit.py)

from actors.adapters.platform.client import PlatformClient  # noqa: E402
from actors.tasks.github_sync.plan import desired_fields, desired_status  # noqa: E402
from contracts import Keys, TaskName  # noqa: E402
from contracts.github import MinimalRepository  # noqa: E402
from contracts.platform import Project, ProjectCreate, ProjectUpdate  # noqa: E402
from sandbox.github.app import github_app  # noqa: E402
from sandbox.http import ServedApp  # noqa: E402
from sandbox.platform.api import create_app  # noqa: E402
from sandbox.world import World  # noqa: E402
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


# ---- ours: the real task function ------------------------------------------------------------------------

def ours_cycle(side: Side, client: redis.Redis, slot: int) -> dict:
    """One real github_sync run against ``side``: the bench's ONLY coupling to how the task gets its
    dependencies (the GitHub and platform clients) and runs (tick, lock, TaskRun)."""
    from actors.adapters.github.client import GitHubClient, GitHubSettings
    from actors.tasks.deps import Dependencies
    from actors.tasks.github_sync.task import run_github_sync

    settings = GitHubSettings(github_api_url=side.github_url, github_org=side.world.org, github_token=SecretStr(TOKEN))
    url = "redis://{host}:{port}/{db}".format(**client.connection_pool.connection_kwargs)
    deps = Dependencies(url, client, github=GitHubClient(settings), platform=PlatformClient(side.platform_url,
                                                                                               SecretStr(KEY)))
    return run_task_once(run_github_sync, TaskName.GITHUB_SYNC, client, deps, slot, f"github_sync-bench-{os.getpid()}")


# ---- the peers: every page unconditionally; every record, or only the changed ones -----------------------

async def list_unconditionally(side: Side) -> list[MinimalRepository]:
    """The same walk as ours (oldest first, 100 per page, ``Link`` headers), without ``If-None-Match``."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/vnd.github+json"}
    async with httpx.AsyncClient(base_url=side.github_url, headers=headers, timeout=30) as gh:
        repos: list[MinimalRepository] = []
        url: str | None = f"/orgs/{side.world.org}/repos?per_page=100&sort=created&direction=asc"
        while url:
            page = await gh.get(url)
            page.raise_for_status()
            repos += [MinimalRepository.model_validate(item) for item in page.json()]
            url = page.links.get("next", {}).get("url")
    return repos


async def peer_cycle(side: Side, only_changes: bool) -> None:
    repos = await list_unconditionally(side)
    platform = PlatformClient(side.platform_url, SecretStr(KEY))
    async with platform:
        known = {p.github_repo_id: p for p in await platform.list_projects()}
        for repo in repos:
            project = known.get(repo.id)
            fields = {**desired_fields(repo), "status": desired_status(project and project.status, repo)}
            if project is None:
                await platform.create_project(ProjectCreate(github_repo_id=repo.id, **fields))
                continue
            if only_changes:
                fields = {name: value for name, value in fields.items() if getattr(project, name) != value}
                if not fields:
                    continue
            await platform.update_project(project.id, ProjectUpdate(**fields))


# ---- the run ---------------------------------------------------------------------------------------------

def measure(side: Side, cycle) -> dict:
    before, started = side.snapshot(), time.perf_counter()
    cycle()
    after = side.snapshot()
    return {"requests": after[0] - before[0], "points": after[1] - before[1], "writes": after[2] - before[2],
            "seconds": time.perf_counter() - started}


PHASES = ("cold sync", "steady-state cycle", "after 10 repos changed")
CONTENDERS = ("ours", "change-only", "naive")


def one_run(repos: int, client: redis.Redis, run_index: int) -> tuple[dict, dict]:
    """The three phases for the three contenders on fresh worlds: {(contender, phase): figures}, ours' counters."""
    org = f"bench-org-{os.getpid()}-{run_index}"
    sides = {name: Side(name, repos, org) for name in CONTENDERS}
    cycles = {"ours": None, "change-only": lambda s: asyncio.run(peer_cycle(s, only_changes=True)),
              "naive": lambda s: asyncio.run(peer_cycle(s, only_changes=False))}
    figures, counters = {}, {}
    try:
        for slot, phase in enumerate(PHASES, start=1):
            if phase.startswith("after"):
                for side in sides.values():
                    side.mutate()
            for name, side in sides.items():
                if name == "ours":
                    figures[name, phase] = measure(side, lambda: counters.update({phase: ours_cycle(side, client, slot)}))
                else:
                    figures[name, phase] = measure(side, lambda: cycles[name](side))
        records = {name: {p.github_repo_id: (p.name, p.status) for p in map(_project, side.platform.store.list_projects())}
                   for name, side in sides.items()}
        assert records["ours"] == records["naive"] == records["change-only"], "all must end with the same records"
    finally:
        for side in sides.values():
            side.stop()
        for key in client.scan_iter(match=f"scheduler:github:*{org}*"):
            client.delete(key)
        client.delete(Keys.lock(f"github_sync-bench-{os.getpid()}"), Keys.fence(f"github_sync-bench-{os.getpid()}"))
    return figures, counters


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repos", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    where = machine()
    print(f"github_sync benchmark: {where}", flush=True)
    configure_logging("console", "ERROR")
    runs = []
    with bench_redis() as (_, client, redis_kind):
        for n in range(args.repeat):
            runs.append(one_run(args.repos, client, n))
            print(f"  run {n + 1}: " + ", ".join(f"{c} {p.split()[0]} {runs[-1][0][c, p]['seconds']:.2f} s"
                                                 for p in PHASES for c in CONTENDERS), flush=True)
    report(runs, args.repos, redis_kind, where)


def _project(row: dict) -> Project:
    return Project.model_validate(row)


def report(runs, repos: int, redis_kind: str, machine: str) -> None:
    print(f"\ngithub_sync, {repos:,}-repository organisation, 100 per page; Redis: {redis_kind}; GitHub stand-in and "
          f"platform API on loopback; {machine}; times: median of {len(runs)} runs (min–max), counts: identical in "
          "every run")
    head = f"{'phase':<24}{'contender':<13}{'requests':>9}{'points':>8}{'writes':>8}{'time s':>22}"
    print(head + "\n" + "-" * len(head))
    for phase in PHASES:
        for name in CONTENDERS:
            f = runs[0][0][name, phase]
            times = [run[0][name, phase]["seconds"] for run in runs]
            spread = f"{statistics.median(times):.2f} ({min(times):.2f}–{max(times):.2f})"
            print(f"{phase if name == 'ours' else '':<24}{name:<13}{f['requests']:>9}{f['points']:>8}{f['writes']:>8}"
                  f"{spread:>22}")
    print("\nratios (medians): what each idea saves")
    print(f"{'phase':<24}{'conditional requests: change-only / ours':>44}{'change-only writes: naive / change-only':>44}")
    print(f"{'':<24}{'points':>10}{'requests':>10}{'time':>12}{'':>12}{'writes':>10}{'time':>10}")
    for phase in PHASES:
        def med(name, key):
            return statistics.median(run[0][name, phase][key] for run in runs)
        print(f"{phase:<24}{ratio(med('change-only', 'points'), med('ours', 'points')):>10}"
              f"{ratio(med('change-only', 'requests'), med('ours', 'requests')):>10}"
              f"{ratio(med('change-only', 'seconds'), med('ours', 'seconds')):>12}{'':>12}"
              f"{ratio(med('naive', 'writes'), med('change-only', 'writes')):>10}"
              f"{ratio(med('naive', 'seconds'), med('change-only', 'seconds')):>10}")
    steady = {name: runs[0][0][name, PHASES[1]]["points"] for name in CONTENDERS}
    per_hour = "unlimited" if steady["ours"] == 0 else f"{HOURLY_POINTS // steady['ours']:,}"
    print(f"steady-state cycles per hour within GitHub's {HOURLY_POINTS:,} points: ours {per_hour}, peers "
          f"{HOURLY_POINTS / max(steady['naive'], 1):.0f} (the task runs 12 an hour)")
    print("ours, per phase (run counters, last run): " + "; ".join(
        f"{phase}: " + ", ".join(f"{k}={v}" for k, v in sorted(c.items()) if v) for phase, c in runs[-1][1].items()))


if __name__ == "__main__":
    main()
