"""github_sync: the GitHub organisation's repositories -> the platform's Projects and Repositories.

A reconciler, read top to bottom: **observe** (the org listing, conditionally; the platform's
projects and repositories; what Redis remembers of absent and discovered repositories) ->
**plan** (``plan.plan_sync``, pure, where every rule lives) -> **apply** (API writes, each behind
the fencing check, then the memory).

A steady cycle costs 0 GitHub points (every page answers 304), 0 platform writes, and two
platform reads (projects, and repositories while the platform holds fewer than 200; else one
more per project). The owner is looked up only when a project is to be created.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping

import redis.asyncio as aioredis

from actors.adapters.github.settings import GitHubSettings
from actors.adapters.platform.client import PlatformClient, PlatformSettings
from actors.runtime.run import TaskRun
from actors.runtime.spec import TaskSpec
from actors.tasks.github_sync.plan import (
    Create,
    CreateRepository,
    Event,
    Gone,
    Observed,
    Plan,
    Rules,
    SetProjectStatus,
    UpdateRepository,
    plan_sync,
)
from actors.tasks.github_sync.settings import GitHubSyncSettings
from actors.tasks.hashes import update_hashes
from actors.tasks.records import Progress, RecordWrites
from contracts import Keys, TaskName
from contracts.counters import CREATES, INCOMPLETE, MISSING, REJECTED, SKIPPED_ITEMS, UPDATES
from contracts.platform import PlatformNeed, ProjectStatus, ProjectUpdate
from process.clock import aredis_now
from process.logs import get_logger

log = get_logger(__name__)

RUN_ID_MAX = 64


# --------------------------------------------------------------------------- observe


async def run_github_sync(run: TaskRun) -> None:
    deps = run.deps
    settings = deps.settings(GitHubSyncSettings)
    github, platform, memory = deps.github, deps.platform, SyncMemory(deps.aredis, deps.github.org)
    listing = await github.list_org_repos(deps.aredis)
    projects = await platform.list_projects()
    repositories = await platform.list_all_repositories([p.id for p in projects])
    misses, gone, reported = await memory.read()
    for name, value in (
        ("pages", listing.pages),
        ("not_modified", listing.not_modified),
        ("points", listing.points),
        ("requests", listing.requests),
        (SKIPPED_ITEMS, listing.skipped_items + len(listing.unreadable) + projects.skipped + repositories.skipped),
        ("platform_reads", 1 + repositories.requests),
    ):
        run.count(name, value)
    if not listing.complete:
        run.count(INCOMPLETE)
        log.warning(
            "github_sync.listing_incomplete",
            stopped=listing.stopped,
            skipped_items=listing.skipped_items,
            repos=len(listing.repos),
            note="absence is not counted for this listing",
        )
    confirmed_empty = listing.complete and not listing.repos and await github.confirms_empty(deps.aredis)
    observed = Observed(
        github.org,
        listing.repos,
        listing.complete,
        projects.items,
        repositories.items,
        repositories_complete=repositories.complete and not repositories.skipped,
        misses=misses,
        gone=gone,
        reported=reported,
        confirmed_empty=confirmed_empty,
        now=await aredis_now(deps.aredis),  # every worker agrees on when a repository went missing
        present=frozenset(listing.unreadable),
    )
    rules = Rules(
        settings.github_missing_after,
        settings.github_archive_after_s,
        can_create=settings.platform_owner_telegram_id is not None,
        run_id=f"scheduler-github_sync-{run.correlation_id}"[:RUN_ID_MAX],
    )

    plan = plan_sync(observed, rules)

    await apply_plan(plan, run, platform, memory, settings.platform_owner_telegram_id)


class SyncMemory:
    """What github_sync remembers in Redis (shared by workers): absence counts, repositories gone
    (and the status of a project archived for them), repositories reported as discovered."""

    def __init__(self, client: aioredis.Redis, org: str):
        self.client = client
        self.misses_key, self.gone_key = Keys.github_missing(org), Keys.github_gone(org)
        self.reported_key = Keys.github_discovered(org)

    async def read(self) -> tuple[dict[int, int], dict[int, Gone], frozenset[int]]:
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(self.misses_key)
        pipe.hgetall(self.gone_key)
        pipe.hkeys(self.reported_key)
        raw_misses, raw_gone, raw_reported = await pipe.execute()
        misses = {int(k): int(v) for k, v in raw_misses.items()}
        gone = {int(key): parse_gone(value.decode()) for key, value in raw_gone.items()}
        return misses, gone, frozenset(int(k) for k in raw_reported)

    async def write(
        self, misses: Mapping[int, int], gone: Mapping[int, Gone | None], reported: Mapping[int, bool]
    ) -> None:
        pipe = self.client.pipeline(transaction=True)
        update_hashes(
            pipe,
            {
                self.misses_key: {k: v or None for k, v in misses.items()},
                self.gone_key: {k: g and format_gone(g) for k, g in gone.items()},
                self.reported_key: {k: 1 if v else None for k, v in reported.items()},
            },
        )
        await pipe.execute()


def format_gone(gone: Gone) -> str:
    return f"{gone.since}:retired:{gone.retired.value}" if gone.retired else f"{gone.since}"


def parse_gone(value: str) -> Gone:
    since, _, rest = value.partition(":")
    if not rest:
        return Gone(float(since))
    _, _, status = rest.partition(":")
    try:  # "retired" alone is an older memory: the status before is unknown, draft is the default
        return Gone(float(since), ProjectStatus(status) if status else ProjectStatus.DRAFT)
    except ValueError:
        return Gone(float(since), ProjectStatus.DRAFT)


# --------------------------------------------------------------------------- apply


class Owner:
    """The owner of new projects, looked up once per run and only if a project is to be made."""

    def __init__(self, platform: PlatformClient, telegram_id: int | None):
        self.platform, self.telegram_id = platform, telegram_id
        self._known: bool | None = None

    async def exists(self) -> bool:
        if self._known is None:
            self._known = (
                self.telegram_id is not None and await self.platform.find_user_by_telegram(self.telegram_id) is not None
            )
            if not self._known:
                log.error(
                    "github_sync.owner_unknown",
                    alert=True,
                    telegram_id=self.telegram_id,
                    note="PLATFORM_OWNER_TELEGRAM_ID names no platform user: no project is created",
                )
        return self._known


async def apply_plan(
    plan: Plan, run: Progress, platform: PlatformClient, memory: SyncMemory, owner_telegram_id: int | None
) -> None:
    """Write the plan, one record at a time (``RecordWrites``: a failed write is that record's,
    counted, and tried again at the next run), creates, project statuses and repository updates
    taken in turn so that no kind of change waits behind another; then the memory, without the
    repositories whose write failed (their change is planned again next time)."""
    writes = RecordWrites(run, "github_sync")
    owner = Owner(platform, owner_telegram_id)
    failed: set[int] = set()
    run.count("other_org_repositories", plan.other_org)
    run.count("discovered", plan.discovered)
    for repo_id in plan.rejected:
        run.count(REJECTED)
        log.warning("github_sync.repo_rejected", repo_id=repo_id, reason="its record would be invalid")
    for repo_id in plan.duplicates:
        run.count("duplicate_records")
        log.warning(
            "github_sync.duplicate_repositories",
            repo_id=repo_id,
            note="several platform repositories have this provider_repo_id; the platform's "
            "by-provider-id lookup fails for it",
        )
    for event in plan.events:
        _say(run, event)
    for change in interleaved(plan):
        if isinstance(change, Create | CreateRepository):
            ok = await _create(change, run, writes, platform, owner, owner_telegram_id)
            ids = (change.repo_id,)
        elif isinstance(change, SetProjectStatus):
            ok = await writes.write(
                lambda s=change: platform.update_project(s.project_id, ProjectUpdate(status=s.status)),
                "project_status",
                project_id=str(change.project_id),
                repo_ids=list(change.repo_ids),
            )
            if ok:
                _report_status(run, change)
            ids = change.repo_ids
        else:
            ok = await writes.write(
                lambda u=change: platform.update_repository(u.record_id, u.changes),
                "update",
                repo_id=change.repo_id,
                record_id=change.record_id,
            )
            if ok:
                run.count(UPDATES)
            ids = (change.repo_id,)
        if not ok:
            failed.update(ids)
    misses = {k: v for k, v in plan.misses.items() if k not in failed}
    gone = {k: v for k, v in plan.gone.items() if k not in failed}
    if misses or gone or plan.reported:
        await run.fence()
        await memory.write(misses, gone, plan.reported)


async def _create(
    change: Create | CreateRepository,
    run: Progress,
    writes: RecordWrites,
    platform: PlatformClient,
    owner: Owner,
    owner_telegram_id: int | None,
) -> bool:
    """The project (if it is new), then its repository; a repository found by its GitHub id
    when the platform's listing was not whole is not created again."""
    if change.lookup_first:
        found: list = []

        async def lookup():
            found.append(await platform.find_repository_by_provider_id(change.repo_id))

        if not await writes.write(lookup, "lookup", repo_id=change.repo_id):
            return False
        if found[0] is not None:
            run.count("found_existing")
            return True
    if isinstance(change, Create):
        if not await owner.exists():
            run.count("discovered")
            return True  # nothing written, nothing half-made: planned again next run
        assert owner_telegram_id is not None
        if not await writes.write(
            lambda: platform.create_project(change.project, owner_telegram_id=owner_telegram_id),
            "create_project",
            repo_id=change.repo_id,
            project_id=str(change.project.id),
        ):
            return False
        run.count("projects_created")
    else:
        run.count("finished")  # a project created by an earlier run that stopped before its repository
    if not await writes.write(
        lambda: platform.create_repository(change.repository),
        "create_repository",
        repo_id=change.repo_id,
        project_id=str(change.repository.project_id),
    ):
        return False
    run.count(CREATES)
    return True


