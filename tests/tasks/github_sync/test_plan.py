"""github_sync's plan: the rules, one by one, and as properties over random worlds.

``Records`` holds the platform's projects and repositories in memory (``tests.fake_platform``, with
the real client's idempotent-create behaviour and faults that lose a write between project and
repository) and the task's memory in an in-memory Redis; ``cycle`` plans against them and applies
the plan with the task's own ``apply_plan``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass, field

import fakeredis
import fakeredis.aioredis
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.tasks.github_sync.plan import (
    Create,
    CreateRepository,
    Gone,
    Observed,
    Plan,
    Rules,
    desired_fields,
    plan_sync,
    project_id_of,
)
from actors.tasks.github_sync.task import SyncMemory, apply_plan, format_gone, parse_gone
from contracts.github import MinimalRepository
from contracts.platform import Project, ProjectStatus, Repository
from tests.fake_platform import T0, FakePlatform
from tests.support import FakeRun

ORG = "acme"
OWNER = 900000001
K = 3
DAY = 24 * 3600


def repo(repo_id: int, name: str | None = None, **fields) -> MinimalRepository:
    name = name or f"repo-{repo_id}"
    base = {
        "id": repo_id,
        "name": name,
        "full_name": f"{ORG}/{name}",
        "owner": {"login": ORG, "id": 1},
        "private": False,
        "html_url": f"https://github.com/{ORG}/{name}",
        "description": None,
        "default_branch": "main",
        "visibility": "public",
    }
    return MinimalRepository.model_validate({**base, **fields})


@dataclass
class Records:
    """The platform, the owner among its users, and the task's memory, kept across cycles."""

    platform: FakePlatform = field(default_factory=lambda: FakePlatform(users={OWNER}))
    server: fakeredis.FakeServer = field(default_factory=fakeredis.FakeServer)
    now: float = T0.timestamp()
    counters: Counter = field(default_factory=Counter)

    @property
    def projects(self) -> dict[uuid.UUID, Project]:
        return self.platform.projects

    @property
    def repositories(self) -> dict[str, Repository]:
        return self.platform.repositories

    @property
    def writes(self) -> int:
        return self.platform.writes

    def _in_loop(self, body):
        async def go():
            client = fakeredis.aioredis.FakeRedis(server=self.server)
            try:
                return await body(SyncMemory(client, ORG))
            finally:
                await client.aclose()

        return asyncio.run(go())

    def memory(self):
        return self._in_loop(lambda memory: memory.read())

    def by_repo(self, repo_id: int) -> Repository:
        return next(r for r in self.repositories.values() if r.provider_repo_id == repo_id)

    def project_of(self, repo_id: int) -> Project:
        return self.projects[self.by_repo(repo_id).project_id]

    def plan(
        self,
        repos,
        complete: bool = True,
        *,
        missing_after: int = K,
        archive_after: float = DAY,
        owner: int | None = OWNER,
        confirmed_empty: bool = False,
        present: frozenset[int] = frozenset(),
        repositories_complete: bool = True,
    ) -> Plan:
        misses, gone, reported = self.memory()
        observed = Observed(
            ORG,
            list(repos),
            complete,
            list(self.projects.values()),
            list(self.repositories.values()),
            repositories_complete=repositories_complete,
            misses=misses,
            gone=gone,
            reported=reported,
            confirmed_empty=confirmed_empty,
            now=self.now,
            present=present,
        )
        return plan_sync(observed, Rules(missing_after, archive_after, can_create=owner is not None, run_id="run-1"))

    def apply(self, plan: Plan, owner: int | None = OWNER) -> FakeRun:
        run = FakeRun()
        self._in_loop(lambda memory: apply_plan(plan, run, self.platform, memory, owner))
        self.counters += run.counters
        return run

    def cycle(self, repos, complete: bool = True, *, owner: int | None = OWNER, **options) -> Plan:
        plan = self.plan(repos, complete, owner=owner, **options)
        self.apply(plan, owner)
        return plan


def synced(*repos: MinimalRepository) -> Records:
    records = Records()
    records.cycle(repos)
    records.platform.writes = 0
    return records


