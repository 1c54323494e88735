"""Everything the dashboard, ``/metrics``, ``/healthz`` and the alerts look at, read from Redis
in a handful of pipelined round trips.

Why one snapshot: the page, the scrape and the alert evaluator must agree on the figures (a
test compares them with ``scheduler status --json``), so they share one reading, and that
reading reuses the CLI's own (``scheduler.cli.status.read_status``) for the per-task state.
Its cost does not grow with the fleet: health figures come from the slot counters the
health checker keeps, not from one key per server; the runs stream is read only as deep as
``RUNS_SCANNED`` entries, however long it is.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import redis

from actors.runtime.spec import part_queue_name
from contracts import PROVISIONER_STREAM, RUNS_STREAM, Heartbeat, Keys, RunOutcome, TaskName, queue_name
from contracts.counters import PROVIDER_UNAVAILABLE
from contracts.health import SlotCoverage
from contracts.names import DRAMATIQ_NAMESPACE
from process.clock import seconds_of
from process.heartbeats import live_processes
from scheduler.cli.status import TaskState, TaskStatus, read_status
from scheduler.web import fleet

#: the newest run records read for the timelines (the stream keeps about 10,000)
RUNS_SCANNED = 2_000
#: runs drawn per task
RUNS_SHOWN = 40
#: provisioner:queue entries shown
PROVISIONER_SHOWN = 15


@dataclass(frozen=True)
class QueueDepth:
    queue: str
    task: str
    #: messages waiting in the list, delayed (retries, ``.DQ``) and dead-lettered (``.XQ``)
    ready: int
    delayed: int
    dead: int


@dataclass(frozen=True)
class StreamGroup:
    name: str
    consumers: int
    pending: int
    #: entries not yet delivered to the group (Redis 7's ``lag``; None when Redis cannot tell)
    lag: int | None


@dataclass
class TaskFigures:
    """What a task's state hash holds beyond ``TaskStatus``: the counters /metrics serves."""

    emitted: int = 0
    last_success_at: float | None = None
    outcomes: dict[str, int] = field(default_factory=dict)
    #: run-duration histogram: bucket upper bound (text, ``+Inf`` last) -> runs in that bucket
    duration_buckets: dict[str, int] = field(default_factory=dict)
    duration_sum: float = 0.0


@dataclass
class Snapshot:
    now: float
    tasks: list[TaskStatus]
    figures: dict[TaskName, TaskFigures]
    #: per task, its newest runs, oldest first (plain dicts of RunRecord JSON plus ``id``, ``duration_s``)
    runs: dict[TaskName, list[dict]]
    queues: list[QueueDepth]
    provisioner_length: int
    provisioner_recent: list[dict]
    provisioner_groups: list[StreamGroup]
    #: org -> the GitHub rate-limit budget last seen (``remaining``, ``reset``...)
    github_rate: dict[str, dict[str, float]]
    fleet: fleet.FleetHealth
    processes: list[Heartbeat]

    def task(self, name: TaskName) -> TaskStatus:
        return next(s for s in self.tasks if s.task is name)

    def scheduled(self) -> list[TaskStatus]:
        return [s for s in self.tasks if s.state is TaskState.SCHEDULED]


def _float(raw: bytes | None) -> float | None:
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def figures_of(state: dict[bytes, bytes]) -> TaskFigures:
    """The counters of one task's state hash (``Keys.state``) that ``TaskStatus`` leaves out."""
    figures = TaskFigures(
        emitted=int(state.get(b"emitted", 0)),
        last_success_at=_float(state.get(b"last_success_at")),
        duration_sum=_float(state.get(b"duration_s_total")) or 0.0,
    )
    for key, value in state.items():
        name = key.decode()
        if name.startswith("duration_bucket:"):
            figures.duration_buckets[name.removeprefix("duration_bucket:")] = int(value)
    figures.outcomes = {o.value: int(state.get(o.value.encode(), 0)) for o in RunOutcome}
    return figures


def _run_entry(entry_id: bytes, fields: dict[bytes, bytes]) -> dict | None:
    try:
        run = json.loads(fields[b"data"])
    except (KeyError, ValueError):
        return None
    if not isinstance(run, dict) or "task" not in run:
        return None
    run["id"] = entry_id.decode()
    return run


def _groups(client: redis.Redis) -> list[StreamGroup]:
    try:
        groups = client.xinfo_groups(PROVISIONER_STREAM)
    except redis.ResponseError:  # no stream yet
        return []
    return [
        StreamGroup(
            name=_text(g["name"]),
            consumers=int(g["consumers"]),
            pending=int(g["pending"]),
            lag=None if g.get("lag") is None else int(g["lag"]),
        )
        for g in groups
    ]


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _github_orgs(client: redis.Redis) -> list[str]:
    org = os.environ.get("GITHUB_ORG")
    if org:
        return [org.lower()]
    prefix = Keys.github_rate("")
    return sorted({_text(k).removeprefix(prefix) for k in client.scan_iter(match=prefix + "*", count=1000)})


