"""github_sync: the GitHub organisation's repositories -> the platform's Project records.

A reconciler, read top to bottom: **observe** (the org listing, conditionally, and the platform's
projects, and the absence counters in Redis) -> **plan** (``plan_sync``, a pure function) ->
**apply** (API writes, each behind the fencing check, then the counters).

The rules (all in ``plan_sync``):
- identity is the repository id (``Project.github_repo_id``), never the name: a rename or a
  transfer within the org updates ``name``/``full_name`` of the same project;
- a new repository -> one create, status ``discovered`` (``archived`` if it already is);
- changed fields -> one update carrying only those fields; unchanged -> nothing at all;
- archived or disabled on GitHub -> ``archived``; unarchived -> ``active``;
- absent from K complete listings in a row (``GITHUB_MISSING_AFTER``, default 3) -> ``missing``,
  with one alert log line when it happens; seen again -> ``active`` (or ``archived``);
- only a complete listing counts absence: a stopped walk (rate limits), a skipped malformed item
  or an empty listing (far likelier a credential that lost access than an emptied org) counts
  nothing, and a failed one raises before anything is planned. Seeing a repository, in any
  listing, resets its counter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import redis
from pydantic import ValidationError

from contracts import Keys, TaskName
from contracts.github import MinimalRepository
from contracts.platform import Project, ProjectCreate, ProjectStatus, ProjectUpdate, Visibility
from scheduler.logs import get_logger

from actors.adapters.github.client import get_github_client
from actors.adapters.platform.client import PlatformAPIError, PlatformClient, get_platform_client
from actors.runtime.run import TaskRun
from actors.runtime.spec import TaskSpec

log = get_logger(__name__)

#: 4xx answers that concern one record (gone, clashing, refused): logged and skipped, the run goes on
PER_RECORD_REFUSALS = {404, 409, 422}


# --------------------------------------------------------------------------- observe


async def run_github_sync(run: TaskRun) -> None:
    github, platform = get_github_client(), get_platform_client()
    listing = await github.list_org_repos(run.client)
    projects = await platform.list_projects()
    misses = read_misses(run.client, github.org)
    for name, value in (("pages", listing.pages), ("not_modified", listing.not_modified),
                        ("points", listing.points), ("requests", listing.requests),
                        ("skipped_items", listing.skipped_items), ("skipped_projects", projects.skipped)):
        run.count(name, value)
    if not listing.complete:
        run.count("incomplete")
        log.warning("github_sync.listing_incomplete", stopped=listing.stopped, skipped_items=listing.skipped_items,
                    repos=len(listing.repos), note="absence is not counted for this listing")

    # Projects of another organisation are not this listing's to judge (absent, they'd go missing);
    # one whose repository was transferred into the org is ours again.
    listed = {repo.id for repo in listing.repos}
    ours = [p for p in projects.items
            if p.full_name.lower().startswith(f"{github.org.lower()}/") or p.github_repo_id in listed]
    run.count("other_org_projects", len(projects.items) - len(ours))
    plan = plan_sync(listing.repos, listing.complete, ours, misses,
                     missing_after=github.settings.github_missing_after)

    await apply_plan(plan, run, platform, github.org)


def read_misses(client: redis.Redis, org: str) -> dict[int, int]:
    return {int(k): int(v) for k, v in client.hgetall(Keys.github_missing(org)).items()}


# --------------------------------------------------------------------------- plan (pure)


@dataclass(frozen=True)
class Create:
    repo_id: int
    project: ProjectCreate


@dataclass(frozen=True)
class Update:
    project_id: int
    repo_id: int
    full_name: str
    previous: ProjectStatus
    changes: ProjectUpdate
    misses: int = 0  # the absence count that made it missing


@dataclass(frozen=True)
class Plan:
    creates: tuple[Create, ...] = ()
    updates: tuple[Update, ...] = ()
    #: repository id -> new absence count; 0 forgets the counter
    misses: Mapping[int, int] = field(default_factory=dict)
    #: repositories whose record the platform would refuse (e.g. an empty name): left alone
    rejected: tuple[int, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.creates or self.updates or self.misses)


def visibility_of(repo: MinimalRepository) -> Visibility:
    try:
        return Visibility(repo.visibility)
    except ValueError:
        return Visibility.PRIVATE if repo.private else Visibility.PUBLIC


def desired_fields(repo: MinimalRepository) -> dict:
    """What the project's fields should be, as GitHub describes the repository."""
    fields = {"name": repo.name, "full_name": repo.full_name, "description": repo.description,
              "html_url": repo.html_url, "pushed_at": repo.pushed_at, "visibility": visibility_of(repo)}
    if repo.default_branch:  # not required by GitHub's schema: keep what we have when absent
        fields["default_branch"] = repo.default_branch
    return fields