# ---- creates and updates ---------------------------------------------------------------------------------


def test_a_new_repository_becomes_a_draft_project_owned_by_the_owner_with_its_primary_repository():
    records = Records()
    plan = records.cycle([repo(7, "api", visibility="private", private=True)])
    assert [type(c) for c in plan.creates] == [Create] and records.writes == 2
    project = records.projects[project_id_of(7)]
    assert (project.title, project.status, project.initiating_run_id) == ("api", ProjectStatus.DRAFT, "run-1")
    assert project.config == {"github_sync": {"org": ORG, "provider_repo_id": 7}}
    record = records.by_repo(7)
    assert (
        record.project_id,
        record.name,
        record.git_url,
        record.visibility.value,
        record.role.value,
        record.is_managed,
    ) == (project.id, "api", "https://github.com/acme/api.git", "private", "primary", True)


def test_the_project_id_is_the_same_for_a_repository_on_every_run_and_differs_between_repositories():
    assert project_id_of(7) == project_id_of(7) != project_id_of(8)
    assert project_id_of(7).version == 5


def test_an_unchanged_world_plans_and_writes_nothing():
    repos = [repo(1), repo(2, visibility="internal", private=True)]
    records = synced(*repos)
    plan = records.cycle(repos)
    assert (plan.writes, records.writes) == (0, 0) and not plan.misses and not plan.gone and not plan.reported


def test_a_rename_updates_the_same_repository_with_only_name_and_url_and_leaves_the_project_alone():
    records = synced(repo(1, "old"))
    before_project, before = records.project_of(1), records.by_repo(1)
    plan = records.cycle([repo(1, "new")])
    assert [u.changes.changes() for u in plan.updates] == [
        {"name": "new", "git_url": "https://github.com/acme/new.git"}
    ]
    assert records.by_repo(1).id == before.id and records.project_of(1) == before_project
    assert records.writes == 1


def test_visibility_changes_update_the_repository_and_internal_is_private():
    records = synced(repo(1))
    plan = records.cycle([repo(1, visibility="internal", private=True)])
    assert [u.changes.changes() for u in plan.updates] == [{"visibility": "private"}]
    plan = records.cycle([repo(1, visibility="private", private=True)])
    assert plan.writes == 0, "internal and private are the same on the platform"
    records.cycle([repo(1, visibility=None, private=False)])
    assert records.by_repo(1).visibility.value == "public"


def test_a_repository_listed_twice_is_planned_once():
    assert len(Records().plan([repo(1), repo(1)]).creates) == 1


def test_a_repository_the_platform_would_refuse_is_left_alone_not_failing_the_plan():
    plan = Records().plan([repo(1, "x" * 300), repo(2**31), repo(3)])
    assert sorted(plan.rejected) == [1, 2**31] and [c.repo_id for c in plan.creates] == [3]


# ---- the owner, and never half a record ------------------------------------------------------------------


def test_without_an_owner_a_new_repository_is_counted_every_run_reported_once_and_never_written():
    records = Records()
    first = records.cycle([repo(1), repo(2)], owner=None)
    second = records.cycle([repo(1), repo(2)], owner=None)
    assert records.writes == 0 and not records.projects and not records.repositories
    assert [e.kind for e in first.events] == ["discovered", "discovered"] and not second.events
    assert (first.discovered, second.discovered) == (2, 2)
    assert records.counters["discovered"] == 4 and records.counters["discovered_reported"] == 2
    records.cycle([repo(1), repo(2)])  # the owner is configured now
    assert len(records.projects) == len(records.repositories) == 2
    assert records.cycle([repo(1), repo(2)]).reported == {1: False, 2: False}
    assert records.memory()[2] == frozenset(), "created: no longer remembered as reported"


def test_an_owner_the_platform_does_not_know_creates_nothing(captured_logs):
    records = Records(FakePlatform())
    records.cycle([repo(1)])
    assert records.writes == 0 and not records.projects
    assert records.counters["discovered"] == 1
    assert [e["event"] for e in captured_logs if e["event"] == "github_sync.owner_unknown"]


