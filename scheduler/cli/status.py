"""What `scheduler status` shows, read from Redis in one round trip per call."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum

import redis
from pydantic import BaseModel

from actors.runtime.lock import parse_holder
from contracts import IMPLEMENTED_TASKS, PROVISIONER_STREAM, Heartbeat, Keys, RunRecord, TaskName, Tick
from contracts.health import SlotCoverage
from contracts.names import PROVISIONER_GROUP
from process.clock import seconds_of
from process.heartbeats import live_processes
from process.settings import task_schedules
from ticker.slots import Cron, Interval, Off, ScheduleError, parse_schedule


class TaskState(StrEnum):
    """Whether the tickers emit ticks for a task (pausing is separate: see ``paused``)."""

    #: no actor in this release (``contracts.IMPLEMENTED_TASKS``): the tickers treat it as off
    NOT_IMPLEMENTED = "not implemented"
    #: its schedule is ``off``
    OFF = "off"
    #: a worker said it has no credentials for it (``Keys.CONFIGURATION``): the tickers hold its ticks
    NOT_CONFIGURED = "not configured"
    SCHEDULED = "scheduled"


class TaskStatus(BaseModel):
    task: TaskName
    schedule: str
    state: TaskState
    paused: bool
    next_due: datetime | None
    last_tick: Tick | None
    last_run: RunRecord | None
    consecutive_failures: int
    succeeded: int
    #: finished runs in which some records failed (``last_run.counters["records_failed"]`` says how many)
    partial: int
    failed: int
    skipped_locked: int
    skipped_paused: int
    skipped_done: int
    expired: int
    missed: int
    lock_holder: str | None
    #: for a task not configured: what to set, e.g. ``["GITHUB_APP_ID or GITHUB_TOKEN"]``
    missing_credentials: list[str] = []
    #: the health checker's recent slots, newest first: what each covered (the newest may be running)
    coverage: list[SlotCoverage] = []
    #: the live workers (heartbeat ids) whose heartbeat says they serve this task
    served_by: list[str] = []
    #: scheduled, yet no live worker serves it: its ticks wait in the queue
    unserved: bool = False


class GroupStatus(BaseModel):
    """One consumer group of a stream, as XINFO GROUPS says."""

    name: str
    consumers: int
    #: delivered, not yet acknowledged
    pending: int
    #: entries not yet delivered to the group (None when Redis cannot tell, e.g. after a deletion)
    lag: int | None
    last_delivered_id: str


class QueueStatus(BaseModel):
    """``provisioner:queue``: how long it is and how far behind each consumer group is."""

    stream: str
    length: int
    groups: list[GroupStatus]
    #: with no consumer group, nothing is trimmed (no entry is dropped unread): say so
    note: str | None = None


class Status(BaseModel):
    """Everything ``scheduler status`` shows: the tasks, the live processes, the provisioner queue."""

    tasks: list[TaskStatus]
    #: every live ticker and worker (and web) process, from its heartbeat
    processes: list[Heartbeat]
    #: no live ticker heartbeat: nothing emits ticks
    no_ticker: bool
    provisioner_queue: QueueStatus


#: what status says of a provisioner:queue without a consumer group
NO_GROUP_NOTE = (
    "no consumer group: nothing is trimmed until the infra service creates its group "
    f"({PROVISIONER_GROUP}); every entry waits for it"
)


def read_queue(client: redis.Redis, stream: str = PROVISIONER_STREAM) -> QueueStatus:
    """The stream's length and each group's pending entries and lag (XINFO GROUPS)."""
    length = client.xlen(stream)
    try:
        raw_groups = client.xinfo_groups(stream) if length or client.exists(stream) else []
    except redis.ResponseError:  # no such key
        raw_groups = []
    groups = [
        GroupStatus(
            name=_text(g["name"]),
            consumers=int(g["consumers"]),
            pending=int(g["pending"]),
            lag=None if g.get("lag") is None else int(g["lag"]),
            last_delivered_id=_text(g["last-delivered-id"]),
        )
        for g in raw_groups
    ]
    return QueueStatus(stream=stream, length=length, groups=groups, note=None if groups else NO_GROUP_NOTE)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


#: slots whose coverage ``status`` shows
COVERAGE_SLOTS = 3


def _json(raw: bytes | None) -> dict | None:
    try:
        value = json.loads(raw) if raw else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _int(state: dict, key: str) -> int:
    return int(state.get(key.encode(), 0))


def _state(task: TaskName, schedule_text: str, configuration: dict | None) -> TaskState:
    if task not in IMPLEMENTED_TASKS:
        return TaskState.NOT_IMPLEMENTED
    if configuration and configuration.get("configured") is False:
        return TaskState.NOT_CONFIGURED
    try:
        return TaskState.OFF if isinstance(parse_schedule(schedule_text), Off) else TaskState.SCHEDULED
    except ScheduleError:
        return TaskState.SCHEDULED  # the ticker refuses to start on it; the text shows why


def _next_due(schedule_text: str, last_tick: Tick | None, now: float) -> datetime | None:
    try:
        schedule = parse_schedule(schedule_text)
    except ScheduleError:
        return None
    if not isinstance(schedule, Interval | Cron):
        return None
    # A tick for the current slot is emitted as soon as the slot starts.
    if last_tick is None or schedule.floor(now) > last_tick.slot:
        return datetime.fromtimestamp(schedule.floor(now), UTC)
    return datetime.fromtimestamp(schedule.next_after(last_tick.slot), UTC)


def read_overview(client: redis.Redis) -> Status:
    """The tasks and the live processes; a scheduled task is flagged ``unserved`` when no live
    worker's heartbeat lists it."""
    tasks = read_status(client)
    processes = live_processes(client)
    for status in tasks:
        status.served_by = [p.id for p in processes if p.role == "worker" and status.task.value in p.tasks]
        status.unserved = status.state is TaskState.SCHEDULED and not status.served_by
    return Status(
        tasks=tasks,
        processes=processes,
        no_ticker=not any(p.role == "ticker" for p in processes),
        provisioner_queue=read_queue(client),
    )


