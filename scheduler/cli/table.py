"""The text of `scheduler status` (and of the demo's periodic table): one row per task, the
recent health slots' coverage, the live processes, each task's last counters."""

from __future__ import annotations

from datetime import datetime

import contracts
from contracts import RunRecord
from contracts.counters import in_order
from scheduler.cli.status import Status, TaskState, TaskStatus


def _age(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "-"
    seconds = int((when - now).total_seconds())
    return f"in {seconds}s" if seconds >= 0 else f"{-seconds}s ago"


def render_table(statuses: list[TaskStatus], now: datetime, overview: Status | None = None) -> str:
    header = [
        "task",
        "schedule",
        "next due",
        "last tick",
        "last outcome",
        "took",
        "fails",
        "skipped",
        "expired",
        "missed",
        "lock holder",
    ]
    rows = [header]
    for s in statuses:
        run = s.last_run
        rows.append(
            [
                s.task.value + (" (paused)" if s.paused else ""),
                # "off" and "not implemented" say no tick comes, whatever the schedule text was
                s.schedule if s.state is TaskState.SCHEDULED else s.state.value,
                _age(s.next_due, now),
                f"{s.last_tick.slot} {s.last_tick.reason.value}" if s.last_tick else "-",
                _outcome(run),
                f"{run.duration_s:.2f}s" if run else "-",
                str(s.consecutive_failures),
                str(s.skipped_locked + s.skipped_paused + s.skipped_done),
                str(s.expired),
                str(s.missed),
                s.lock_holder or "-",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    table = "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)
    unconfigured = [
        f"  {s.task.value}: set {', and '.join(s.missing_credentials)}" for s in statuses if s.missing_credentials
    ]
    if unconfigured:
        table += "\n\nnot configured (no ticks until a worker has its credentials):\n" + "\n".join(unconfigured)
    coverage = [line for s in statuses for line in _coverage_lines(s)]
    processes = [render_processes(overview, now)] if overview is not None else []
    return "\n".join([table, *coverage, *processes]) + render_counters(statuses)


def render_counters(statuses: list[TaskStatus]) -> str:
    """What each task's last run counted, one line per task: the counters every task shares
    (``contracts.counters``: skipped_items, rejected, records_failed...) first, then its own."""
    lines = [
        (s.task.value, " ".join(f"{name}={value}" for name, value in in_order(s.last_run.counters)))
        for s in statuses
        if s.last_run and s.last_run.counters
    ]
    if not lines:
        return ""
    width = max(len(task) for task, _ in lines)
    return "\n\nlast run's counters:\n" + "\n".join(f"  {task.ljust(width)}  {counters}" for task, counters in lines)


def _outcome(run: RunRecord | None) -> str:
    if run is None:
        return "-"
    failed = run.counters.get(contracts.RECORDS_FAILED)
    return f"{run.outcome.value} ({failed} records failed)" if failed else run.outcome.value


def _coverage_lines(status: TaskStatus) -> list[str]:
    """Per recent slot: planned, checked, cut, claimed elsewhere, never checked; flagged when short."""
    lines = []
    for newest, c in zip([True] + [False] * len(status.coverage), status.coverage):
        flag = (
            ""
            if c.complete
            else (
                "  (the latest slot: may still be running)" if newest else "  INCOMPLETE: not every server was checked"
            )
        )
        lines.append(
            f"slot {c.slot} of {status.task.value}: planned {c.planned}, checked {c.checked}, cut {c.cut}, "
            f"claimed elsewhere {c.claimed_elsewhere}, never checked {c.never_checked}{flag}"
        )
    return ([""] if lines else []) + lines


def render_processes(overview: Status, now: datetime) -> str:
    """The live processes, one line each, and the scheduled tasks no live worker serves."""
    lines = ["", "live processes:"]
    rows = [["role", "id", "release", "version", "started", "last seen", "tasks"]]
    for p in overview.processes:
        rows.append(
            [
                p.role,
                p.id,
                p.release,
                p.version,
                _age(p.started_at, now),
                _age(p.last_seen, now),
                ",".join(p.tasks) or "-",
            ]
        )
    if len(rows) == 1:
        lines.append("  none (no ticker or worker heartbeat is alive)")
    else:
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    if overview.no_ticker:
        lines.append("NO LIVE TICKER: no scheduled tick is emitted")
    unserved = [s.task.value for s in overview.tasks if s.unserved]
    if unserved:
        lines.append(f"UNSERVED: no live worker serves {', '.join(unserved)} (their ticks wait in the queue)")
    queue = overview.provisioner_queue
    lines += ["", f"{queue.stream}: {queue.length} entries"]
    lines += [
        f"  group {g.name}: lag {'?' if g.lag is None else g.lag}, pending {g.pending}, "
        f"consumers {g.consumers}, last delivered {g.last_delivered_id}"
        for g in queue.groups
    ]
    if queue.note:
        lines.append(f"  {queue.note}")
    return "\n".join(lines)