def test_a_crash_between_the_project_and_its_repository_is_finished_by_the_next_run_even_without_owner():
    records = Records(FakePlatform(users={OWNER}, lose_next_repository=1))
    records.cycle([repo(1)])
    assert len(records.projects) == 1 and not records.repositories and records.counters["records_failed"] == 1
    plan = records.plan([repo(1)], owner=None)
    assert [type(c) for c in plan.creates] == [CreateRepository] and plan.discovered == 0
    records.apply(plan, owner=None)
    assert len(records.projects) == len(records.repositories) == 1
    assert records.by_repo(1).project_id == project_id_of(1)
    assert records.cycle([repo(1)]).writes == 0


def test_when_the_platform_listing_was_not_whole_a_create_looks_the_repository_up_first():
    records = synced(repo(1))
    hidden = dict(records.repositories)
    records.repositories.clear()  # as if the listing had been truncated: the record exists, unseen
    plan = records.plan([repo(1)], repositories_complete=False)
    assert [(type(c), c.lookup_first) for c in plan.creates] == [(CreateRepository, True)]
    records.repositories.update(hidden)
    records.apply(plan)
    assert len(records.repositories) == 1 and records.counters["found_existing"] == 1 and records.writes == 0


# ---- absence, archive, restore ---------------------------------------------------------------------------

KEEP = repo(50)  # listed throughout: a listing with nothing in it counts no absence


def go_missing(records: Records, *keep: MinimalRepository) -> None:
    for _ in range(K):
        records.cycle(list(keep))


def test_absent_from_k_complete_listings_is_said_missing_once_without_a_write():
    records = synced(repo(1), repo(2))
    for n in range(1, K):
        plan = records.cycle([repo(2)])
        assert plan.misses == {1: n} and not plan.events
    plan = records.cycle([repo(2)])
    assert [(e.kind, e.repo_id, e.misses) for e in plan.events] == [("missing", 1, K)]
    assert records.memory()[1] == {1: Gone(records.now)} and records.writes == 0
    assert not records.cycle([repo(2)]).events, "said once"


def test_an_incomplete_or_unconfirmed_empty_listing_counts_no_absence():
    records = synced(repo(1), repo(2))
    assert records.cycle([repo(2)], complete=False).misses == {}
    assert records.cycle([]).misses == {}
    assert records.cycle([], confirmed_empty=True).misses == {1: 1, 2: 1}
    assert records.cycle([repo(2)], present=frozenset({1})).misses == {1: 0, 2: 0}


def test_missing_for_archive_after_archives_the_project_once_and_a_returning_repository_restores_it():
    records = synced(repo(1), repo(2))
    pid = records.project_of(1).id
    records.projects[pid] = records.projects[pid].model_copy(update={"status": ProjectStatus.ACTIVE})
    go_missing(records, repo(2))
    records.now += DAY - 1
    assert records.cycle([repo(2)]).writes == 0
    records.now += 1
    plan = records.cycle([repo(2)])
    assert [(s.status, s.event) for s in plan.statuses] == [(ProjectStatus.ARCHIVED, "archived_missing")]
    assert records.projects[pid].status is ProjectStatus.ARCHIVED and records.writes == 1
    assert records.memory()[1][1].retired is ProjectStatus.ACTIVE
    assert records.cycle([repo(2)]).writes == 0, "archived for its absence: left alone"
    plan = records.cycle([repo(1), repo(2)])
    assert [(s.status, s.event) for s in plan.statuses] == [(ProjectStatus.ACTIVE, "restored")]
    assert records.projects[pid].status is ProjectStatus.ACTIVE and records.memory()[1] == {}
    assert records.cycle([repo(1), repo(2)]).writes == 0


def test_a_project_with_a_managed_repository_that_remains_is_not_archived():
    records = synced(repo(1), KEEP)
    pid = records.project_of(1).id
    records.repositories["dep"] = Repository(
        id="dep",
        project_id=pid,
        name="lib",
        git_url="https://github.com/other/lib.git",
        provider_repo_id=555,
        role="dependency",
        visibility="public",
        is_managed=True,
        created_at=T0,
    )
    go_missing(records, KEEP)
    records.now += DAY
    assert not records.cycle([KEEP]).statuses
    records.repositories["dep"] = records.repositories["dep"].model_copy(update={"is_managed": False})
    assert [s.event for s in records.cycle([KEEP]).statuses] == ["archived_missing"]