def read_status(client: redis.Redis) -> list[TaskStatus]:
    tasks = list(TaskName)
    pipe = client.pipeline(transaction=False)
    pipe.time()
    pipe.hgetall(Keys.SCHEDULES)
    pipe.smembers(Keys.PAUSED)
    pipe.hgetall(Keys.CONFIGURATION)
    for task in tasks:
        pipe.hgetall(Keys.state(task))
        pipe.get(Keys.lock(task))
    now_pair, published, paused, configurations, *rest = pipe.execute()
    now = seconds_of(now_pair)
    env_schedules = task_schedules()
    statuses = []
    for i, task in enumerate(tasks):
        state, lock = rest[2 * i], rest[2 * i + 1]
        # The schedule the tickers actually use, if one has published it.
        schedule = (published.get(task.value.encode()) or env_schedules[task].encode()).decode()
        last_tick = Tick.model_validate_json(state[b"last_tick"]) if b"last_tick" in state else None
        last_run = RunRecord.model_validate_json(state[b"last_run"]) if b"last_run" in state else None
        holder = parse_holder(lock)
        configuration = _json(configurations.get(task.value.encode()))
        ticking = _state(task, schedule, configuration)
        next_due = _next_due(schedule, last_tick, now) if ticking is TaskState.SCHEDULED else None
        statuses.append(
            TaskStatus(
                task=task,
                schedule=schedule,
                state=ticking,
                paused=task.value.encode() in paused,
                next_due=next_due,
                last_tick=last_tick,
                last_run=last_run,
                consecutive_failures=_int(state, "consecutive_failures"),
                succeeded=_int(state, "succeeded"),
                partial=_int(state, "partial"),
                failed=_int(state, "failed"),
                skipped_locked=_int(state, "skipped_locked"),
                skipped_paused=_int(state, "skipped_paused"),
                skipped_done=_int(state, "skipped_done"),
                expired=_int(state, "expired"),
                missed=_int(state, "missed"),
                lock_holder=holder["owner"] if holder else None,
                missing_credentials=(configuration or {}).get("missing", [])
                if ticking is TaskState.NOT_CONFIGURED
                else [],
                coverage=read_coverage(client) if task is TaskName.HEALTH_CHECKER else [],
            )
        )
    return statuses


def read_coverage(client: redis.Redis, count: int = COVERAGE_SLOTS) -> list[SlotCoverage]:
    """The coverage of the health checker's ``count`` latest slots, newest first."""
    slots = [int(s) for s in client.zrevrange(Keys.HEALTH_SLOTS, 0, count - 1)]
    pipe = client.pipeline(transaction=False)
    for slot in slots:
        pipe.hgetall(Keys.health_slot(slot))
        pipe.scard(Keys.health_slot_checked(slot))
    answers = pipe.execute()
    return [
        SlotCoverage.of(slot, {k.decode(): int(v) for k, v in answers[2 * i].items()}, answers[2 * i + 1])
        for i, slot in enumerate(slots)
    ]