def queues_of() -> list[tuple[str, str]]:
    """(queue, task) of every task queue and every part queue, in task order."""
    return [(name, task.value) for task in TaskName for name in (queue_name(task), part_queue_name(task))]


def read_snapshot(client: redis.Redis) -> Snapshot:
    tasks = read_status(client)
    queues = queues_of()
    orgs = _github_orgs(client)
    pipe = client.pipeline(transaction=False)
    pipe.time()
    for task in TaskName:
        pipe.hgetall(Keys.state(task))
    pipe.xrevrange(RUNS_STREAM, count=RUNS_SCANNED)
    for queue, _ in queues:
        base = f"{DRAMATIQ_NAMESPACE}:{queue}"
        pipe.llen(base)
        pipe.llen(f"{base}.DQ")
        pipe.zcard(f"{base}.XQ")
    pipe.xlen(PROVISIONER_STREAM)
    pipe.xrevrange(PROVISIONER_STREAM, count=PROVISIONER_SHOWN)
    for org in orgs:
        pipe.hgetall(Keys.github_rate(org))
    answers = pipe.execute()
    now_pair, answers = answers[0], answers[1:]
    states, answers = answers[: len(TaskName)], answers[len(TaskName) :]
    runs_raw, answers = answers[0], answers[1:]
    depths, answers = answers[: 3 * len(queues)], answers[3 * len(queues) :]
    provisioner_length, provisioner_raw, rates = answers[0], answers[1], answers[2:]

    runs: dict[TaskName, list[dict]] = {task: [] for task in TaskName}
    for entry_id, fields in runs_raw:
        run = _run_entry(entry_id, fields)
        if run is None or run["task"] not in TaskName.__members__.values():
            continue
        shown = runs[TaskName(run["task"])]
        if len(shown) < RUNS_SHOWN:
            shown.append(run)
    for shown in runs.values():
        shown.reverse()

    recent = []
    for entry_id, fields in provisioner_raw:
        data = fields.get(b"data", b"")
        try:
            message = json.loads(data)
        except ValueError:
            message = {"unreadable": data[:200].decode(errors="replace")}
        recent.append({"id": entry_id.decode(), **(message if isinstance(message, dict) else {"value": message})})

    health = next(s for s in tasks if s.task is TaskName.HEALTH_CHECKER)
    return Snapshot(
        now=seconds_of(now_pair),
        tasks=tasks,
        figures={task: figures_of(state) for task, state in zip(TaskName, states, strict=True)},
        runs=runs,
        queues=[
            QueueDepth(queue=q, task=t, ready=depths[3 * i], delayed=depths[3 * i + 1], dead=depths[3 * i + 2])
            for i, (q, t) in enumerate(queues)
        ],
        provisioner_length=provisioner_length,
        provisioner_recent=recent,
        provisioner_groups=_groups(client),
        github_rate={org: {_text(k): float(v) for k, v in rate.items()} for org, rate in zip(orgs, rates, strict=True)},
        fleet=fleet.fleet_health(client, health.coverage),
        processes=live_processes(client),
    )


def serves(process: Heartbeat, task: TaskName) -> bool:
    """Whether a live process works for ``task``: a worker consuming its queue (or naming it),
    a ticker scheduling it (a ticker that names no task schedules them all)."""
    if process.role == "worker":
        return queue_name(task) in process.queues or task.value in process.tasks
    if process.role == "ticker":
        return not process.tasks or task.value in process.tasks
    return False


def unserved(snapshot: Snapshot) -> dict[TaskName, list[str]]:
    """Each scheduled task that lacks a live ticker or worker, with the roles it lacks."""
    missing = {}
    for status in snapshot.scheduled():
        roles = [
            role
            for role in ("ticker", "worker")
            if not any(p.role == role and serves(p, status.task) for p in snapshot.processes)
        ]
        if roles:
            missing[status.task] = roles
    return missing


def incomplete_slots_in_a_row(snapshot: Snapshot) -> int:
    """Finished health slots in a row, newest first, that checked fewer servers than planned.
    The newest slot is left out: it may still be running."""
    count = 0
    for coverage in snapshot.fleet.coverage[1:]:
        if coverage.complete:
            break
        count += 1
    return count


def provider_outage(snapshot: Snapshot) -> str | None:
    """Why server_sync's last run found the provider out (Time4VPS unavailable or refusing our
    credentials; it opened the ``provider_api_unavailable`` incident), or None."""
    run = snapshot.task(TaskName.SERVER_SYNC).last_run
    if run is None or run.outcome is not RunOutcome.FAILED or not run.counters.get(PROVIDER_UNAVAILABLE):
        return None
    return run.error or "the provider API is unavailable"


__all__ = [
    "QueueDepth",
    "incomplete_slots_in_a_row",
    "provider_outage",
    "Snapshot",
    "StreamGroup",
    "SlotCoverage",
    "TaskFigures",
    "read_snapshot",
    "serves",
    "unserved",
]
