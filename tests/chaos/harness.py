"""The chaos harness: drive a task through a changing sandbox world with faults on every stand-in,
then without, and say what happened. Any task's chaos test is a few lines on top of it.

    with chaos_sandbox(World.generate(seed=5, repos=120, servers=0)) as sandbox, \\
            running_worker(client, [SPEC], settings, deps=Dependencies(settings, client)):
        chaos = Chaos(sandbox, TickDriver(client, TaskName.GITHUB_SYNC), change=repo_churn, seed=5)
        report = chaos.run(fault_cycles=6, clean_cycles=2, error_rate=0.2, malformed_rate=0.1)
        assert abs(report.faults["platform"]["5xx"] - report.expected_faults("platform", "5xx", 0.2)) <= 1
        assert report.during_faults["creates"] and report.during_faults["updates"]
        assert mismatches(expected_from_world, sandbox_rows) == [] and invalid_rows(sandbox.platform.store) == []

- ``chaos_sandbox(world)``: the whole sandbox (``sandbox.running.Sandbox``) with its environment
  set for the scheduler (``monkeypatch``-free: restored on exit).
- ``TickDriver(client, task)``: one cycle = one tick of a fresh slot, waited for until its final
  run record (retries included); returns that ``RunRecord``.
- ``Chaos(sandbox, cycle, change=…, seed=…).run(fault_cycles, clean_cycles, **rates)``: for each
  fault cycle, change the world (``change(world, rng, cycle)``), then run a cycle with the rates
  set on every HTTP stand-in; then clean cycles. Returns a ``ChaosReport``: the run records of
  both phases, the counters of the fault phase summed (``during_faults``), how many requests each
  stand-in answered and how many faults it injected meanwhile (``expected_faults`` says how many
  the rate stands for: the fault injector fires at its rate from the first request).
- ``repo_churn`` / ``server_churn``: ready-made world changes (add, rename, edit, archive, delete
  repositories; add, remove, fill disks of servers).
- ``invalid_rows(store)``: every row of the platform's store holding text the platform could not
  store (``contracts.text``: lone surrogates, NULs, control characters in names, sizes beyond the
  caps), as readable strings. ``mismatches(expected, actual)``: the differences of two
  ``{key: {field: value}}`` mappings, for comparing the platform with the world.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import redis

from contracts import RunOutcome, RunRecord, TaskName
from contracts.text import DESCRIPTION_MAX, NAME_MAX, URL_MAX, text_problem
from sandbox.running import Sandbox
from sandbox.world import World
from tests.support import make_tick, runs, send, wait_until

#: the HTTP stand-ins of a sandbox, by name (the SSH fleet has states, not rates)
STAND_INS = ("platform", "github", "time4vps", "embeddings")
#: the sizes the platform's columns take (see ``contracts.text``)
COLUMN_CAPS = {
    "name": NAME_MAX,
    "full_name": NAME_MAX,
    "default_branch": NAME_MAX,
    "html_url": URL_MAX,
    "description": DESCRIPTION_MAX,
}
#: columns that hold one line (no control character)
LINE_COLUMNS = {"name", "full_name", "default_branch", "html_url", "handle", "host", "ssh_user"}


@contextlib.contextmanager
def chaos_sandbox(world: World, **options) -> Iterator[Sandbox]:
    """The sandbox of ``world``, started, with the scheduler's environment pointing at it."""
    with Sandbox(world, **options) as sandbox:
        saved = {name: os.environ.get(name) for name in sandbox.env()}
        os.environ.update(sandbox.env())
        try:
            yield sandbox
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


class TickDriver:
    """One cycle: a tick of a fresh slot for ``task``, waited for until its final run record."""

    def __init__(
        self, client: redis.Redis, task: TaskName, *, first_slot: int = 1_000, step: int = 1, timeout: float = 60.0
    ):
        self.client, self.task, self.timeout = client, task, timeout
        self.slots = itertools.count(first_slot, step)

    def __call__(self) -> RunRecord:
        slot = next(self.slots)
        send(self.client, make_tick(self.task, slot=slot, deadline_in=self.timeout))
        return wait_until(
            lambda: next((r for r in runs(self.client, self.task) if r.slot == slot and not r.will_retry), None),
            timeout=self.timeout,
        )


@dataclass
class ChaosReport:
    with_faults: list[RunRecord] = field(default_factory=list)
    clean: list[RunRecord] = field(default_factory=list)
    #: faults each stand-in injected while they were on, by kind ("5xx", "malformed", "timeout")
    faults: dict[str, Counter] = field(default_factory=dict)
    #: requests each stand-in answered while faults were on (those answered with one included)
    requests: Counter = field(default_factory=Counter)

    @property
    def during_faults(self) -> Counter:
        """The run counters summed over the cycles with faults (``creates``, ``records_failed``...)."""
        return sum((Counter(r.counters) for r in self.with_faults), Counter())

    def outcomes(self, phase: str = "with_faults") -> Counter:
        return Counter(r.outcome.value for r in getattr(self, phase))

    def expected_faults(self, name: str, kind: str, rate: float) -> float:
        """How many faults of ``kind`` a stand-in should have injected at ``rate``: a share of the
        requests that reached that kind's draw (a request answered 5xx is not also malformed)."""
        drawn = self.requests[name] - (self.faults[name]["5xx"] if kind != "5xx" else 0)
        return rate * drawn


