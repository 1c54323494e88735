"""github_sync's plan: a pure function from what was observed to the changes that make the
platform's Project records match the organisation. No I/O; every rule of the task lives here.

- identity is the repository id (``Project.github_repo_id``), never the name: a rename or a
  transfer within the org updates ``name``/``full_name`` of the same project;
- only the organisation's own projects are judged: a project of another org is left alone
  (absent from this listing, it would otherwise go missing), unless its repository is listed
  here (transferred in);
- a description the platform cannot store is fitted (``contracts.text.fit_text``); a name or URL it
  cannot store leaves the repository ``rejected`` (logged and counted, never written);
- a new repository -> one create, status ``discovered`` (``archived`` if it already is);
- changed fields -> one update carrying only those fields; unchanged -> nothing at all;
- archived or disabled on GitHub -> ``archived``; unarchived -> ``active``;
- absent from ``missing_after`` complete listings in a row -> ``missing`` (one alert); missing for
  ``archive_after_s`` -> ``archived`` (retired: absence is no longer counted for it); seen again
  -> ``active`` (or ``archived``, if it is on GitHub);
- a repository listed with fields that could not be read (``present``) is there: its absence
  is not counted, but nothing is written for it until it can be read;
- only a complete listing counts absence: a stopped walk (rate limits), an item without a
  readable id, or an empty listing that GitHub did not confirm (far likelier a credential that
  lost access than an emptied org) counts nothing. Seeing a repository, in any listing, resets
  its counter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from contracts.github import MinimalRepository
from contracts.platform import Project, ProjectCreate, ProjectStatus, ProjectUpdate, Visibility
from contracts.text import fit_text


@dataclass(frozen=True)
class Gone:
    """What is remembered of a project whose repository left: since when it is missing, and
    whether it was archived for it (retired)."""

    since: float
    retired: bool = False


@dataclass(frozen=True)
class Observed:
    org: str
    repos: Sequence[MinimalRepository]
    #: every page read and every item's id understood
    complete: bool
    projects: Sequence[Project]
    #: repository id -> complete listings in a row that lacked it
    misses: Mapping[int, int] = field(default_factory=dict)
    gone: Mapping[int, Gone] = field(default_factory=dict)
    #: GitHub confirmed that the organisation has no repository at all
    confirmed_empty: bool = False
    now: float = 0.0
    #: ids of repositories listed with fields that could not be read: present, not synced
    present: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Rules:
    missing_after: int = 3
    archive_after_s: float = 24 * 3600


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
    #: the run counters this update moves once it is written (``archived``, ``missing``...)
    events: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    creates: tuple[Create, ...] = ()
    updates: tuple[Update, ...] = ()
    #: repository id -> new absence count; 0 forgets the counter
    misses: Mapping[int, int] = field(default_factory=dict)
    #: repository id -> what to remember of its absence; None forgets it
    gone: Mapping[int, Gone | None] = field(default_factory=dict)
    #: repositories whose record the platform would refuse (e.g. an empty name): left alone
    rejected: tuple[int, ...] = ()
    #: projects of another organisation, left alone
    other_org: int = 0

    @property
    def empty(self) -> bool:
        return not (self.creates or self.updates or self.misses or self.gone)


def visibility_of(repo: MinimalRepository) -> Visibility:
    try:
        return Visibility(repo.visibility)
    except ValueError:
        return Visibility.PRIVATE if repo.private else Visibility.PUBLIC


def desired_fields(repo: MinimalRepository) -> dict:
    """What the project's fields should be, as GitHub describes the repository. The description is
    free text: what the platform cannot store is replaced or cut (``fit_text``); the other fields
    are identities and links, so one that cannot be stored rejects the record instead."""
    fields = {"name": repo.name, "full_name": repo.full_name, "description": fit_text(repo.description),
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


def events_of(previous: ProjectStatus, new: ProjectStatus | None, *, seen: bool, retired: bool) -> tuple[str, ...]:
    """The counters a status change moves: what an operator reads in the run record."""
    if new is None or new == previous:
        return ()
    if new is ProjectStatus.MISSING:
        return ("missing",)
    if new is ProjectStatus.ARCHIVED:
        if not seen:
            return ("archived_missing",)
        return ("archived", "restored") if previous is ProjectStatus.MISSING else ("archived",)
    if previous is ProjectStatus.MISSING or retired:
        return ("restored",)
    if previous is ProjectStatus.ARCHIVED:
        return ("unarchived",)
    return ()


def ours(org: str, projects: Iterable[Project], listed: set[int]) -> list[Project]:
    """The projects this organisation's listing judges: its own, and any whose repository it lists."""
    prefix = f"{org.lower()}/"
    return [p for p in projects if p.full_name.lower().startswith(prefix) or p.github_repo_id in listed]