def interleaved(plan: Plan) -> Iterator[Create | CreateRepository | SetProjectStatus | UpdateRepository]:
    """Creates, project statuses and repository updates, one of each in turn while each kind lasts."""
    for turn in itertools.zip_longest(plan.creates, plan.statuses, plan.updates):
        yield from (change for change in turn if change is not None)


def _say(run: Progress, event: Event) -> None:
    if event.kind == "missing":
        run.count(MISSING)
        log.error(
            "github_sync.repo_missing",
            alert=True,
            repo_id=event.repo_id,
            name=event.full_name,
            complete_listings_without_it=event.misses,
            note="deleted, or transferred out of the organisation",
        )
    else:
        run.count("discovered_reported")
        log.warning(
            "github_sync.repo_discovered",
            repo_id=event.repo_id,
            full_name=event.full_name,
            note="no PLATFORM_OWNER_TELEGRAM_ID: its project is not created (said once)",
        )


def _report_status(run: Progress, change: SetProjectStatus) -> None:
    run.count(change.event)
    if change.event == "archived_missing":
        log.warning(
            "github_sync.project_archived_missing",
            project_id=str(change.project_id),
            repo_ids=list(change.repo_ids),
            previous=change.previous.value,
            note="its repositories missing for GITHUB_ARCHIVE_AFTER",
        )
    else:
        log.info(
            "github_sync.project_restored",
            project_id=str(change.project_id),
            repo_ids=list(change.repo_ids),
            status=change.status.value,
        )


