"""github_sync end to end: tick -> worker -> actor -> GitHub stand-in and platform API on loopback.

The actor is configured the production way, from the environment; what is checked is what an
operator sees: the Project records in the platform's store, the run records, the alert lines, and
the cost of a cycle (API writes, GitHub rate-limit points).
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from actors.tasks import TASKS
from actors.tasks.deps import Dependencies
from actors.tasks.github_sync import SPEC
from contracts import Keys, RunOutcome, TaskName
from contracts.platform import ProjectCreate, ProjectStatus
from sandbox.github.app import github_app
from sandbox.http import ServedApp
from sandbox.platform.api import create_app
from sandbox.world import World
from ticker.loop import Ticker
from ticker.slots import Interval

from tests.support import make_tick, running_worker, runs, send, wait_until

TASK = TaskName.GITHUB_SYNC
TOKEN = "ghp_e2etoken0000000000000000000000000000"
KEY = "e2e-internal-key-0000"


class Stack:
    def __init__(self, world: World, github, platform, client, deps: Dependencies):
        self.world, self.github, self.platform, self.client, self.deps = world, github, platform, client, deps
        self.slot = 1000

    def projects(self) -> dict[int, dict]:
        return {p["github_repo_id"]: p for p in self.platform.store.list_projects()}

    def writes(self) -> int:
        return sum(n for route, n in self.platform.counters.requests.items() if not route.startswith("GET"))

    def cycle(self):
        """One tick; returns (final run record, API writes it made, GitHub points it cost)."""
        writes, points = self.writes(), self.github.points_used()
        self.slot += 1
        send(self.client, make_tick(TASK, slot=self.slot))
        record = wait_until(lambda: next((r for r in runs(self.client, TASK)
                                          if r.slot == self.slot and not r.will_retry), None), timeout=30)
        return record, self.writes() - writes, self.github.points_used() - points


@pytest.fixture
def stack(client, redis_url, monkeypatch):
    world = World.generate(seed=11, repos=45, servers=0)
    github, platform = github_app(world, TOKEN), create_app(api_key=KEY)
    with ServedApp(github) as gh, ServedApp(platform) as api:
        for name, value in {"API_BASE_URL": api.url, "INTERNAL_API_KEY": KEY, "GITHUB_API_URL": gh.url,
                            "GITHUB_ORG": world.org, "GITHUB_TOKEN": TOKEN, "GITHUB_PER_PAGE": "10",
                            "GITHUB_MAX_ATTEMPTS": "1", "GITHUB_MISSING_AFTER": "3"}.items():
            monkeypatch.setenv(name, value)
        for name in ("GITHUB_APP_ID", "PLATFORM_MAX_ATTEMPTS"):
            monkeypatch.delenv(name, raising=False)
        # What a worker process builds at start, from this environment.
        yield Stack(world, github, platform, client, Dependencies(redis_url, client))


def test_the_task_is_registered():
    assert TASKS[TASK] is SPEC


def test_the_org_is_kept_in_sync_across_world_changes_at_zero_steady_state_cost(stack, settings, rendered_logs):
    world = stack.world
    with running_worker(stack.client, [SPEC], settings, deps=stack.deps):
        cold, writes, points = stack.cycle()
        assert cold.outcome is RunOutcome.SUCCEEDED and cold.counters["creates"] == 45
        assert (writes, points, cold.counters["pages"]) == (45, 5, 5)
        projects = stack.projects()
        for repo in world.org_repos():
            project = projects[repo.id]
            assert (project["name"], project["full_name"], project["description"]) == (
                repo.name, f"{world.org}/{repo.name}", repo.description)
            assert project["status"] == ("archived" if repo.archived else "discovered")

        steady, writes, points = stack.cycle()
        assert (writes, points) == (0, 0), "an unchanged org costs nothing"
        assert steady.counters["not_modified"] == steady.counters["pages"] == 5
        assert not steady.counters.get("creates") and not steady.counters.get("updates")

        live = [r for r in sorted(world.org_repos(), key=lambda r: r.created_at) if not r.archived]
        renamed, archived, deleted, transferred, edited = live[0], live[10], live[20], live[30], live[40]
        renamed_project = stack.projects()[renamed.id]["id"]
        world.rename_repo(renamed.id, "a-brand-new-name")
        world.archive_repo(archived.id)
        world.delete_repo(deleted.id)
        world.transfer_repo(transferred.id, "another-org")
        world.edit_description(edited.id, "now with a description")

        changed, writes, _ = stack.cycle()
        projects = stack.projects()
        assert projects[renamed.id]["id"] == renamed_project, "a rename is the same project"
        assert projects[renamed.id]["full_name"] == f"{world.org}/a-brand-new-name"
        assert projects[archived.id]["status"] == "archived"
        assert projects[edited.id]["description"] == "now with a description"
        assert (writes, changed.counters["updates"], changed.counters["archived"]) == (3, 3, 1)
        assert {projects[deleted.id]["status"], projects[transferred.id]["status"]} == {"discovered"}
        assert stack.client.hgetall(Keys.github_missing(world.org)) == {
            str(deleted.id).encode(): b"1", str(transferred.id).encode(): b"1"}

        stack.github.faults.update(error_rate=1.0)  # a failed listing never counts as absence
        failed, writes, _ = stack.cycle()
        assert failed.outcome is RunOutcome.FAILED and "503" in failed.error and writes == 0
        stack.github.faults.update(error_rate=0.0)
        assert stack.client.hget(Keys.github_missing(world.org), str(deleted.id)) == b"1"

        _, writes, _ = stack.cycle()
        assert writes == 0
        gone, writes, _ = stack.cycle()  # the third complete listing without them
        assert (writes, gone.counters["missing"]) == (2, 2)
        projects = stack.projects()
        assert projects[deleted.id]["status"] == projects[transferred.id]["status"] == "missing"
        for _ in range(2):
            _, writes, points = stack.cycle()
            assert (writes, points) == (0, 0), "missing is said once, then nothing"
        # read as an operator's log shipper reads them: rendered JSON lines
        lines = [json.loads(line) for line in rendered_logs().splitlines() if line.startswith("{")]
        alerts = [line for line in lines if line["event"] == "github_sync.repo_missing"]
        assert sorted(line["repo_id"] for line in alerts) == sorted([deleted.id, transferred.id])
        assert all(line["alert"] is True and line["level"] == "error" for line in alerts)
        assert all(line["task"] == "github_sync" and line["correlation_id"] for line in alerts)

        world.restore_repo(deleted.id)
        world.restore_repo(transferred.id)
        back, writes, _ = stack.cycle()
        assert (writes, back.counters["restored"]) == (2, 2)
        projects = stack.projects()
        assert projects[deleted.id]["status"] == projects[transferred.id]["status"] == "active"

        final, writes, points = stack.cycle()
        assert (final.outcome, writes, points) == (RunOutcome.SUCCEEDED, 0, 0)
    assert len(stack.projects()) == 45
    everything = rendered_logs()
    assert TOKEN not in everything and KEY not in everything, "no secret in any log line"
    assert {p["status"] for p in stack.projects().values()} <= {s.value for s in ProjectStatus}


def test_the_real_ticker_drives_the_sync(stack, settings):
    ticker = Ticker(stack.client, {TASK: Interval(1)}, release="e2e")
    thread = threading.Thread(target=ticker.run, daemon=True)
    with running_worker(stack.client, [SPEC], settings, deps=stack.deps):
        thread.start()
        try:
            wait_until(lambda: len([r for r in runs(stack.client, TASK) if r.outcome is RunOutcome.SUCCEEDED]) >= 3,
                       timeout=15)
        finally:
            ticker.stop.set()
            thread.join(5)
    done = [r for r in runs(stack.client, TASK) if r.outcome is RunOutcome.SUCCEEDED]
    assert done[0].counters["creates"] == 45 and len(stack.projects()) == 45
    assert all(r.counters.get("points") == 0 and not r.counters.get("creates") for r in done[1:])
    assert stack.github.points_used() == 5


def test_an_unreadable_project_is_skipped_and_one_refused_write_makes_the_run_partial(stack, settings,
                                                                                     captured_logs):
    first = min(stack.world.org_repos(), key=lambda r: r.created_at)
    stack.platform.store.create_project(ProjectCreate(name=first.name, full_name=f"{stack.world.org}/{first.name}",
                                                      github_repo_id=first.id, html_url="https://x.test/r"))
    stack.platform.store.execute_sql("UPDATE projects SET status = 'hibernating'")  # from a newer platform
    with running_worker(stack.client, [SPEC], settings, deps=stack.deps):
        record, writes, _ = stack.cycle()
    assert record.outcome is RunOutcome.PARTIAL
    assert (record.counters["skipped_projects"], record.counters["records_failed"]) == (1, 1)
    assert record.counters["creates"] == 44 and len(stack.projects()) == 45
    refused = [event for event in captured_logs if event["event"] == "github_sync.record_failed"]
    assert [(line["repo_id"], line["status"]) for line in refused] == [(first.id, 409)]


def test_projects_of_another_organisation_are_never_marked_missing(stack, settings):
    from contracts.platform import ProjectCreate

    other = stack.platform.store.create_project(ProjectCreate(
        name="elsewhere", full_name="another-org/elsewhere", github_repo_id=999_999_999,
        default_branch="main", visibility="private", html_url="https://github.example/another-org/elsewhere"))
    with running_worker(stack.client, [SPEC], settings, deps=stack.deps):
        for _ in range(4):  # more complete listings than GITHUB_MISSING_AFTER
            record, _, _ = stack.cycle()
            assert record.outcome is RunOutcome.SUCCEEDED and record.counters["other_org_projects"] == 1
    assert stack.projects()[999_999_999]["status"] == other["status"]


def test_a_project_missing_for_github_archive_after_is_archived_and_an_emptied_org_is_believed(stack, settings,
                                                                                             monkeypatch):
    monkeypatch.setenv("GITHUB_ARCHIVE_AFTER", "2s")  # read by the worker's dependencies at the first run
    world = stack.world
    with running_worker(stack.client, [SPEC], settings, deps=stack.deps):
        stack.cycle()
        deleted = world.org_repos()[0]
        world.delete_repo(deleted.id)
        for _ in range(3):
            stack.cycle()
        assert stack.projects()[deleted.id]["status"] == "missing"
        time.sleep(2.1)
        record, writes, _ = stack.cycle()
        assert (record.counters["archived_missing"], writes) == (1, 1)
        assert stack.projects()[deleted.id]["status"] == "archived"
        assert stack.cycle()[1] == 0, "archived for its absence: left alone"

        for repo in world.org_repos():  # the organisation really empties
            world.delete_repo(repo.id)
        for _ in range(3):
            record, _, _ = stack.cycle()
        assert record.counters["missing"] == 44, "GET /orgs/{org} confirmed zero repositories"