def test_a_project_archived_by_an_operator_is_not_restored_when_its_repository_returns():
    records = synced(repo(1), KEEP)
    pid = records.project_of(1).id
    records.projects[pid] = records.projects[pid].model_copy(update={"status": ProjectStatus.ARCHIVED})
    go_missing(records, KEEP)
    records.now += DAY
    assert records.cycle([KEEP]).writes == 0
    assert records.cycle([repo(1), KEEP]).writes == 0
    assert records.projects[pid].status is ProjectStatus.ARCHIVED


def test_repositories_of_another_organisation_are_left_alone_unless_listed_here():
    records = synced(repo(1))
    pid = records.project_of(1).id
    records.repositories["x"] = Repository(
        id="x",
        project_id=pid,
        name="e",
        git_url="https://github.com/other/e.git",
        provider_repo_id=99,
        role="primary",
        visibility="public",
        is_managed=True,
        created_at=T0,
    )
    for _ in range(K + 1):
        plan = records.cycle([repo(1)])
        assert plan.other_org == 1 and 99 not in plan.misses
    plan = records.cycle([repo(1), repo(99, "e")])  # transferred into this org
    assert [u.changes.changes() for u in plan.updates] == [{"git_url": "https://github.com/acme/e.git"}]


def test_memory_of_records_that_no_longer_exist_is_forgotten():
    records = synced(repo(1))
    records.cycle([])
    records._in_loop(lambda memory: memory.write({}, {5: Gone(1.0, ProjectStatus.DRAFT)}, {6: True}))
    plan = records.plan([])
    assert plan.gone.get(5, "kept") is None and plan.reported == {6: False}


def test_the_gone_memory_round_trips_and_reads_older_entries():
    for gone in (Gone(12.5), Gone(3.0, ProjectStatus.PAUSED)):
        assert parse_gone(format_gone(gone)) == gone
    assert parse_gone("7.0:retired") == Gone(7.0, ProjectStatus.DRAFT)


# ---- properties ------------------------------------------------------------------------------------------

repos_st = st.builds(
    lambda i, n, vis: repo(i, f"{n}-{i}", visibility=vis, private=vis != "public"),
    st.integers(1, 12),
    st.sampled_from(["alpha", "beta", "gamma"]),
    st.sampled_from(["public", "private", "internal"]),
)
world_st = st.tuples(
    st.lists(repos_st, max_size=8), st.lists(repos_st, max_size=8), st.booleans(), st.integers(0, 3), st.booleans()
)


@settings(max_examples=200, deadline=None)
@given(world_st)
def test_property_cycles_converge_never_leave_half_a_record_and_then_write_nothing(world):
    before, after, complete, losses, owner = world
    records = synced(*before)
    records.platform.lose_next_repository = losses
    for _ in range(K + losses + 1):
        records.cycle(after, complete, owner=OWNER if owner else None)
    final = records.cycle(after, complete, owner=OWNER if owner else None)
    assert final.writes == 0
    by_provider = Counter(r.provider_repo_id for r in records.repositories.values())
    assert all(n == 1 for n in by_provider.values()), "one repository per GitHub id"
    with_repo = {r.project_id for r in records.repositories.values()}
    assert set(records.projects) == with_repo, "no project without its repository"
    listed = {}
    for r in after:
        listed.setdefault(r.id, r)
    for repo_id, shape in listed.items():
        if not owner and repo_id not in {r.id for r in before}:
            assert repo_id not in by_provider
            continue
        record = records.by_repo(repo_id)
        for name, value in desired_fields(shape).items():
            assert getattr(record, name) == value


@settings(max_examples=200, deadline=None)
@given(world_st)
def test_property_planning_again_after_applying_changes_nothing_for_listed_repositories(world):
    before, after, complete, _, _ = world
    records = synced(*before)
    records.cycle(after, complete)
    again = records.plan(after, complete)
    assert not again.creates and not again.updates and not again.rejected
    assert all(s.event == "archived_missing" for s in again.statuses)