#: what github_sync needs of the platform (checked against its /openapi.json at start)
NEEDS = (
    PlatformNeed("get", "/api/projects/", ("id", "status")),
    PlatformNeed("post", "/api/projects/", ("id", "title", "status", "config", "initiating_run_id")),
    PlatformNeed("patch", "/api/projects/{project_id}", ("status",)),
    PlatformNeed(
        "get", "/api/repositories/", ("project_id", "provider_repo_id", "git_url", "name", "visibility", "is_managed")
    ),
    PlatformNeed("get", "/api/repositories/by-provider-id/{provider_repo_id}"),
    PlatformNeed(
        "post",
        "/api/repositories/",
        ("project_id", "name", "git_url", "provider_repo_id", "role", "visibility", "is_managed"),
    ),
    PlatformNeed("patch", "/api/repositories/{repo_id}", ("name", "git_url", "visibility")),
    PlatformNeed("get", "/api/users/by-telegram/{telegram_id}", ("id", "telegram_id")),
)

SPEC = TaskSpec(
    TaskName.GITHUB_SYNC,
    run_github_sync,
    time_limit_ms=10 * 60_000,
    max_retries=5,
    platform_needs=NEEDS,
    settings=GitHubSyncSettings,
    adapters=(PlatformSettings, GitHubSettings),
    credentials=(PlatformSettings.CREDENTIALS, GitHubSettings.CREDENTIALS),
)
