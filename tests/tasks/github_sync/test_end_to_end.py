"""github_sync end to end: tick -> worker -> actor -> GitHub stand-in and platform API on loopback.

The actor is configured the production way, from the environment; what is checked is what an
operator sees: the projects and repositories in the platform's store, the run records, the alert
lines, and the cost of a cycle (API writes, GitHub rate-limit points).
"""

from __future__ import annotations

import json
import threading
import uuid

import pytest

from actors.tasks import TASKS
from actors.tasks.github_sync import SPEC
from actors.tasks.github_sync.plan import project_id_of
from contracts import Keys, RunOutcome, TaskName
from sandbox.github.app import github_app
from sandbox.github.payloads import HTML
from sandbox.http import ServedApp
from sandbox.platform.api import create_app
from sandbox.world import World
from tests.stack import Stack
from tests.support import running_worker, runs, wait_until
from ticker.loop import Ticker
from ticker.slots import Interval

TASK = TaskName.GITHUB_SYNC
TOKEN = "ghp_e2etoken0000000000000000000000000000"
KEY = "e2e-internal-key-0000"
OWNER = 900000001
#: a cycle's cost: platform writes, GitHub rate-limit points
MEASURES = {"writes": Stack.writes, "points": lambda stack: stack.github.points_used()}


@pytest.fixture
def stack(client, redis_url, monkeypatch):
    world = World.generate(seed=11, repos=45, servers=0)
    github, platform = github_app(world, TOKEN), create_app(api_key=KEY)
    platform.store.create_user(OWNER, username="owner", is_admin=True)
    with ServedApp(github) as gh, ServedApp(platform) as api:
        for name, value in {
            "API_BASE_URL": api.url,
            "INTERNAL_API_KEY": KEY,
            "GITHUB_API_URL": gh.url,
            "GITHUB_ORG": world.org,
            "GITHUB_TOKEN": TOKEN,
            "GITHUB_PER_PAGE": "10",
            "GITHUB_MAX_ATTEMPTS": "1",
            "GITHUB_MISSING_AFTER": "3",
            "PLATFORM_OWNER_TELEGRAM_ID": str(OWNER),
            "PLATFORM_MAX_ATTEMPTS": "3",
        }.items():
            monkeypatch.setenv(name, value)
        for name in ("GITHUB_APP_ID", "GITHUB_ARCHIVE_AFTER"):
            monkeypatch.delenv(name, raising=False)
        yield Stack(
            TASK, world, client, redis_url, platform=platform, api_url=api.url, github=github, measures=MEASURES
        )


def test_the_task_is_registered():
    assert TASKS[TASK] is SPEC


