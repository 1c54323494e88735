"""Hostile values in every field the tasks read: lone surrogates, NULs, control characters, 1 MB
strings, numbers where strings belong, nulls where values belong. No run stops; nothing invalid
is written; the healthy records beside them are synced."""

from __future__ import annotations

import pytest

from actors.tasks.deps import Dependencies
from actors.tasks.github_sync import SPEC as GITHUB_SYNC
from actors.tasks.health_checker import SPEC as HEALTH_CHECKER
from contracts import Keys, RunOutcome, TaskName
from process.settings import Settings
from sandbox.world import World
from tests.chaos.harness import TickDriver, chaos_sandbox, invalid_rows
from tests.support import running_worker, wait_until
from tests.tasks.health_checker.support import slot_stats

pytestmark = pytest.mark.slow
MEGABYTE = "x" * 1_000_000
#: (field, value): one repository each
HOSTILE = [
    ("description", "lone \ud800 surrogate"),
    ("description", "nul \x00 inside"),
    ("description", "bell \x07 tab \t"),
    ("description", MEGABYTE),
    ("description", 42),
    ("name", "new\nline"),
    ("name", "nul\x00name"),
    ("name", "surrogate\udfff"),
    ("name", MEGABYTE),
    ("name", 7),
    ("name", None),
    ("default_branch", "\x00"),
    ("default_branch", 3.5),
    ("visibility", "\ud800"),
    ("language", MEGABYTE),
    ("topics", [None, 1, "\x00"]),
    ("archived", "yes"),
    ("disabled", None),
]


def test_hostile_repository_fields_and_server_records_stop_no_run_and_write_nothing_invalid(
    client, redis_url, settings, monkeypatch
):
    monkeypatch.setenv("GITHUB_MISSING_AFTER", "1")
    monkeypatch.setenv("HEALTH_CONNECT_TIMEOUT_S", "2")
    monkeypatch.setenv("HEALTH_COMMAND_TIMEOUT_S", "2")
    world = World.generate(seed=21, repos=len(HOSTILE) + 5, servers=4)
    repos = sorted(world.org_repos(), key=lambda r: r.created_at)
    healthy = world.add_repo("healthy-beside-them")
    for repo, (name, value) in zip(repos, HOSTILE, strict=False):
        setattr(repo, name, value)
    doomed = repos[-1]
    with (
        chaos_sandbox(world) as sandbox,
        running_worker(
            client, [GITHUB_SYNC, HEALTH_CHECKER], settings, deps=Dependencies(Settings(redis_url=redis_url), client)
        ),
    ):
        store = sandbox.platform.store
        sandbox.seed_platform_servers()
        planted = plant_hostile_servers(store)
        sync = TickDriver(client, TaskName.GITHUB_SYNC)
        first = sync()
        world.delete_repo(doomed.id)  # absence is still counted with every hostile item in the listing
        second = sync()
        check = TickDriver(client, TaskName.HEALTH_CHECKER, first_slot=50_000)()
        wait_until(
            lambda: slot_stats(client, check.slot).get("batches_done", 0) >= check.counters["batches"], timeout=60
        )
        repositories = {r["provider_repo_id"]: r for r in store.all_repositories()}
        projects = {p["id"]: p for p in store.list_projects()}
        missing = client.hkeys(Keys.github_gone(world.org))
        invalid = invalid_rows(store)
        servers = {s["handle"]: s for s in store.list_servers()}

    assert first.outcome in (RunOutcome.SUCCEEDED, RunOutcome.PARTIAL) and second.outcome in (
        RunOutcome.SUCCEEDED,
        RunOutcome.PARTIAL,
    ), (first.error, second.error)
    assert healthy.id in repositories and repositories[healthy.id]["project_id"] in projects
    assert missing == [str(doomed.id).encode()], "absence counted with every hostile item in the listing"
    assert first.counters["skipped_items"] + first.counters.get("rejected", 0) > 0, (
        "unreadable or refused: logged, counted"
    )
    # descriptions are not stored on the platform: a hostile one does not keep its repository out
    assert {repos[n].id for n in range(4)} <= set(repositories)
    assert sorted(invalid) == sorted(planted), "nothing invalid written; only the rows planted by this test"
    assert check.outcome is RunOutcome.SUCCEEDED and check.counters["servers"] == 4
    assert check.counters["skipped_items"] == 2
    assert slot_stats(client, check.slot)["checked"] == 4
    verdicts = {k.decode(): v.decode() for k, v in client.hgetall(Keys.HEALTH_VERDICTS).items()}
    assert verdicts == {h: "healthy" for h in servers if h.startswith("vps-")}
    assert all(s["last_health_check"] for h, s in servers.items() if h.startswith("vps-"))


def plant_hostile_servers(store) -> list[str]:
    """Two server rows a buggy platform might hold, copied from a good one: a 1 MB host, a user with
    a NUL in it. Returns what ``invalid_rows`` says of them."""
    [template] = store.execute_sql("SELECT handle FROM servers ORDER BY handle LIMIT 1")
    columns = [r["name"] for r in store.execute_sql("PRAGMA table_info(servers)")]
    for handle, column, value in (("bad-host", "host", MEGABYTE), ("bad-user", "ssh_user", "root\x00x")):
        replaced = {"handle": handle, column: value}
        picked = ", ".join("?" if c in replaced else c for c in columns)
        store.execute_sql(
            f"INSERT INTO servers ({', '.join(columns)}) SELECT {picked} FROM servers "  # noqa: S608
            "WHERE handle = ?",
            [replaced[c] for c in columns if c in replaced] + [template["handle"]],
        )
    return invalid_rows(store)
