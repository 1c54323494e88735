"""github_sync's plan: the rules, one by one, and as properties over random worlds.

``Records`` holds the platform's projects in memory and the task's absence memory in an in-memory
Redis; ``cycle`` plans against them and applies the plan with the task's own ``apply_plan``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import fakeredis
import fakeredis.aioredis
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.tasks.github_sync.plan import Gone, Observed, Plan, Rules, desired_fields, plan_sync
from actors.tasks.github_sync.task import AbsenceMemory, apply_plan
from contracts.github import MinimalRepository
from contracts.platform import Project, ProjectCreate, ProjectStatus, ProjectUpdate

from tests.support import FakeRun

ORG = "acme"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
K = 3
DAY = 24 * 3600


def repo(repo_id: int, name: str | None = None, **fields) -> MinimalRepository:
    name = name or f"repo-{repo_id}"
    base = {"id": repo_id, "name": name, "full_name": f"{ORG}/{name}", "owner": {"login": ORG, "id": 1},
            "private": False, "html_url": f"https://github.com/{ORG}/{name}", "description": f"about {name}",
            "default_branch": "main", "visibility": "public", "pushed_at": T0 + timedelta(hours=repo_id)}
    return MinimalRepository.model_validate({**base, **fields})


class FakePlatform:
    """The two writes github_sync makes, on projects kept in memory."""

    def __init__(self, projects: dict[int, Project]):
        self.projects, self.writes = projects, 0

    async def create_project(self, project: ProjectCreate) -> Project:
        new_id = max(self.projects, default=0) + 1
        self.projects[new_id] = Project(id=new_id, created_at=T0, updated_at=T0, **project.model_dump())
        self.writes += 1
        return self.projects[new_id]

    async def update_project(self, project_id: int, changes: ProjectUpdate) -> Project:
        fields = {name: getattr(changes, name) for name in changes.model_fields_set}
        assert fields, "an update always carries at least one field"
        self.projects[project_id] = self.projects[project_id].model_copy(update=fields)
        self.writes += 1
        return self.projects[project_id]


@dataclass
class Records:
    """The platform's projects and the task's Redis memory, as ``apply_plan`` leaves them."""

    projects: dict[int, Project] = field(default_factory=dict)  # by project id
    server: fakeredis.FakeServer = field(default_factory=fakeredis.FakeServer)
    writes: int = 0
    now: float = T0.timestamp()
    counters: Counter = field(default_factory=Counter)

    def _memory(self) -> tuple[AbsenceMemory, fakeredis.aioredis.FakeRedis]:
        client = fakeredis.aioredis.FakeRedis(server=self.server)
        return AbsenceMemory(client, ORG), client

    def _in_loop(self, body):
        async def go():
            memory, client = self._memory()
            try:
                return await body(memory)
            finally:
                await client.aclose()
        return asyncio.run(go())

    @property
    def misses(self) -> dict[int, int]:
        return self._in_loop(lambda memory: memory.read())[0]

    @misses.setter
    def misses(self, values: dict[int, int]) -> None:
        self._in_loop(lambda memory: memory.write(values, {}))

    @property
    def gone(self) -> dict[int, Gone]:
        return self._in_loop(lambda memory: memory.read())[1]

    def by_repo(self, repo_id: int) -> Project:
        return next(p for p in self.projects.values() if p.github_repo_id == repo_id)

    def plan(self, repos, complete: bool = True, missing_after: int = K, *, confirmed_empty: bool = False,
             archive_after: float = DAY, present: frozenset[int] = frozenset()) -> Plan:
        misses, gone = self._in_loop(lambda memory: memory.read())
        observed = Observed(ORG, list(repos), complete, list(self.projects.values()), misses, gone,
                            confirmed_empty=confirmed_empty, now=self.now, present=present)
        return plan_sync(observed, Rules(missing_after, archive_after))

    def apply(self, plan: Plan) -> None:
        platform, run = FakePlatform(self.projects), FakeRun()
        self._in_loop(lambda memory: apply_plan(plan, run, platform, memory))
        self.writes += platform.writes
        self.counters += run.counters

    def cycle(self, repos, complete: bool = True, missing_after: int = K, **options) -> Plan:
        plan = self.plan(repos, complete, missing_after, **options)
        self.apply(plan)
        return plan


def synced(*repos: MinimalRepository) -> Records:
    records = Records()
    records.cycle(repos)
    records.writes = 0
    return records


# ---- creates and updates ---------------------------------------------------------------------------------

def test_a_new_repository_becomes_a_discovered_project_with_its_fields():
    plan = Records().cycle([repo(10, description="billing")])
    (create,) = plan.creates
    assert create.project.status is ProjectStatus.DISCOVERED
    assert (create.project.github_repo_id, create.project.full_name, create.project.description) == (
        10, f"{ORG}/repo-10", "billing")
    assert create.project.pushed_at == T0 + timedelta(hours=10) and not plan.updates


def test_an_archived_new_repository_is_created_archived_in_one_write():
    plan = Records().cycle([repo(11, archived=True)])
    assert [c.project.status for c in plan.creates] == [ProjectStatus.ARCHIVED] and not plan.updates


def test_an_unchanged_world_plans_nothing():
    records = synced(repo(1), repo(2, archived=True))
    for _ in range(5):
        assert records.cycle([repo(1), repo(2, archived=True)]).empty
    assert records.writes == 0


def test_a_rename_updates_the_same_project_by_id_with_only_the_changed_fields():
    records = synced(repo(1, "old-name", description="d"), repo(2))
    project_id = records.by_repo(1).id
    plan = records.cycle([repo(1, "new-name", description="d"), repo(2)])
    (update,) = plan.updates
    assert not plan.creates and update.project_id == project_id
    assert update.changes.changes() == {"name": "new-name", "full_name": f"{ORG}/new-name",
                                        "html_url": f"https://github.com/{ORG}/new-name"}


def test_a_name_taken_over_by_another_repository_is_a_new_project():
    records = synced(repo(1, "shared", description="d"))
    plan = records.cycle([repo(1, "renamed", description="d"), repo(2, "shared")])
    assert [c.repo_id for c in plan.creates] == [2]
    assert [u.changes.name for u in plan.updates] == ["renamed"]


def test_one_update_per_project_carrying_every_changed_field_and_nothing_else():
    records = synced(repo(1))
    plan = records.cycle([repo(1, description=None, visibility="private", private=True, default_branch="trunk")])
    (update,) = plan.updates
    assert update.changes.changes() == {"description": None, "visibility": "private", "default_branch": "trunk"}


def test_a_missing_default_branch_or_unknown_visibility_keeps_or_derives_the_value():
    records = synced(repo(1, default_branch="develop"))
    assert records.cycle([repo(1, default_branch=None)]).empty
    assert records.by_repo(1).default_branch == "develop"
    plan = records.cycle([repo(1, default_branch="develop", visibility="mystery", private=True)])
    assert [u.changes.changes() for u in plan.updates] == [{"visibility": "private"}]


def test_archived_or_disabled_on_github_archives_the_project_and_unarchiving_makes_it_active():
    records = synced(repo(1), repo(2))
    plan = records.cycle([repo(1, archived=True), repo(2, disabled=True)])
    assert sorted((u.repo_id, u.changes.changes()["status"]) for u in plan.updates) == [
        (1, "archived"), (2, "archived")]
    plan = records.cycle([repo(1), repo(2, disabled=True)])
    assert [(u.repo_id, u.changes.changes()) for u in plan.updates] == [(1, {"status": "active"})]


def test_discovered_and_active_are_kept_while_fields_change():
    records = synced(repo(1), repo(2))
    records.projects[records.by_repo(2).id] = records.by_repo(2).model_copy(update={"status": ProjectStatus.ACTIVE})
    plan = records.cycle([repo(1, description="x"), repo(2, description="y")])
    assert all("status" not in u.changes.model_fields_set for u in plan.updates)
    assert records.by_repo(1).status is ProjectStatus.DISCOVERED and records.by_repo(2).status is ProjectStatus.ACTIVE


def test_a_repository_listed_twice_is_planned_once():
    plan = Records().cycle([repo(1), repo(1), repo(2)])
    assert sorted(c.repo_id for c in plan.creates) == [1, 2]


def test_a_repository_the_platform_would_refuse_is_left_alone_not_failing_the_plan():
    plan = Records().cycle([repo(1, name="", full_name=""), repo(2)])
    assert plan.rejected == (1,) and [c.repo_id for c in plan.creates] == [2]


# ---- absence -------------------------------------------------------------------------------------------

def test_absent_from_k_complete_listings_in_a_row_makes_it_missing_once():
    records = synced(repo(1), repo(2))
    for n in range(1, K):
        plan = records.cycle([repo(2)])
        assert not plan.updates and records.misses == {1: n}
    plan = records.cycle([repo(2)])
    (update,) = plan.updates
    assert update.changes.changes() == {"status": "missing"} and update.misses == K
    assert records.by_repo(1).status is ProjectStatus.MISSING and records.misses == {}
    for _ in range(5):  # no further writes, no counting: the status remembers
        assert records.cycle([repo(2)]).empty


def test_an_incomplete_listing_never_counts_absence_nor_breaks_the_run():
    records = synced(repo(1), repo(2))
    for _ in range(10):
        assert records.cycle([repo(2)], complete=False).empty
    assert records.misses == {} and records.by_repo(1).status is ProjectStatus.DISCOVERED
    records.cycle([repo(2)])
    records.cycle([repo(2)], complete=False)
    assert records.misses == {1: 1}, "an incomplete listing neither adds nor resets"
    records.cycle([repo(2)])
    assert records.misses == {1: 2}


def test_seeing_a_repository_resets_its_counter_even_in_an_incomplete_listing():
    records = synced(repo(1), repo(2))
    records.cycle([repo(2)])
    records.cycle([repo(2)])
    assert records.misses == {1: 2}
    records.cycle([repo(1)], complete=False)
    assert records.misses == {}
    for _ in range(K - 1):
        records.cycle([repo(2)])
    assert records.by_repo(1).status is ProjectStatus.DISCOVERED, "the count started again from zero"


def test_a_repository_listed_with_unreadable_fields_is_present_not_synced_and_the_others_still_go_missing():
    records = synced(repo(1), repo(2), repo(3))
    records.cycle([repo(3)], present=frozenset({2}))
    assert records.misses == {1: 1}, "2 was listed, if unreadable: only 1 is absent"
    records.cycle([repo(3)])
    assert records.misses == {1: 2, 2: 1}
    plan = records.cycle([repo(3)], present=frozenset({2}))
    assert [u.repo_id for u in plan.updates] == [1] and records.by_repo(1).status is ProjectStatus.MISSING
    assert records.misses == {}, "being listed again broke 2's run of absences"
    assert records.by_repo(2).status is ProjectStatus.DISCOVERED
    assert not records.cycle([], present=frozenset({2, 3}), complete=True).creates, "nothing written for it"


def test_creates_status_changes_and_field_updates_are_written_in_turn():
    from actors.tasks.github_sync.task import interleaved

    records = synced(*(repo(n) for n in range(1, 7)))
    for _ in range(K - 1):
        records.cycle([repo(n) for n in range(3, 7)])
    plan = records.plan([repo(3, description="new"), repo(4, description="new"), repo(5, archived=True),
                         repo(6), repo(7), repo(8)])
    kinds = ["create" if not hasattr(c, "changes") else "status" if c.changes.status else "fields"
             for c in interleaved(plan)]
    assert kinds == ["create", "status", "fields", "create", "status", "fields", "status"]


def test_an_empty_listing_counts_no_absence():
    records = synced(repo(1), repo(2))
    for _ in range(K + 2):
        assert records.cycle([]).empty
    assert {p.status for p in records.projects.values()} == {ProjectStatus.DISCOVERED}


def test_a_missing_repository_that_comes_back_is_active_again_or_archived():
    records = synced(repo(1), repo(2), repo(3))
    for _ in range(K):
        records.cycle([repo(3)])
    assert records.by_repo(1).status is records.by_repo(2).status is ProjectStatus.MISSING
    plan = records.cycle([repo(1, "moved-back"), repo(2, archived=True), repo(3)])
    assert sorted((u.repo_id, u.previous, u.changes.status) for u in plan.updates) == [
        (1, ProjectStatus.MISSING, ProjectStatus.ACTIVE), (2, ProjectStatus.MISSING, ProjectStatus.ARCHIVED)]
    assert records.by_repo(1).name == "moved-back"


def test_counters_of_projects_that_no_longer_exist_are_forgotten():
    records = synced(repo(1))
    records.misses = {99: 2}
    assert records.cycle([repo(1)]).misses == {99: 0} and records.misses == {}


# ---- archiving what stays missing, an emptied org, other organisations ----------------------------------

def go_missing(records: Records, *keep: MinimalRepository) -> None:
    for _ in range(K):
        records.cycle(list(keep))


def test_a_project_missing_for_archive_after_is_archived_once_and_then_left_alone():
    records = synced(repo(1), repo(2))
    go_missing(records, repo(2))
    assert records.by_repo(1).status is ProjectStatus.MISSING and records.gone[1] == Gone(records.now)
    records.now += DAY - 1
    assert records.cycle([repo(2)]).empty, "not yet"
    records.now += 1
    plan = records.cycle([repo(2)])
    (update,) = plan.updates
    assert update.changes.changes() == {"status": "archived"} and update.events == ("archived_missing",)
    assert records.by_repo(1).status is ProjectStatus.ARCHIVED and records.gone[1].retired
    assert records.counters["archived_missing"] == 1
    for _ in range(K + 2):  # retired: absence is no longer counted, nothing is written
        records.now += DAY
        assert records.cycle([repo(2)]).empty


def test_a_retired_project_whose_repository_returns_is_active_again_and_forgotten():
    records = synced(repo(1), repo(2))
    go_missing(records, repo(2))
    records.now += DAY
    records.cycle([repo(2)])
    plan = records.cycle([repo(1), repo(2)])
    assert [(u.changes.changes(), u.events) for u in plan.updates] == [({"status": "active"}, ("restored",))]
    assert records.gone == {} and records.by_repo(1).status is ProjectStatus.ACTIVE
    records.cycle([repo(1, archived=True), repo(2)])
    assert records.by_repo(1).status is ProjectStatus.ARCHIVED, "archived on GitHub: archived, whatever came before"
    records.now += 10 * DAY
    assert records.cycle([repo(1, archived=True), repo(2)]).empty, "and it stays archived"


def test_a_project_missing_before_its_time_was_remembered_starts_its_clock_at_the_first_complete_listing():
    records = synced(repo(1), repo(2))
    records.projects[records.by_repo(1).id] = records.by_repo(1).model_copy(update={"status": ProjectStatus.MISSING})
    plan = records.cycle([repo(2)])
    assert not plan.updates and records.gone == {1: Gone(records.now)}
    records.now += DAY
    assert [u.changes.changes() for u in records.cycle([repo(2)]).updates] == [{"status": "archived"}]


def test_an_incomplete_listing_never_archives():
    records = synced(repo(1), repo(2))
    go_missing(records, repo(2))
    records.now += 10 * DAY
    assert records.cycle([repo(2)], complete=False).empty
    assert records.by_repo(1).status is ProjectStatus.MISSING


def test_an_org_confirmed_empty_counts_absence_like_any_complete_listing():
    records = synced(repo(1), repo(2))
    for _ in range(K - 1):
        assert not records.cycle([], confirmed_empty=True).updates
    plan = records.cycle([], confirmed_empty=True)
    assert sorted(u.repo_id for u in plan.updates) == [1, 2]
    assert {p.status for p in records.projects.values()} == {ProjectStatus.MISSING}


def test_projects_of_another_organisation_are_left_alone_unless_their_repository_is_listed_here():
    records = synced(repo(1))
    stranger = Project(id=50, github_repo_id=77, name="x", full_name="other-org/x", html_url="https://github.com/o/x",
                       status=ProjectStatus.ACTIVE, created_at=T0, updated_at=T0)
    records.projects[50] = stranger
    for _ in range(K + 1):
        plan = records.cycle([repo(1)])
        assert plan.other_org == 1 and plan.empty
    assert records.projects[50] == stranger and records.counters["other_org_projects"] == K + 1
    plan = records.cycle([repo(1), repo(77, "x")])  # transferred into the org: ours again
    assert plan.other_org == 0 and [u.repo_id for u in plan.updates] == [77]
    assert records.projects[50].full_name == f"{ORG}/x"


def test_status_changes_move_the_counters_an_operator_reads():
    records = synced(repo(1), repo(2), repo(3))
    records.cycle([repo(1, archived=True), repo(2), repo(3)])
    records.cycle([repo(1), repo(2), repo(3)])
    go_missing(records, repo(1), repo(3))
    records.cycle([repo(1), repo(2), repo(3)])
    assert {k: records.counters[k] for k in ("archived", "unarchived", "missing", "restored")} == {
        "archived": 1, "unarchived": 1, "missing": 1, "restored": 1}


# ---- properties ----------------------------------------------------------------------------------------

names = st.sampled_from(["alpha", "beta", "gamma", "delta"])
repos_st = st.builds(
    lambda i, n, d, a, dis, vis, br, hours: repo(i, f"{n}-{i}", description=d, archived=a, disabled=dis,
                                                 visibility=vis, private=vis != "public", default_branch=br,
                                                 pushed_at=None if hours is None else T0 + timedelta(hours=hours)),
    st.integers(1, 12), names, st.sampled_from([None, "x", "y"]), st.booleans(), st.booleans(),
    st.sampled_from(["public", "private", "internal", "weird"]), st.sampled_from([None, "main", "dev"]),
    st.none() | st.integers(0, 3))
projects_st = st.lists(st.tuples(st.integers(1, 12), repos_st, st.sampled_from(list(ProjectStatus))),
                       max_size=10, unique_by=lambda t: t[0])


def records_from(entries, misses) -> Records:
    records = Records()
    records.misses = dict(misses)
    for index, (repo_id, shape, status) in enumerate(entries, start=1):
        fields = desired_fields(shape)
        records.projects[index] = Project(id=index, github_repo_id=repo_id, status=status, created_at=T0,
                                          updated_at=T0, **fields)
    return records


world_st = st.tuples(st.lists(repos_st, max_size=10), projects_st,
                     st.dictionaries(st.integers(1, 14), st.integers(0, 4), max_size=6),
                     st.booleans(), st.integers(1, 4))


@settings(max_examples=300, deadline=None)
@given(world_st)
def test_property_applying_a_plan_then_planning_again_changes_nothing_but_the_count_of_absences(world):
    repos, entries, misses, complete, missing_after = world
    records = records_from(entries, misses)
    records.cycle(repos, complete, missing_after)
    again = records.plan(repos, complete, missing_after)
    seen = {r.id for r in repos}
    assert not again.creates and not again.rejected
    # what is left is only the next absence observation: counts going up, projects going missing
    for update in again.updates:
        assert update.repo_id not in seen and update.changes.changes() == {"status": "missing"}
    assert all(repo_id not in seen and count > 0 or count == 0 and repo_id in records.misses
               for repo_id, count in again.misses.items())
    if not complete:
        assert again.empty


@settings(max_examples=300, deadline=None)
@given(world_st)
def test_property_repeated_cycles_converge_to_the_listing_and_then_write_nothing(world):
    repos, entries, misses, complete, missing_after = world
    records = records_from(entries, misses)
    before = {p.github_repo_id: p.status for p in records.projects.values()}
    for _ in range(missing_after + 1):
        records.cycle(repos, complete, missing_after)
    assert records.cycle(repos, complete, missing_after).empty
    seen = {}
    for r in repos:
        seen.setdefault(r.id, r)
    for repo_id, shape in seen.items():
        project = records.by_repo(repo_id)
        for name, value in desired_fields(shape).items():
            assert getattr(project, name) == value
        assert (project.status is ProjectStatus.ARCHIVED) == (shape.archived or shape.disabled)
        assert project.status is not ProjectStatus.MISSING
    for project in records.projects.values():
        if project.github_repo_id in seen:
            continue
        if complete and seen:
            assert project.status is ProjectStatus.MISSING
        else:
            assert project.status is before[project.github_repo_id], "no listing of this kind counts absence"