class Chaos:
    def __init__(
        self,
        sandbox: Sandbox,
        cycle: Callable[[], RunRecord],
        *,
        change: Callable[[World, random.Random, int], None] | None = None,
        seed: int = 0,
    ):
        self.sandbox, self.cycle, self.change = sandbox, cycle, change
        self.rng = random.Random(f"chaos:{seed}")
        self.seed = seed

    def _set_faults(self, **rates: float) -> None:
        for index, name in enumerate(STAND_INS):
            getattr(self.sandbox, name).faults.update(seed=self.seed * 10 + index, **rates)

    def run(self, fault_cycles: int = 6, clean_cycles: int = 2, **rates: float) -> ChaosReport:
        """``rates``: ``error_rate``, ``malformed_rate``, ``timeout_rate`` (see ``sandbox.http.Faults``)."""
        report = ChaosReport()
        before = {name: Counter(getattr(self.sandbox, name).counters.faults) for name in STAND_INS}
        asked = {name: getattr(self.sandbox, name).counters.total() for name in STAND_INS}
        self._set_faults(**rates)
        try:
            for number in range(fault_cycles):
                if self.change is not None:
                    self.change(self.sandbox.world, self.rng, number)
                    self.sandbox.sync_fleet()
                report.with_faults.append(self.cycle())
        finally:
            self._set_faults(**{name: 0.0 for name in rates})
        report.faults = {
            name: Counter(getattr(self.sandbox, name).counters.faults) - before[name] for name in STAND_INS
        }
        report.requests = Counter(
            {name: getattr(self.sandbox, name).counters.total() - asked[name] for name in STAND_INS}
        )
        report.clean = [self.cycle() for _ in range(clean_cycles)]
        return report


# ---------------------------------------------------------------------------- world changes


def repo_churn(world: World, rng: random.Random, cycle: int) -> None:
    """Some of everything the organisation does in a day: new, renamed, edited, archived,
    unarchived and deleted repositories."""
    live = [r for r in world.org_repos()]
    world.add_repo()
    world.add_repo()
    for repo in rng.sample(live, min(len(live), 6)):
        action = rng.choice(("rename", "describe", "archive", "delete", "visibility"))
        if action == "rename":
            world.rename_repo(repo.id, f"{repo.name}-v{cycle}")
        elif action == "describe":
            world.edit_description(repo.id, f"changed in cycle {cycle}")
        elif action == "archive":
            world.archive_repo(repo.id, not repo.archived)
        elif action == "delete":
            world.delete_repo(repo.id)
        else:
            world.set_visibility(repo.id, "private" if repo.visibility == "public" else "public")


def server_churn(world: World, rng: random.Random, cycle: int) -> None:
    """Servers come and go and disks fill up."""
    servers = world.server_list()
    world.add_server()
    if len(servers) > 2:
        gone = rng.choice(servers)
        world.remove_server(gone.server_id)
        staying = [s for s in servers if s.server_id != gone.server_id]
        world.fill_disk(rng.choice(staying).server_id, rng.choice((50, 90, 99)))


# ---------------------------------------------------------------------------- what was written


def invalid_rows(store) -> list[str]:
    """Every value in the platform's store that the platform could not store: ``table#id.column: why``."""
    found = []
    tables = [r["name"] for r in store.execute_sql("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        for row in store.execute_sql(f"SELECT rowid AS _row, * FROM {table}"):  # noqa: S608 (our own table names)
            for column, value in row.items():
                if not isinstance(value, str):
                    continue
                problem = text_problem(value, line=column in LINE_COLUMNS)
                if problem is None and len(value) > COLUMN_CAPS.get(column, 10**9):
                    problem = f"{len(value)} characters, over the cap of {COLUMN_CAPS[column]}"
                if problem:
                    found.append(f"{table}#{row['_row']}.{column}: {problem}")
    return found


def mismatches(
    expected: Mapping[object, Mapping[str, object]], actual: Mapping[object, Mapping[str, object]]
) -> list[str]:
    """What differs between two ``{key: {field: value}}`` mappings (fields of ``expected`` only)."""
    found = [f"{key}: missing" for key in expected if key not in actual]
    for key, fields in expected.items():
        if key in actual:
            found += [
                f"{key}.{name}: {actual[key].get(name)!r} != {value!r}"
                for name, value in fields.items()
                if actual[key].get(name) != value
            ]
    return found


def failed_runs(records: list[RunRecord]) -> list[str]:
    return [f"slot {r.slot}: {r.error}" for r in records if r.outcome is RunOutcome.FAILED]
