"""github_sync on a bad day: 20 % 5xx and 10 % malformed answers on every stand-in while the
organisation changes every cycle, then hostile repository fields. The harness is ``harness.py``."""

from __future__ import annotations

from collections import Counter

import pytest

from actors.tasks.deps import Dependencies
from actors.tasks.github_sync import SPEC
from actors.tasks.github_sync.plan import project_id_of
from contracts import RunOutcome, TaskName
from process.settings import Settings
from sandbox.github.payloads import HTML
from sandbox.world import World
from tests.chaos.harness import Chaos, TickDriver, chaos_sandbox, failed_runs, invalid_rows, mismatches, repo_churn
from tests.support import running_worker

pytestmark = pytest.mark.slow
TASK = TaskName.GITHUB_SYNC


@pytest.fixture
def github_env(monkeypatch):
    for name, value in {
        "GITHUB_PER_PAGE": "50",
        "GITHUB_MISSING_AFTER": "1",
        "GITHUB_MAX_ATTEMPTS": "3",
        "GITHUB_ARCHIVE_AFTER": "0",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("GITHUB_APP_ID", "PLATFORM_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)


def world_vs_platform(world: World, store) -> list[str]:
    """Every org repository has one Repository with GitHub's fields under its own project; every
    gone one's project is archived (GITHUB_ARCHIVE_AFTER=0); no project without its repository."""
    rows = store.all_repositories()
    duplicates = [f"{rid}: {n} records" for rid, n in Counter(r["provider_repo_id"] for r in rows).items() if n > 1]
    projects = {p["id"]: p for p in store.list_projects()}
    orphans = [f"project {pid}: no repository" for pid in set(projects) - {r["project_id"] for r in rows}]
    actual = {r["provider_repo_id"]: {**r, "project_status": projects[r["project_id"]]["status"]} for r in rows}
    expected = {}
    for repo in world.repos.values():
        if repo.owner == world.org and not repo.deleted:
            expected[repo.id] = {
                "name": repo.name,
                "git_url": f"{HTML}/{world.org}/{repo.name}.git",
                "visibility": "public" if repo.visibility == "public" else "private",
                "project_id": str(project_id_of(repo.id)),
                "project_status": "draft",
            }
        elif repo.id in actual:
            expected[repo.id] = {"project_status": "archived"}
    return duplicates + orphans + mismatches(expected, actual)


def test_faults_on_every_stand_in_while_the_org_changes_then_two_clean_cycles_converge(
    client, redis_url, settings, github_env
):
    world = World.generate(seed=15, repos=200, servers=0)
    with (
        chaos_sandbox(world) as sandbox,
        running_worker(client, [SPEC], settings, deps=Dependencies(Settings(redis_url=redis_url), client)),
    ):
        chaos = Chaos(sandbox, TickDriver(client, TASK), change=repo_churn, seed=15)
        report = chaos.run(fault_cycles=6, clean_cycles=2, error_rate=0.2, malformed_rate=0.1)
        store = sandbox.platform.store

        assert world_vs_platform(world, store) == [], "the platform matches the world after 2 clean cycles"
        assert invalid_rows(store) == []
    for name in ("platform", "github"):  # at the stated rates from the first request: 1 in 5, then 1 in 10
        for kind, rate in (("5xx", 0.2), ("malformed", 0.1)):
            expected = report.expected_faults(name, kind, rate)
            assert abs(report.faults[name][kind] - expected) <= 1, (name, kind, report.faults, report.requests)
    assert report.faults["platform"]["5xx"] > 20 and report.faults["github"]["5xx"] > 2
    progressed = report.during_faults
    assert progressed["creates"] > 150 and progressed["updates"] > 0, progressed  # a malformed 201 counts as failed
    assert progressed["archived_missing"] > 0 and progressed["missing"] > 0, "status changes went on under faults"
    assert progressed["records_failed"] > 0, "some writes failed: each was that record's failure"
    assert report.outcomes().get(RunOutcome.PARTIAL.value, 0) > 0, report.outcomes()
    assert not failed_runs(report.clean) and report.clean[-1].outcome is RunOutcome.SUCCEEDED
    assert not report.clean[-1].counters.get("creates") and not report.clean[-1].counters.get("updates")
