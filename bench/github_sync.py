"""github_sync benchmark: what a sync cycle costs on a 1,000-repository organisation, beside two peers
doing the same job, so that each ratio isolates one idea.

All three run in this process, each against its own copy of the same sandbox world (same seed, same
mutations), its own GitHub stand-in and its own platform API, all on loopback:
- ours: the real task function (``run_github_sync``: conditional page walk, pure plan, diffed
  writes) with a real task lock, on a real Redis (``REDIS_URL`` if set, else an embedded
  redis-server; only this run's own keys are touched, and removed afterwards);
- naive: lists the same pages (same order, 100 per page) unconditionally and writes every record
  back every cycle (a PATCH per known repository, a project and a repository POST per new one). No
  README/docs fetches: github_sync does none, so neither does its peer;
- change-only: lists unconditionally like naive, but compares each record with what GitHub says and
  writes only what changed (the same fields, the same statuses as ours).
naive / change-only isolates change-only writes; change-only / ours isolates conditional requests
(``If-None-Match`` with stored ETags: a 304 costs no rate-limit point).

Phases: a cold sync (empty platform: a Project and its Repository per repository), a steady-state
cycle (nothing changed), and a cycle after 10 repositories changed (5 renames, 4 visibility changes,
1 new: 9 Repository PATCHes and 2 POSTs, a project and its repository). Figures: GitHub requests,
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

from actors.adapters.github.client import GitHubClient  # noqa: E402
from actors.adapters.github.settings import GitHubSettings  # noqa: E402
from actors.adapters.platform.client import PlatformClient  # noqa: E402
from actors.tasks.deps import Dependencies  # noqa: E402
from actors.tasks.github_sync.plan import desired_fields, project_id_of  # noqa: E402
from actors.tasks.github_sync.task import run_github_sync  # noqa: E402
from contracts import Keys, TaskName  # noqa: E402
from contracts.github import MinimalRepository  # noqa: E402
from contracts.platform import ProjectCreate, RepositoryCreate, RepositoryUpdate  # noqa: E402
from process.logs import configure_logging  # noqa: E402
from process.settings import Settings
from sandbox.github.app import github_app  # noqa: E402
from sandbox.http import ServedApp  # noqa: E402
from sandbox.platform.api import create_app  # noqa: E402
from sandbox.world import World  # noqa: E402

TOKEN = "ghp_benchtoken000000000000000000000000000"
KEY = "bench-internal-key"
HOURLY_POINTS = 5000  # GitHub's primary limit for a token
OWNER = 900000001  # PLATFORM_OWNER_TELEGRAM_ID: the owner of the projects created


class Side:
    """One approach's world, GitHub stand-in and platform API, and its cost counters."""

    def __init__(self, name: str, repos: int, org: str):
        self.name = name
        self.world = World.generate(seed=42, repos=repos, servers=0, org=org)
        self.github = github_app(self.world, TOKEN, rate_limit=1_000_000)  # never the limit here: we count
        self.platform = create_app(api_key=KEY)
        self.platform.store.create_user(OWNER, username="owner", is_admin=True)
        self.served = [ServedApp(self.github).start(), ServedApp(self.platform).start()]
        self.github_url, self.platform_url = self.served[0].url, self.served[1].url

    def snapshot(self) -> tuple[int, int, int]:
        writes = sum(n for route, n in self.platform.counters.requests.items() if not route.startswith("GET"))
        return self.github.counters.total(), self.github.points_used(), writes

    def mutate(self) -> None:
        """The same 10 changes on either side (the worlds are identical)."""
        live = sorted(self.world.org_repos(), key=lambda r: r.id)
        picks = live[len(live) // 18 :: len(live) // 9][:9]  # spread over the pages
        for n, repo in enumerate(picks[:5]):
            self.world.rename_repo(repo.id, f"renamed-{n}")
        for repo in picks[5:9]:
            self.world.set_visibility(repo.id, "public" if repo.visibility != "public" else "private")
        self.world.add_repo("brand-new-repo")

    def stop(self) -> None:
        for served in self.served:
            served.stop()


# ---- ours: the real task function ------------------------------------------------------------------------


def ours_cycle(side: Side, client: redis.Redis, slot: int) -> dict:
    """One real github_sync run against ``side``: the bench's ONLY coupling to how the task gets its
    dependencies (the GitHub and platform clients) and runs (tick, lock, TaskRun)."""
    settings = GitHubSettings(github_api_url=side.github_url, github_org=side.world.org, github_token=SecretStr(TOKEN))
    url = "redis://{host}:{port}/{db}".format(**client.connection_pool.connection_kwargs)
    deps = Dependencies(
        Settings(redis_url=url),
        client,
        github=GitHubClient(settings),
        platform=PlatformClient(side.platform_url, SecretStr(KEY)),
    )
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
        projects = await platform.list_projects()
        known = {r.provider_repo_id: r for r in await platform.list_all_repositories([p.id for p in projects])}
        for repo in repos:
            record = known.get(repo.id)
            fields = desired_fields(repo)
            if record is None:
                pid = project_id_of(repo.id)
                await platform.create_project(
                    ProjectCreate(id=pid, title=repo.name, initiating_run_id="bench-peer"), owner_telegram_id=OWNER
                )
                await platform.create_repository(RepositoryCreate(project_id=pid, provider_repo_id=repo.id, **fields))
                continue
            if only_changes:
                fields = {name: value for name, value in fields.items() if getattr(record, name) != value}
                if not fields:
                    continue
            await platform.update_repository(record.id, RepositoryUpdate(**fields))


# ---- the run ---------------------------------------------------------------------------------------------


def measure(side: Side, cycle) -> dict:
    before, started = side.snapshot(), time.perf_counter()
    cycle()
    after = side.snapshot()
    return {
        "requests": after[0] - before[0],
        "points": after[1] - before[1],
        "writes": after[2] - before[2],
        "seconds": time.perf_counter() - started,
    }


PHASES = ("cold sync", "steady-state cycle", "after 10 repos changed")
CONTENDERS = ("ours", "change-only", "naive")


def one_run(repos: int, client: redis.Redis, run_index: int) -> tuple[dict, dict]:
    """The three phases for the three contenders on fresh worlds: {(contender, phase): figures}, ours' counters."""
    org = f"bench-org-{os.getpid()}-{run_index}"
    sides = {name: Side(name, repos, org) for name in CONTENDERS}
    cycles = {
        "ours": None,
        "change-only": lambda s: asyncio.run(peer_cycle(s, only_changes=True)),
        "naive": lambda s: asyncio.run(peer_cycle(s, only_changes=False)),
    }
    figures, counters = {}, {}
    try:
        for slot, phase in enumerate(PHASES, start=1):
            if phase.startswith("after"):
                for side in sides.values():
                    side.mutate()
            for name, side in sides.items():
                if name == "ours":
                    figures[name, phase] = measure(
                        side, lambda s=side, p=phase, n=slot: counters.update({p: ours_cycle(s, client, n)})
                    )
                else:
                    figures[name, phase] = measure(side, lambda s=side, cycle=cycles[name]: cycle(s))
        records = {
            name: {
                r["provider_repo_id"]: (r["name"], r["git_url"], r["visibility"], r["project_id"])
                for r in side.platform.store.all_repositories()
            }
            for name, side in sides.items()
        }
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
    os.environ["PLATFORM_OWNER_TELEGRAM_ID"] = str(OWNER)  # read by github_sync's settings
    runs = []
    with bench_redis() as (_, client, redis_kind):
        for n in range(args.repeat):
            runs.append(one_run(args.repos, client, n))
            print(
                f"  run {n + 1}: "
                + ", ".join(
                    f"{c} {p.split()[0]} {runs[-1][0][c, p]['seconds']:.2f} s" for p in PHASES for c in CONTENDERS
                ),
                flush=True,
            )
    report(runs, args.repos, redis_kind, where)


def report(runs, repos: int, redis_kind: str, machine: str) -> None:
    print(
        f"\ngithub_sync, {repos:,}-repository organisation, 100 per page; Redis: {redis_kind}; GitHub stand-in and "
        f"platform API on loopback; {machine}; times: median of {len(runs)} runs (min–max), counts: identical in "
        "every run"
    )
    head = f"{'phase':<24}{'contender':<13}{'requests':>9}{'points':>8}{'writes':>8}{'time s':>22}"
    print(head + "\n" + "-" * len(head))
    for phase in PHASES:
        for name in CONTENDERS:
            f = runs[0][0][name, phase]
            times = [run[0][name, phase]["seconds"] for run in runs]
            spread = f"{statistics.median(times):.2f} ({min(times):.2f}–{max(times):.2f})"
            print(
                f"{phase if name == 'ours' else '':<24}{name:<13}{f['requests']:>9}{f['points']:>8}{f['writes']:>8}"
                f"{spread:>22}"
            )
    print("\nratios (medians): what each idea saves")
    print(
        f"{'phase':<24}{'conditional requests: change-only / ours':>44}{'change-only writes: naive / change-only':>44}"
    )
    print(f"{'':<24}{'points':>10}{'requests':>10}{'time':>12}{'':>12}{'writes':>10}{'time':>10}")
    for phase in PHASES:

        def med(name, key, phase=phase):
            return statistics.median(run[0][name, phase][key] for run in runs)

        print(
            f"{phase:<24}{ratio(med('change-only', 'points'), med('ours', 'points')):>10}"
            f"{ratio(med('change-only', 'requests'), med('ours', 'requests')):>10}"
            f"{ratio(med('change-only', 'seconds'), med('ours', 'seconds')):>12}{'':>12}"
            f"{ratio(med('naive', 'writes'), med('change-only', 'writes')):>10}"
            f"{ratio(med('naive', 'seconds'), med('change-only', 'seconds')):>10}"
        )
    steady = {name: runs[0][0][name, PHASES[1]]["points"] for name in CONTENDERS}
    per_hour = "unlimited" if steady["ours"] == 0 else f"{HOURLY_POINTS // steady['ours']:,}"
    print(
        f"steady-state cycles per hour within GitHub's {HOURLY_POINTS:,} points: ours {per_hour}, peers "
        f"{HOURLY_POINTS / max(steady['naive'], 1):.0f} (the task runs 12 an hour)"
    )
    print(
        "ours, per phase (run counters, last run): "
        + "; ".join(
            f"{phase}: " + ", ".join(f"{k}={v}" for k, v in sorted(c.items()) if v) for phase, c in runs[-1][1].items()
        )
    )


if __name__ == "__main__":
    main()
