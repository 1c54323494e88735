"""github_sync: the GitHub organisation's repositories -> the platform's Project records.

A reconciler, read top to bottom: **observe** (the org listing, conditionally; the platform's
projects; what Redis remembers of absent repositories) -> **plan** (``plan.plan_sync``, pure,
where every rule lives) -> **apply** (API writes, each behind the fencing check, then the memory).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping

import redis.asyncio as aioredis

from actors.adapters.platform.client import PlatformClient
from actors.runtime.run import TaskRun
from actors.runtime.spec import TaskSpec
from actors.tasks.github_sync.plan import Create, Gone, Observed, Plan, Rules, Update, plan_sync
from actors.tasks.hashes import update_hashes
from actors.tasks.records import Progress, RecordWrites
from actors.tasks.github_sync.settings import GitHubSyncSettings
from contracts import Keys, TaskName
from scheduler.logs import get_logger

log = get_logger(__name__)


# --------------------------------------------------------------------------- observe


async def run_github_sync(run: TaskRun) -> None:
    deps = run.deps
    settings = deps.settings(GitHubSyncSettings)
    github, platform, memory = deps.github, deps.platform, AbsenceMemory(deps.aredis, deps.github.org)
    listing = await github.list_org_repos(deps.aredis)
    projects = await platform.list_projects()
    misses, gone = await memory.read()
    for name, value in (("pages", listing.pages), ("not_modified", listing.not_modified),
                        ("points", listing.points), ("requests", listing.requests),
                        ("skipped_items", listing.skipped_items + len(listing.unreadable)),
                        ("skipped_projects", projects.skipped)):
        run.count(name, value)
    if not listing.complete:
        run.count("incomplete")
        log.warning("github_sync.listing_incomplete", stopped=listing.stopped, skipped_items=listing.skipped_items,
                    repos=len(listing.repos), note="absence is not counted for this listing")
    confirmed_empty = listing.complete and not listing.repos and await github.confirms_empty(deps.aredis)
    observed = Observed(github.org, listing.repos, listing.complete, projects.items, misses, gone,
                        confirmed_empty=confirmed_empty, now=await _redis_time(deps.aredis),
                        present=frozenset(listing.unreadable))

    plan = plan_sync(observed, Rules(settings.github_missing_after, settings.github_archive_after_s))

    await apply_plan(plan, run, platform, memory)


async def _redis_time(client: aioredis.Redis) -> float:
    """Every worker agrees on the time a project went missing: the Redis server's clock."""
    seconds, micros = await client.time()
    return seconds + micros / 1e6


class AbsenceMemory:
    """What github_sync remembers in Redis of repositories it no longer sees (shared by workers)."""

    def __init__(self, client: aioredis.Redis, org: str):
        self.client, self.misses_key, self.gone_key = client, Keys.github_missing(org), Keys.github_gone(org)

    async def read(self) -> tuple[dict[int, int], dict[int, Gone]]:
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(self.misses_key)
        pipe.hgetall(self.gone_key)
        raw_misses, raw_gone = await pipe.execute()
        misses = {int(k): int(v) for k, v in raw_misses.items()}
        gone = {}
        for key, value in raw_gone.items():
            since, _, retired = value.decode().partition(":")
            gone[int(key)] = Gone(float(since), retired == "retired")
        return misses, gone

    async def write(self, misses: Mapping[int, int], gone: Mapping[int, Gone | None]) -> None:
        pipe = self.client.pipeline(transaction=True)
        update_hashes(pipe, {self.misses_key: {k: v or None for k, v in misses.items()},
                             self.gone_key: {k: g and f"{g.since}{':retired' if g.retired else ''}"
                                             for k, g in gone.items()}})
        await pipe.execute()


# --------------------------------------------------------------------------- apply


async def apply_plan(plan: Plan, run: Progress, platform: PlatformClient, memory: AbsenceMemory) -> None:
    """Write the plan, one record at a time (``RecordWrites``: a failed write is that record's,
    counted, and tried again at the next run), creates, status changes and field updates taken
    in turn so that no kind of change waits behind another; then the absence memory, without
    the repositories whose update failed (their absence is counted again next time)."""
    writes = RecordWrites(run, "github_sync")
    failed: set[int] = set()
    run.count("other_org_projects", plan.other_org)
    for repo_id in plan.rejected:
        run.count("skipped_items")
        log.warning("github_sync.repo_rejected", repo_id=repo_id, reason="its record would be invalid")
    for change in interleaved(plan):
        if isinstance(change, Create):
            if await writes.write(lambda c=change: platform.create_project(c.project), "create",
                                  repo_id=change.repo_id):
                run.count("creates")
        elif await writes.write(lambda u=change: platform.update_project(u.project_id, u.changes), "update",
                                repo_id=change.repo_id, project_id=change.project_id):
            run.count("updates")
            _report(run, change)
        else:
            failed.add(change.repo_id)
    misses = {repo_id: n for repo_id, n in plan.misses.items() if repo_id not in failed}
    gone = {repo_id: g for repo_id, g in plan.gone.items() if repo_id not in failed}
    if misses or gone:
        await run.fence()
        await memory.write(misses, gone)


def interleaved(plan: Plan) -> Iterator[Create | Update]:
    """Creates, status changes (archived, missing, restored...) and field updates, one of each in
    turn while each kind lasts."""
    kinds = (plan.creates, [u for u in plan.updates if u.changes.status is not None],
             [u for u in plan.updates if u.changes.status is None])
    for turn in itertools.zip_longest(*kinds):
        yield from (change for change in turn if change is not None)


def _report(run: Progress, update: Update) -> None:
    for event in update.events:
        run.count(event)
    new = update.changes.status
    if "missing" in update.events:
        log.error("github_sync.repo_missing", alert=True, repo_id=update.repo_id, full_name=update.full_name,
                  project_id=update.project_id, complete_listings_without_it=update.misses,
                  note="deleted, or transferred out of the organisation")
    elif "archived_missing" in update.events:
        log.warning("github_sync.repo_archived_missing", repo_id=update.repo_id, full_name=update.full_name,
                    project_id=update.project_id, note="missing for GITHUB_ARCHIVE_AFTER")
    elif "restored" in update.events:
        log.info("github_sync.repo_back", repo_id=update.repo_id, full_name=update.full_name, status=new.value)


SPEC = TaskSpec(TaskName.GITHUB_SYNC, run_github_sync, time_limit_ms=10 * 60_000, max_retries=5)
