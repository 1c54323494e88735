"""github_sync's plan: a pure function from what was observed to the changes that make the
platform's projects and repositories match the organisation. No I/O; every rule lives here.

The platform (codegen_orchestrator head) keeps a GitHub repository as a Repository record
(``provider_repo_id``, ``name``, ``git_url``, ``visibility``, ``role``, ``is_managed``) under a
Project (UUID, ``title``, ``status`` draft|active|paused|archived, owned by a user).

- identity is GitHub's repository id (``Repository.provider_repo_id``), never the name: a
  rename or a transfer within the org updates ``name``/``git_url`` of the same record;
- the repositories this org's listing judges: those it lists (a transfer in), and those whose
  ``git_url`` names this org; a repository of another org is left alone (``other_org``);
- a new repository -> a ``draft`` Project with a caller-chosen id, ``project_id_of(repo id)``
  (UUID v5), owned by ``PLATFORM_OWNER_TELEGRAM_ID``, ``initiating_run_id`` naming the sync, and
  then its ``primary`` Repository. The project is written first (a repository needs it); a crash
  between the two leaves a project under that known id with no repository, which the next run
  finds (``CreateRepository``) and finishes, without the owner and without a second project. A
  create retried after a lost answer finds what it made (the project by its id, the repository by
  ``by-provider-id``). Without an owner the repository is ``discovered``: counted every run,
  reported once, nothing written;
- changed fields -> one Repository update carrying only those; unchanged -> nothing at all;
- GitHub's ``internal`` visibility (org members only) -> ``private``; the platform has no third
  value, and calling it public would say more than GitHub does;
- a repository or project field the platform cannot store leaves the repository ``rejected``
  (logged and counted, never written);
- absent from ``missing_after`` complete listings in a row -> missing (the rule of
  ``actors.tasks.absence``; one alert; remembered in Redis, the platform's own ``status`` column
  is not writable through its API); missing for
  ``archive_after_s`` -> expired. A project is archived when it has an expired managed repository
  of ours and no managed repository that remains (another org's, one without a GitHub id, or one
  still listed all remain); what it was before is remembered, and a returning repository restores
  it (only a project we archived: an operator's archive is theirs);
- a listing is complete (``absence``: only then is absence counted) when no walk stopped, every
  item's id was read, and, if it is empty, GitHub confirmed it; a repository listed but
  unreadable (``present``) is there: its absence is not counted, nothing is written for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from pydantic import ValidationError

from actors.tasks.absence import absence, remember
from contracts.github import MinimalRepository
from contracts.platform import (
    Project,
    ProjectCreate,
    ProjectStatus,
    Repository,
    RepositoryCreate,
    RepositoryRole,
    RepositoryUpdate,
    RepositoryVisibility,
)

#: the namespace of the project ids github_sync chooses (``project_id_of``)
PROJECT_NAMESPACE = uuid.UUID("5b0d6f0e-9c1e-4c55-8f1e-67697468756b")


def project_id_of(repo_id: int) -> uuid.UUID:
    """The id github_sync gives the project of a GitHub repository: the same on every run and
    every worker, so a create that was interrupted or retried can only ever make one."""
    return uuid.uuid5(PROJECT_NAMESPACE, f"github:{repo_id}")


@dataclass(frozen=True)
class Gone:
    """What is remembered of a repository that left: since when it is missing, and, once its
    project was archived for it, the status that project had (``retired``)."""

    since: float
    retired: ProjectStatus | None = None


@dataclass(frozen=True)
class Observed:
    org: str
    repos: Sequence[MinimalRepository]
    #: every page read and every item's id understood
    complete: bool
    projects: Sequence[Project]
    repositories: Sequence[Repository]
    #: every repository of the platform was read (not truncated, none skipped)
    repositories_complete: bool = True
    #: repository id -> complete listings in a row that lacked it
    misses: Mapping[int, int] = field(default_factory=dict)
    gone: Mapping[int, Gone] = field(default_factory=dict)
    #: repository ids already reported as discovered (no owner to create them for)
    reported: frozenset[int] = frozenset()
    #: GitHub confirmed that the organisation has no repository at all
    confirmed_empty: bool = False
    now: float = 0.0
    #: ids of repositories listed with fields that could not be read: present, not synced
    present: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Rules:
    missing_after: int = 3
    archive_after_s: float = 24 * 3600
    #: whether an owner is configured (``PLATFORM_OWNER_TELEGRAM_ID``): new projects can be made
    can_create: bool = True
    #: ``initiating_run_id`` of the projects this run creates
    run_id: str = "github_sync"


@dataclass(frozen=True)
class Create:
    """A new repository: its project, then its repository. ``lookup_first`` when the platform's
    repositories could not all be read: the repository may exist already."""

    repo_id: int
    full_name: str
    project: ProjectCreate
    repository: RepositoryCreate
    lookup_first: bool = False


@dataclass(frozen=True)
class CreateRepository:
    """The repository of a project github_sync created earlier (a run stopped in between)."""

    repo_id: int
    full_name: str
    repository: RepositoryCreate
    lookup_first: bool = False


@dataclass(frozen=True)
class UpdateRepository:
    repo_id: int
    record_id: str
    full_name: str
    changes: RepositoryUpdate


@dataclass(frozen=True)
class SetProjectStatus:
    """Archive a project whose repositories are gone, or restore one we archived."""

    project_id: uuid.UUID
    repo_ids: tuple[int, ...]
    previous: ProjectStatus
    status: ProjectStatus
    #: ``archived_missing`` or ``restored``
    event: str


@dataclass(frozen=True)
class Event:
    """Something to say without a write: a repository gone ``missing``, one ``discovered``."""

    kind: str
    repo_id: int
    full_name: str
    misses: int = 0


@dataclass(frozen=True)
class Plan:
    creates: tuple[Create | CreateRepository, ...] = ()
    updates: tuple[UpdateRepository, ...] = ()
    statuses: tuple[SetProjectStatus, ...] = ()
    events: tuple[Event, ...] = ()
    #: repository id -> new absence count; 0 forgets the counter
    misses: Mapping[int, int] = field(default_factory=dict)
    #: repository id -> what to remember of its absence; None forgets it
    gone: Mapping[int, Gone | None] = field(default_factory=dict)
    #: repository id -> True: remember it was reported as discovered; False: forget it
    reported: Mapping[int, bool] = field(default_factory=dict)
    #: new repositories there is no owner to create for (counted every run)
    discovered: int = 0
    #: repositories whose record the platform would refuse (e.g. an empty name): left alone
    rejected: tuple[int, ...] = ()
    #: platform repositories of another organisation, left alone
    other_org: int = 0
    #: provider ids held by more than one platform repository (the first is used)
    duplicates: tuple[int, ...] = ()

    @property
    def writes(self) -> int:
        return sum(2 if isinstance(c, Create) else 1 for c in self.creates) + len(self.updates) + len(self.statuses)


def visibility_of(repo: MinimalRepository) -> RepositoryVisibility:
    """public -> public; private and internal -> private (the platform has two values)."""
    if repo.visibility == "public" or (repo.visibility is None and not repo.private):
        return RepositoryVisibility.PUBLIC
    return RepositoryVisibility.PRIVATE


def git_url_of(repo: MinimalRepository) -> str:
    return f"{repo.html_url.rstrip('/')}.git"


def desired_fields(repo: MinimalRepository) -> dict:
    """What the Repository record should say, as GitHub describes the repository."""
    return {"name": repo.name, "git_url": git_url_of(repo), "visibility": visibility_of(repo)}


def org_of(git_url: str) -> str | None:
    """The owner in a repository URL (``https://host/<owner>/<name>.git``), lowercased."""
    parts = [p for p in urlsplit(git_url).path.split("/") if p]
    return parts[0].lower() if len(parts) >= 2 else None


def plan_sync(observed: Observed, rules: Rules = Rules()) -> Plan:
    """The changes that make the platform match the listing. No I/O."""
    seen: dict[int, MinimalRepository] = {}
    for repo in observed.repos:
        seen.setdefault(repo.id, repo)
    listed = set(seen) | observed.present
    org = observed.org.lower()
    by_repo: dict[int, Repository] = {}
    duplicates: set[int] = set()
    other_org = 0
    for record in observed.repositories:
        rid = record.provider_repo_id
        if rid is None or (rid not in listed and org_of(record.git_url) != org):
            other_org += rid is not None
            continue
        if rid in by_repo:
            duplicates.add(rid)
            continue
        by_repo[rid] = record
    projects = {p.id: p for p in observed.projects}

    creates: list[Create | CreateRepository] = []
    updates: list[UpdateRepository] = []
    statuses: list[SetProjectStatus] = []
    events: list[Event] = []
    counts: dict[int, int] = {}
    gone: dict[int, Gone | None] = {}
    reported: dict[int, bool] = {}
    rejected: list[int] = []
    discovered = 0
    restoring: dict[uuid.UUID, list[int]] = {}

    complete = observed.complete and bool(listed or observed.confirmed_empty)
    for repo_id in listed:  # listed, readable or not: the run of absences is broken
        before = observed.misses.get(repo_id, 0)
        remember(
            counts, repo_id, before, absence(before, listed=True, complete=complete, missing_after=rules.missing_after)
        )
    for repo_id, repo in seen.items():
        memory = observed.gone.get(repo_id)
        if memory is not None:
            gone[repo_id] = None
        record = by_repo.get(repo_id)
        wanted = desired_fields(repo)
        try:
            if record is None:
                project_id = project_id_of(repo_id)
                repository = RepositoryCreate(
                    project_id=project_id,
                    provider_repo_id=repo_id,
                    role=RepositoryRole.PRIMARY,
                    is_managed=True,
                    **wanted,
                )
                lookup = not observed.repositories_complete
                if project_id in projects:
                    creates.append(CreateRepository(repo_id, repo.full_name, repository, lookup))
                elif rules.can_create:
                    project = ProjectCreate(
                        id=project_id,
                        title=repo.name,
                        status=ProjectStatus.DRAFT,
                        initiating_run_id=rules.run_id,
                        config={"github_sync": {"org": observed.org, "provider_repo_id": repo_id}},
                    )
                    creates.append(Create(repo_id, repo.full_name, project, repository, lookup))
                else:
                    discovered += 1
                    if repo_id not in observed.reported:
                        reported[repo_id] = True
                        events.append(Event("discovered", repo_id, repo.full_name))
                continue
            changed = {name: value for name, value in wanted.items() if getattr(record, name) != value}
            if changed:
                updates.append(UpdateRepository(repo_id, record.id, repo.full_name, RepositoryUpdate(**changed)))
            if memory is not None and memory.retired is not None:
                restoring.setdefault(record.project_id, []).append(repo_id)
        except ValidationError:
            rejected.append(repo_id)

    for project_id, repo_ids in restoring.items():
        project = projects.get(project_id)
        previous = observed.gone[repo_ids[0]].retired
        if project is not None and project.status is ProjectStatus.ARCHIVED and previous is not None:
            statuses.append(SetProjectStatus(project_id, tuple(repo_ids), project.status, previous, "restored"))

    expired: dict[uuid.UUID, list[int]] = {}
    for repo_id, record in by_repo.items():
        if repo_id not in listed and _absent(record, observed, rules, complete, events, counts, gone):
            expired.setdefault(record.project_id, []).append(repo_id)
    _archive(expired, by_repo, observed, projects, statuses, gone)

    for repo_id in set(observed.misses) | set(observed.gone):  # memory of records that no longer exist
        if repo_id not in listed and repo_id not in by_repo:
            if observed.misses.get(repo_id):
                counts[repo_id] = 0
            if repo_id in observed.gone:
                gone[repo_id] = None
    for repo_id in observed.reported:  # discovered, then created or gone: forget it was reported
        if repo_id in by_repo or (observed.complete and repo_id not in listed):
            reported[repo_id] = False
    return Plan(
        tuple(creates),
        tuple(updates),
        tuple(statuses),
        tuple(events),
        counts,
        gone,
        reported,
        discovered,
        tuple(rejected),
        other_org,
        tuple(sorted(duplicates)),
    )


def _absent(
    record: Repository,
    observed: Observed,
    rules: Rules,
    complete: bool,
    events: list[Event],
    counts: dict[int, int],
    gone: dict[int, Gone | None],
) -> bool:
    """One more listing without the repository; whether it has been missing for
    ``archive_after_s`` (expired: judged on a complete listing only)."""
    repo_id = record.provider_repo_id
    assert repo_id is not None
    memory = observed.gone.get(repo_id)
    if memory is not None:  # missing already: the memory of its absence says it
        return complete and observed.now - memory.since >= rules.archive_after_s
    before = observed.misses.get(repo_id, 0)
    after = absence(before, listed=False, complete=complete, missing_after=rules.missing_after)
    remember(counts, repo_id, before, after)
    if not after.missing:
        return False
    events.append(Event("missing", repo_id, record.name, misses=after.count))
    gone[repo_id] = Gone(observed.now)
    return rules.archive_after_s <= 0


def _archive(
    expired: dict[uuid.UUID, list[int]],
    by_repo: Mapping[int, Repository],
    observed: Observed,
    projects: Mapping[uuid.UUID, Project],
    statuses: list[SetProjectStatus],
    gone: dict[int, Gone | None],
) -> None:
    """Archive each project whose managed repositories are all expired (and that has one)."""
    gone_ids = {rid for ids in expired.values() for rid in ids}
    managed: dict[uuid.UUID, list[Repository]] = {}
    for record in observed.repositories:
        if record.is_managed:
            managed.setdefault(record.project_id, []).append(record)
    for project_id, repo_ids in expired.items():
        project = projects.get(project_id)
        mine = managed.get(project_id, [])
        if project is None or not any(r.provider_repo_id in gone_ids for r in mine):
            continue
        if any(r.provider_repo_id not in gone_ids or by_repo.get(r.provider_repo_id) is not r for r in mine):
            continue  # one of its managed repositories remains
        if all((observed.gone.get(rid) or Gone(0)).retired is not None for rid in repo_ids):
            continue  # archived for it already: nothing more to do
        if project.status is ProjectStatus.ARCHIVED:
            continue  # archived by someone else: not ours to restore later either
        statuses.append(
            SetProjectStatus(project_id, tuple(repo_ids), project.status, ProjectStatus.ARCHIVED, "archived_missing")
        )
        for rid in repo_ids:
            since = observed.gone[rid].since if rid in observed.gone else observed.now
            gone[rid] = Gone(since, retired=project.status)