def plan_sync(observed: Observed, rules: Rules = Rules()) -> Plan:
    """The changes that make the projects match the listing. No I/O."""
    seen: dict[int, MinimalRepository] = {}
    for repo in observed.repos:
        seen.setdefault(repo.id, repo)
    listed = set(seen) | observed.present
    judged = ours(observed.org, observed.projects, listed)
    by_repo: dict[int, Project] = {}
    for project in judged:
        by_repo.setdefault(project.github_repo_id, project)
    creates: list[Create] = []
    updates: list[Update] = []
    counts: dict[int, int] = {}
    gone: dict[int, Gone | None] = {}
    rejected: list[int] = []

    for repo_id, repo in seen.items():
        if observed.misses.get(repo_id):
            counts[repo_id] = 0  # seen: the run of absences is broken
        if repo_id in observed.gone:
            gone[repo_id] = None
        project = by_repo.get(repo_id)
        wanted = {**desired_fields(repo), "status": desired_status(project and project.status, repo)}
        try:
            if project is None:
                creates.append(Create(repo_id, ProjectCreate(github_repo_id=repo_id, **wanted)))
                continue
            changed = {name: value for name, value in wanted.items() if getattr(project, name) != value}
            if changed:
                retired = repo_id in observed.gone and observed.gone[repo_id].retired
                updates.append(Update(project.id, repo_id, repo.full_name, project.status, ProjectUpdate(**changed),
                                      events=events_of(project.status, changed.get("status"), seen=True,
                                                       retired=retired)))
        except ValidationError:
            rejected.append(repo_id)

    for repo_id in observed.present - set(seen):
        if observed.misses.get(repo_id):
            counts[repo_id] = 0  # there, if unreadable: the run of absences is broken
    if observed.complete and (listed or observed.confirmed_empty):
        for repo_id, project in by_repo.items():
            if repo_id not in listed:
                _absent(project, observed, rules, updates, counts, gone)
    for repo_id, count in observed.misses.items():  # counters of projects that no longer exist
        if count and repo_id not in listed and repo_id not in by_repo:
            counts[repo_id] = 0
    for repo_id in observed.gone:
        if repo_id not in listed and repo_id not in by_repo:
            gone[repo_id] = None
    return Plan(tuple(creates), tuple(updates), counts, gone, tuple(rejected),
                other_org=len(observed.projects) - len(judged))


def _absent(project: Project, observed: Observed, rules: Rules, updates: list[Update], counts: dict[int, int],
            gone: dict[int, Gone | None]) -> None:
    """One more complete listing without the project's repository."""
    repo_id = project.github_repo_id
    memory = observed.gone.get(repo_id)
    if memory is not None and memory.retired and project.status is ProjectStatus.ARCHIVED:
        return  # archived for its absence: nothing more to count
    if project.status is ProjectStatus.MISSING:
        if memory is None:
            gone[repo_id] = Gone(observed.now)  # missing since before this was remembered: start now
        elif observed.now - memory.since >= rules.archive_after_s:
            updates.append(Update(project.id, repo_id, project.full_name, project.status,
                                  ProjectUpdate(status=ProjectStatus.ARCHIVED),
                                  events=events_of(project.status, ProjectStatus.ARCHIVED, seen=False, retired=False)))
            gone[repo_id] = Gone(memory.since, retired=True)
        return
    count = observed.misses.get(repo_id, 0) + 1
    if count < rules.missing_after:
        counts[repo_id] = count
        return
    updates.append(Update(project.id, repo_id, project.full_name, project.status,
                          ProjectUpdate(status=ProjectStatus.MISSING), misses=count, events=("missing",)))
    counts[repo_id] = 0  # the status remembers it from here on
    gone[repo_id] = Gone(observed.now)