@pytest.mark.slow
def test_the_org_is_kept_in_sync_across_world_changes_at_zero_steady_state_cost(stack, settings, rendered_logs):
    world = stack.world
    with running_worker(stack.client, [SPEC], settings, deps=stack.deps()):
        cold, cost = stack.cycle()
        assert cold.outcome is RunOutcome.SUCCEEDED
        assert (cold.counters["projects_created"], cold.counters["creates"]) == (45, 45)
        assert (cost["writes"], cost["points"], cold.counters["pages"]) == (90, 5, 5)
        repositories = stack.repositories()
        for repo in world.org_repos():
            record = repositories[repo.id]
            assert (record["name"], record["git_url"], record["role"], record["is_managed"]) == (
                repo.name,
                f"{repo_html(stack, repo)}.git",
                "primary",
                True,
            )
            assert record["visibility"] == ("public" if repo.visibility == "public" else "private")
            project = stack.projects()[record["project_id"]]
            assert (project["id"], project["title"], project["status"], project["owner_id"]) == (
                str(project_id_of(repo.id)),
                repo.name,
                "draft",
                1,
            )
            assert project["initiating_run_id"].startswith("scheduler-github_sync-")

        steady, cost = stack.cycle()
        assert (cost["writes"], cost["points"]) == (0, 0), "an unchanged org costs nothing"
        assert steady.counters["not_modified"] == steady.counters["pages"] == 5
        assert steady.counters["platform_reads"] == 2
        assert not steady.counters.get("creates") and not steady.counters.get("updates")

        live = sorted(world.org_repos(), key=lambda r: r.created_at)
        renamed, hidden, deleted, transferred = (
            live[0],
            next(r for r in live[1:] if r.visibility == "public"),
            live[20],
            live[30],
        )
        world.rename_repo(renamed.id, "a-brand-new-name")
        world.set_visibility(hidden.id, "internal")
        world.delete_repo(deleted.id)
        world.transfer_repo(transferred.id, "another-org")

        changed, cost = stack.cycle()
        repositories = stack.repositories()
        assert repositories[renamed.id]["project_id"] == str(project_id_of(renamed.id)), "a rename is the same record"
        assert repositories[renamed.id]["name"] == "a-brand-new-name"
        assert repositories[renamed.id]["git_url"].endswith(f"/{world.org}/a-brand-new-name.git")
        assert repositories[hidden.id]["visibility"] == "private"
        assert (cost["writes"], changed.counters["updates"]) == (2, 2)
        assert stack.client.hgetall(Keys.github_missing(world.org)) == {
            str(deleted.id).encode(): b"1",
            str(transferred.id).encode(): b"1",
        }

        stack.github.faults.update(error_rate=1.0)  # a failed listing never counts as absence
        failed, cost = stack.cycle()
        assert failed.outcome is RunOutcome.FAILED and "503" in failed.error and cost["writes"] == 0
        stack.github.faults.update(error_rate=0.0)
        assert stack.client.hget(Keys.github_missing(world.org), str(deleted.id)) == b"1"

        assert stack.cycle()[1]["writes"] == 0
        gone, cost = stack.cycle()  # the third complete listing without them
        assert (cost["writes"], gone.counters["missing"]) == (0, 2), "missing is Redis memory: nothing to write"
        for _ in range(2):
            again, cost = stack.cycle()
            assert cost == {"writes": 0, "points": 0} and not again.counters.get("missing"), "missing is said once"
        lines = [json.loads(line) for line in rendered_logs().splitlines() if line.startswith("{")]
        alerts = [line for line in lines if line["event"] == "github_sync.repo_missing"]
        assert sorted(line["repo_id"] for line in alerts) == sorted([deleted.id, transferred.id])
        assert all(line["alert"] is True and line["level"] == "error" for line in alerts)
        assert all(line["task"] == "github_sync" and line["correlation_id"] for line in alerts)

        world.restore_repo(deleted.id)
        world.restore_repo(transferred.id)
        back, cost = stack.cycle()
        assert cost["writes"] == 0 and not stack.client.hgetall(Keys.github_gone(world.org))
        final, cost = stack.cycle()
        assert (final.outcome, cost["writes"], cost["points"]) == (RunOutcome.SUCCEEDED, 0, 0)
    assert len(stack.projects()) == len(stack.repositories()) == 45
    everything = rendered_logs()
    assert TOKEN not in everything and KEY not in everything, "no secret in any log line"


def repo_html(stack: Stack, repo) -> str:
    return f"{HTML}/{stack.world.org}/{repo.name}"


def test_without_an_owner_repositories_are_reported_once_and_created_when_it_is_set(
    stack, settings, monkeypatch, captured_logs
):
    monkeypatch.delenv("PLATFORM_OWNER_TELEGRAM_ID")
    with running_worker(stack.client, [SPEC], settings, deps=stack.deps()):
        first, cost = stack.cycle()
        second, cost2 = stack.cycle()
    assert (cost["writes"], cost2["writes"]) == (0, 0)
    assert not stack.projects() and not stack.platform.store.all_repositories()
    assert (first.counters["discovered"], second.counters["discovered"]) == (45, 45)
    assert (first.counters["discovered_reported"], second.counters.get("discovered_reported", 0)) == (45, 0)
    said = [e for e in captured_logs if e["event"] == "github_sync.repo_discovered"]
    assert len(said) == 45 and len({e["repo_id"] for e in said}) == 45
    monkeypatch.setenv("PLATFORM_OWNER_TELEGRAM_ID", str(OWNER))
    with running_worker(stack.client, [SPEC], settings, deps=stack.deps()):
        created, cost = stack.cycle()
    assert (created.counters["projects_created"], cost["writes"]) == (45, 90)


