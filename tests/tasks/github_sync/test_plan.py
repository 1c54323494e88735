"""github_sync's plan: the rules, one by one, and as properties over random worlds.

``Records`` is an in-memory model of the platform's projects plus the absence counters in Redis;
``cycle`` plans against it and applies the plan the way ``apply_plan`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.tasks.github_sync.task import Plan, desired_fields, plan_sync
from contracts.github import MinimalRepository
from contracts.platform import Project, ProjectStatus

ORG = "acme"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
K = 3


def repo(repo_id: int, name: str | None = None, **fields) -> MinimalRepository:
    name = name or f"repo-{repo_id}"
    base = {"id": repo_id, "name": name, "full_name": f"{ORG}/{name}", "owner": {"login": ORG, "id": 1},
            "private": False, "html_url": f"https://github.com/{ORG}/{name}", "description": f"about {name}",
            "default_branch": "main", "visibility": "public", "pushed_at": T0 + timedelta(hours=repo_id)}
    return MinimalRepository.model_validate({**base, **fields})


@dataclass
class Records:
    """The platform's projects and the Redis counters, as apply_plan would leave them."""

    projects: dict[int, Project] = field(default_factory=dict)  # by project id
    misses: dict[int, int] = field(default_factory=dict)
    writes: int = 0

    def by_repo(self, repo_id: int) -> Project:
        return next(p for p in self.projects.values() if p.github_repo_id == repo_id)

    def apply(self, plan: Plan) -> None:
        for create in plan.creates:
            new_id = max(self.projects, default=0) + 1
            self.projects[new_id] = Project(id=new_id, created_at=T0, updated_at=T0,
                                            **create.project.model_dump())
            self.writes += 1
        for update in plan.updates:
            changes = {name: getattr(update.changes, name) for name in update.changes.model_fields_set}
            assert changes, "an update always carries at least one field"
            self.projects[update.project_id] = self.projects[update.project_id].model_copy(update=changes)
            self.writes += 1
        for repo_id, count in plan.misses.items():
            if count:
                self.misses[repo_id] = count
            else:
                self.misses.pop(repo_id, None)

    def cycle(self, repos, complete: bool = True, missing_after: int = K) -> Plan:
        plan = plan_sync(repos, complete, list(self.projects.values()), dict(self.misses),
                         missing_after=missing_after)
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
    records = Records(misses=dict(misses))
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
    again = plan_sync(repos, complete, list(records.projects.values()), dict(records.misses),
                      missing_after=missing_after)
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
