"""The ``scheduler`` command: status, trigger, pause, resume, contracts export, demo."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis

import contracts
from actors.adapters.kit import EndpointRefused
from actors.adapters.platform.client import PlatformError
from contracts import Keys, RunRecord, TaskName, Tick, TickReason
from process.clock import redis_now
from process.connection import RedisCertificateRefused, RedisNotConfigured, check_redis, redis_from_url
from process.errors import ConfigurationError, TransientError
from process.settings import Settings
from scheduler.cli.config import app_json_text, check_report, env_example, import_production_modules
from scheduler.cli.demo import run_demo
from scheduler.cli.search import cmd_search as search
from scheduler.cli.status import read_overview
from scheduler.cli.table import render_table
from ticker.emit import TickEmitter

#: a manual tick is worth running for this long
MANUAL_DEADLINE_S = 600


def _client() -> redis.Redis:
    settings = Settings()
    client = redis_from_url(settings.redis_url, settings)
    check_redis(client)  # a refused TLS certificate is explained, not dumped as a traceback
    return client


def cmd_status(args) -> int:
    overview = read_overview(_client())
    if args.json:
        print(json.dumps(overview.model_dump(mode="json"), indent=2))
    else:
        now = datetime.now(UTC)
        print(render_table(overview.tasks, now, overview))
    return 0


def manual_tick(client: redis.Redis, task: TaskName, emitted_by: str = "cli") -> Tick:
    """Queue a manual tick for ``task`` now (Redis clock); the task's lock decides whether it runs.
    The one way to trigger: the CLI and the dashboard both call it."""

    clock = redis_now(client)
    now = datetime.fromtimestamp(clock, UTC)
    tick = Tick(
        task=task,
        slot=int(clock),
        scheduled_at=now,
        deadline=now + timedelta(seconds=MANUAL_DEADLINE_S),
        reason=TickReason.MANUAL,
        emitted_by=emitted_by,
    )
    TickEmitter(client).enqueue(tick)
    return tick


def pause(client: redis.Redis, task: TaskName) -> None:
    """Scheduled ticks of ``task`` are skipped (within a second) until ``resume``."""
    client.sadd(Keys.PAUSED, task.value)


def resume(client: redis.Redis, task: TaskName) -> None:
    client.srem(Keys.PAUSED, task.value)


def cmd_trigger(args) -> int:
    client = _client()
    tick = manual_tick(client, args.task)
    print(f"queued a manual tick for {tick.task.value} (slot {tick.slot}); the task's lock decides whether it runs")
    if args.wait <= 0:
        return 0
    record = _wait_for_run(client, tick, args.wait)
    if record is None:
        print(f"no worker reported on it within {args.wait:g}s (is a worker running?)", file=sys.stderr)
        return 1
    print(f"{record.outcome.value} in {record.duration_s:.2f}s" + (f": {record.error}" if record.error else ""))
    return 0 if record.outcome.value == "succeeded" else 1


def _wait_for_run(client: redis.Redis, tick: Tick, timeout: float) -> RunRecord | None:
    last_id = b"$"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for _, entries in client.xread({contracts.RUNS_STREAM: last_id}, block=200) or []:
            for entry_id, fields in entries:
                last_id = entry_id
                record = RunRecord.model_validate_json(fields[b"data"])
                if record.task == tick.task and record.slot == tick.slot and not record.will_retry:
                    return record
    return None


def cmd_pause(args) -> int:
    pause(_client(), args.task)
    print(f"{args.task.value} paused: scheduled ticks are skipped until `scheduler resume {args.task.value}`")
    return 0


def cmd_resume(args) -> int:
    resume(_client(), args.task)
    print(f"{args.task.value} resumed")
    return 0


def cmd_contracts_export(args) -> int:
    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, schema in contracts.json_schemas().items():
        (out / f"{name}.schema.json").write_text(json.dumps(schema, indent=2) + "\n")
        print(out / f"{name}.schema.json")
    return 0


def cmd_config_check(args) -> int:

    if args.imports:
        # what CI runs in a venv made from requirements.txt alone: a dependency missing from the lock fails here
        print(f"imported {len(import_production_modules())} modules of contracts, scheduler, ticker, actors")
        return 0
    report, ok = check_report()
    print(report)
    return 0 if ok else 1


def cmd_config_example(args) -> int:

    sys.stdout.write(env_example())
    return 0


def cmd_config_app_json(args) -> int:

    sys.stdout.write(app_json_text())
    return 0


def cmd_search(args) -> int:

    try:
        return search(args)
    except ConfigurationError as exc:
        print(f"scheduler search: {exc}", file=sys.stderr)
        return 2
    except (TransientError, PlatformError, EndpointRefused) as exc:
        print(f"scheduler search: {exc}", file=sys.stderr)
        return 1


def cmd_demo(args) -> int:

    return run_demo(seconds=args.seconds)


def _task_name(text: str) -> TaskName:
    try:
        return TaskName(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"unknown task {text!r}; the tasks are: {', '.join(t.value for t in TaskName)}"
        ) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scheduler", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    status = sub.add_parser("status", help="per task: schedule, next due, last run, counters, lock holder")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    task_arg = {"type": _task_name, "metavar": "TASK"}
    trigger = sub.add_parser("trigger", help="run a task now (a manual tick; it respects the lock)")
    trigger.add_argument("task", **task_arg)
    trigger.add_argument(
        "--wait", type=float, default=0, metavar="SECONDS", help="wait this long for the run's outcome"
    )
    trigger.set_defaults(func=cmd_trigger)
    for name, func in (("pause", cmd_pause), ("resume", cmd_resume)):
        p = sub.add_parser(name, help=f"{name} a task's scheduled ticks (takes effect within a second)")
        p.add_argument("task", **task_arg)
        p.set_defaults(func=func)

    contracts_cmd = sub.add_parser("contracts", help="the message contracts")
    contracts_sub = contracts_cmd.add_subparsers(dest="action", required=True)
    export = contracts_sub.add_parser("export", help="write one JSON Schema per message into DIR")
    export.add_argument("dir")
    export.set_defaults(func=cmd_contracts_export)

    config = sub.add_parser("config", help="the configuration: check it, or generate .env.example / app.json")
    config_sub = config.add_subparsers(dest="action", required=True)
    check = config_sub.add_parser(
        "check", help="check the environment as ticker and worker will; per task: configured?"
    )
    check.add_argument(
        "--imports",
        action="store_true",
        help="only import every module of the service (checks an install from the lock)",
    )
    check.set_defaults(func=cmd_config_check)
    config_sub.add_parser("example", help="print .env.example: every variable, its default and meaning").set_defaults(
        func=cmd_config_example
    )
    config_sub.add_parser("app-json", help="print app.json, Heroku's manifest").set_defaults(func=cmd_config_app_json)

    search = sub.add_parser("search", help="the documentation chunks nearest to a question (POST /api/rag/query)")
    search.add_argument("text", nargs="+", help='what to look for, e.g. "which service sends Telegram alerts?"')
    search.add_argument(
        "--k", type=int, default=5, choices=range(1, 101), metavar="N", help="results (1-100, default 5)"
    )
    search.add_argument(
        "--project", metavar="ID|TITLE", help="one project only (its UUID or title); default: every project"
    )
    search.add_argument(
        "--min-similarity",
        type=float,
        default=0.2,
        metavar="S",
        help="cosine similarity a chunk needs (the platform's default is 0.7; ours 0.2)",
    )
    search.add_argument("--json", action="store_true")
    search.set_defaults(func=cmd_search)

    demo = sub.add_parser("demo", help="run ticker and worker on an embedded Redis and the sandbox world")
    demo.add_argument("--seconds", type=float, default=0, help="stop after this long (default: until Ctrl-C)")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (RedisNotConfigured, RedisCertificateRefused) as exc:
        print(f"scheduler: {exc}", file=sys.stderr)
        return 2
    except redis.ConnectionError as exc:
        print(f"scheduler: cannot reach Redis: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