def desired_status(current: ProjectStatus | None, repo: MinimalRepository) -> ProjectStatus:
    if repo.archived or repo.disabled:
        return ProjectStatus.ARCHIVED
    if current is None:
        return ProjectStatus.DISCOVERED
    if current in (ProjectStatus.MISSING, ProjectStatus.ARCHIVED):
        return ProjectStatus.ACTIVE  # back in the org, or unarchived
    return current  # discovered or active: not ours to move between


def plan_sync(repos: Iterable[MinimalRepository], complete: bool, projects: Iterable[Project],
              misses: Mapping[int, int], *, missing_after: int) -> Plan:
    """The changes that make the projects match the listing. No I/O."""
    seen: dict[int, MinimalRepository] = {}
    for repo in repos:
        seen.setdefault(repo.id, repo)
    by_repo: dict[int, Project] = {}
    for project in projects:
        by_repo.setdefault(project.github_repo_id, project)
    creates: list[Create] = []
    updates: list[Update] = []
    counts: dict[int, int] = {}
    rejected: list[int] = []

    for repo_id, repo in seen.items():
        if misses.get(repo_id):
            counts[repo_id] = 0  # seen: the run of absences is broken
        project = by_repo.get(repo_id)
        wanted = {**desired_fields(repo), "status": desired_status(project and project.status, repo)}
        try:
            if project is None:
                creates.append(Create(repo_id, ProjectCreate(github_repo_id=repo_id, **wanted)))
                continue
            changed = {name: value for name, value in wanted.items() if getattr(project, name) != value}
            if changed:
                updates.append(Update(project.id, repo_id, repo.full_name, project.status, ProjectUpdate(**changed)))
        except ValidationError:
            rejected.append(repo_id)

    if complete and seen:
        for repo_id, project in by_repo.items():
            if repo_id in seen or project.status is ProjectStatus.MISSING:
                continue
            count = misses.get(repo_id, 0) + 1
            if count >= missing_after:
                updates.append(Update(project.id, repo_id, project.full_name, project.status,
                                      ProjectUpdate(status=ProjectStatus.MISSING), misses=count))
                counts[repo_id] = 0  # the status remembers it from here on
            else:
                counts[repo_id] = count
    for repo_id, count in misses.items():  # counters of projects that no longer exist
        if count and repo_id not in seen and repo_id not in by_repo:
            counts[repo_id] = 0
    return Plan(tuple(creates), tuple(updates), counts, tuple(rejected))


# --------------------------------------------------------------------------- apply


async def apply_plan(plan: Plan, run: TaskRun, platform: PlatformClient, org: str) -> None:
    failed: set[int] = set()
    for repo_id in plan.rejected:
        run.count("skipped_items")
        log.warning("github_sync.repo_rejected", repo_id=repo_id, reason="its record would be invalid")
    for create in plan.creates:
        run.check_fence()
        if await _write(platform.create_project(create.project), create.repo_id, "create", run):
            run.count("creates")
    for update in plan.updates:
        run.check_fence()
        if not await _write(platform.update_project(update.project_id, update.changes), update.repo_id,
                            "update", run):
            failed.add(update.repo_id)
            continue
        run.count("updates")
        _count_transition(run, update)
    counts = {repo_id: n for repo_id, n in plan.misses.items() if repo_id not in failed}
    if counts:
        run.check_fence()
        pipe = run.client.pipeline(transaction=True)
        key = Keys.github_missing(org)
        forget = [repo_id for repo_id, n in counts.items() if n == 0]
        keep = {repo_id: n for repo_id, n in counts.items() if n > 0}
        if forget:
            pipe.hdel(key, *forget)
        if keep:
            pipe.hset(key, mapping=keep)
        pipe.execute()


async def _write(call, repo_id: int, what: str, run: TaskRun) -> bool:
    try:
        await call
    except PlatformAPIError as exc:
        if exc.status not in PER_RECORD_REFUSALS:
            raise  # 401/403 and the like concern every write: fail the run
        run.count("write_errors")
        log.error("github_sync.write_refused", what=what, repo_id=repo_id, status=exc.status,
                  detail=str(exc.detail)[:300])
        return False
    return True


def _count_transition(run: TaskRun, update: Update) -> None:
    new = update.changes.status
    if new is None or new == update.previous:
        return
    if new is ProjectStatus.ARCHIVED:
        run.count("archived")
    elif new is ProjectStatus.MISSING:
        run.count("missing")
        log.error("github_sync.repo_missing", alert=True, repo_id=update.repo_id, full_name=update.full_name,
                  project_id=update.project_id, complete_listings_without_it=update.misses,
                  note="deleted, or transferred out of the organisation")
    if update.previous is ProjectStatus.MISSING:
        run.count("restored")
        log.info("github_sync.repo_back", repo_id=update.repo_id, full_name=update.full_name, status=new.value)
    elif update.previous is ProjectStatus.ARCHIVED and new is ProjectStatus.ACTIVE:
        run.count("unarchived")


SPEC = TaskSpec(TaskName.GITHUB_SYNC, run_github_sync, time_limit_ms=10 * 60_000, max_retries=5)