def test_answers_lost_after_commit_make_exactly_one_project_and_one_repository_each(stack, settings):
    # every POST is applied and then answered 504: each retry must find what the lost one made
    stack.platform.faults.update(lost_rate=1.0, methods="POST", seed=3)
    with running_worker(stack.client, [SPEC], settings, deps=stack.deps()):
        lossy, _ = stack.cycle()
        stack.platform.faults.update(lost_rate=0.0)
        clean, cost = stack.cycle()
    assert stack.platform.counters.faults["lost"] >= 90
    assert lossy.outcome is RunOutcome.SUCCEEDED and lossy.counters["creates"] == 45
    repositories = stack.repositories()  # fails on any duplicate
    assert len(repositories) == len(stack.projects()) == 45
    assert all(r["project_id"] == str(project_id_of(rid)) for rid, r in repositories.items())
    assert (clean.outcome, cost["writes"]) == (RunOutcome.SUCCEEDED, 0)


def test_a_crash_between_project_and_repository_is_finished_by_the_next_run(stack, settings):
    first = min(stack.world.org_repos(), key=lambda r: r.created_at)
    pid = project_id_of(first.id)
    # what a worker killed between the two writes leaves: the project, no repository
    stack.platform.store.create_project(title=first.name, owner_id=1, initiating_run_id="killed", project_id=pid)
    with running_worker(stack.client, [SPEC], settings, deps=stack.deps()):
        record, cost = stack.cycle()
    assert record.outcome is RunOutcome.SUCCEEDED
    assert (record.counters["finished"], record.counters["projects_created"], cost["writes"]) == (1, 44, 89)
    assert stack.repositories()[first.id]["project_id"] == str(pid) and len(stack.projects()) == 45


def test_missing_for_archive_after_archives_the_project_and_its_return_restores_it(stack, settings, monkeypatch):
    monkeypatch.setenv("GITHUB_ARCHIVE_AFTER", "0")
    world = stack.world
    with running_worker(stack.client, [SPEC], settings, deps=stack.deps()):
        stack.cycle()
        deleted = world.org_repos()[0]
        stack.platform.store.update_project(project_id_of(deleted.id), {"status": "active"})
        world.delete_repo(deleted.id)
        for _ in range(2):
            assert stack.cycle()[1]["writes"] == 0
        record, cost = stack.cycle()
        assert (record.counters["missing"], record.counters["archived_missing"], cost["writes"]) == (1, 1, 1)
        assert stack.project_of(deleted.id)["status"] == "archived"
        assert stack.cycle()[1]["writes"] == 0, "archived for its absence: left alone"
        world.restore_repo(deleted.id)
        back, cost = stack.cycle()
        assert (back.counters["restored"], cost["writes"]) == (1, 1)
        assert stack.project_of(deleted.id)["status"] == "active"
        assert stack.cycle()[1]["writes"] == 0


def test_repositories_of_another_organisation_are_left_alone(stack, settings):
    other = stack.platform.store.create_project(
        title="elsewhere", owner_id=1, initiating_run_id="x", project_id=uuid.uuid4()
    )
    stack.platform.store.create_repository(
        project_id=other["id"],
        name="elsewhere",
        provider_repo_id=999_999_999,
        git_url="https://github.com/another-org/elsewhere.git",
    )
    with running_worker(stack.client, [SPEC], settings, deps=stack.deps()):
        for _ in range(4):  # more complete listings than GITHUB_MISSING_AFTER
            record, _ = stack.cycle()
            assert record.outcome is RunOutcome.SUCCEEDED and record.counters["other_org_repositories"] == 1
            assert not record.counters.get("missing")
    assert stack.projects()[other["id"]]["status"] == "draft"


def test_the_real_ticker_drives_the_sync(stack, settings):
    ticker = Ticker(stack.client, {TASK: Interval(1)}, release="e2e")
    thread = threading.Thread(target=ticker.run, daemon=True)
    with running_worker(stack.client, [SPEC], settings, deps=stack.deps()):
        thread.start()
        try:
            wait_until(
                lambda: len([r for r in runs(stack.client, TASK) if r.outcome is RunOutcome.SUCCEEDED]) >= 3, timeout=15
            )
        finally:
            ticker.stop.set()
            thread.join(5)
    done = [r for r in runs(stack.client, TASK) if r.outcome is RunOutcome.SUCCEEDED]
    assert done[0].counters["creates"] == 45 and len(stack.repositories()) == 45
    assert all(r.counters.get("points") == 0 and not r.counters.get("creates") for r in done[1:])
    assert stack.github.points_used() == 5
