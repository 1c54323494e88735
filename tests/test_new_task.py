"""Adding a task is its package, its name and default schedule in ``contracts``, and its line in
the registry, nothing else.

In a copy of the production tree, a throwaway task is added exactly that way: a package under
``actors/tasks/`` (its settings class, its spec with its credentials), three lines in
``contracts/names.py`` and one in ``actors/tasks/__init__.py``. Then, in that copy: ``scheduler
config check`` lists it as configured (and not configured without its credential), ``scheduler
config example`` documents its setting, the import contracts hold with ``pyproject.toml``
untouched, and a ticker ticks it and a worker runs it (on the suite's Redis: fakeredis unless
``REDIS_URL`` is set).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support import ROOT

PRODUCTION = ("contracts", "process", "ticker", "actors", "scheduler")

PACKAGE = {
    "__init__.py": '''
        """throwaway: a task added by a test, as a new task is added."""

        from actors.tasks.throwaway.task import SPEC

        __all__ = ["SPEC"]
    ''',
    "settings.py": '''
        """throwaway's own rules."""

        from pydantic import Field, SecretStr
        from pydantic_settings import BaseSettings, SettingsConfigDict


        class ThrowawaySettings(BaseSettings):
            model_config = SettingsConfigDict(env_file=None, extra="ignore")

            throwaway_token: SecretStr | None = Field(default=None, description="throwaway's credential")
            throwaway_greeting: str = Field(default="hello", min_length=1, description="what throwaway writes")
    ''',
    "task.py": '''
        """throwaway: writes its greeting to Redis, once per tick."""

        from actors.runtime.run import TaskRun
        from actors.runtime.spec import TaskSpec
        from actors.tasks.throwaway.settings import ThrowawaySettings
        from contracts import TaskName


        def run_throwaway(run: TaskRun) -> None:
            greeting = run.deps.settings(ThrowawaySettings).throwaway_greeting
            run.client.rpush("test:throwaway", f"{greeting}:{run.tick.slot}:{run.correlation_id}")
            run.count("greeted")


        SPEC = TaskSpec(
            TaskName.THROWAWAY,
            run_throwaway,
            settings=ThrowawaySettings,
            credentials=(frozenset({"THROWAWAY_TOKEN"}),),
        )
    ''',
}

#: the three lines in contracts/names.py: its name, that it has an actor, its default schedule
CONTRACT_EDITS = (
    ('    PROVISIONER_TRIGGER = "provisioner_trigger"\n', '    THROWAWAY = "throwaway"\n'),
    ("        TaskName.RAG_SUMMARIZER,\n    }\n)", "        TaskName.THROWAWAY,\n"),
    ('    TaskName.PROVISIONER_TRIGGER: "startup",\n', '    TaskName.THROWAWAY: "1m",\n'),
)

#: the registry's one line (and the import it needs)
REGISTRY_ANCHOR = "    provisioner_trigger.SPEC,\n"
REGISTRY_LINE = "    throwaway.SPEC,\n"

#: a ticker's loop once, then a worker until the task ran: the processes' own code, in one process
TICK_AND_RUN = """
import json, sys, time

import dramatiq

from actors.__main__ import main as _worker_main  # the worker's composition root imports cleanly
from actors.configuration import absent_credentials, check_task, publish_configuration
from actors.runtime.broker import build_broker
from actors.tasks import TASKS
from actors.tasks.deps import Dependencies
from contracts import RUNS_STREAM, TaskName
from process.connection import redis_from_url
from process.settings import Settings, task_schedules
from ticker.loop import Ticker
from ticker.slots import parse_schedule

task = TaskName.THROWAWAY
settings = Settings(worker_threads=1)
client = redis_from_url(settings.redis_url, settings)
publish_configuration(client, {task: absent_credentials(task)})
Ticker(client, {task: parse_schedule(task_schedules()[task])}, release=None).tick_once()
broker = build_broker(client, [TASKS[task]], settings, Dependencies(settings, client))
dramatiq.set_broker(broker)
broker.emit_after("process_boot")
worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
worker.start()
deadline = time.monotonic() + 20
while not client.xlen(RUNS_STREAM) and time.monotonic() < deadline:
    time.sleep(0.05)
worker.stop(timeout=2_000)
broker.close()
runs = [json.loads(fields[b"data"]) for _, fields in client.xrange(RUNS_STREAM)]
print(json.dumps({
    "problems": [p.variable for p in check_task(task)],
    "written": [v.decode() for v in client.lrange("test:throwaway", 0, -1)],
    "runs": [(r["task"], r["outcome"], r["counters"]) for r in runs],
}))
"""


@pytest.fixture
def tree(tmp_path) -> Path:
    for package in PRODUCTION:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    names = tmp_path / "contracts" / "names.py"
    text = names.read_text()
    for anchor, line in CONTRACT_EDITS:
        assert text.count(anchor) == 1, anchor
        at = text.index(anchor) + (len(anchor) if anchor.endswith("\n") else anchor.index("    }"))
        text = text[:at] + line + text[at:]
    names.write_text(text)
    registry = tmp_path / "actors" / "tasks" / "__init__.py"
    text = registry.read_text()
    assert text.count(REGISTRY_ANCHOR) == 1
    registry.write_text(text.replace(REGISTRY_ANCHOR, REGISTRY_ANCHOR + REGISTRY_LINE))
    package = tmp_path / "actors" / "tasks" / "throwaway"
    package.mkdir()
    for name, body in PACKAGE.items():
        (package / name).write_text(textwrap.dedent(body).lstrip())
    text = registry.read_text()
    anchor = "from actors.tasks import github_sync, health_checker, provisioner_trigger, rag_summarizer, server_sync\n"
    assert text.count(anchor) == 1
    registry.write_text(text.replace(anchor, anchor + "from actors.tasks import throwaway\n"))
    return tmp_path


def run_in(tree: Path, argv: list[str], **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("API_", "GITHUB_", "THROWAWAY_", "SCHEDULE_"))}
    return subprocess.run(
        argv,
        cwd=tree,
        env={**base, "PYTHONPATH": str(tree), "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_task_added_as_its_package_and_its_name_is_configured_ticked_and_run(tree, redis_url):
    python = sys.executable
    config_check = [python, "-m", "scheduler.cli", "config", "check"]
    good = run_in(tree, config_check, REDIS_URL=redis_url, THROWAWAY_TOKEN="t0ken")
    assert "throwaway: configured" in good.stdout, good.stdout + good.stderr
    bad = run_in(tree, config_check, REDIS_URL=redis_url, THROWAWAY_TOKEN="t0ken", THROWAWAY_GREETING="")
    assert "throwaway: not configured" in bad.stdout and "THROWAWAY_GREETING" in bad.stdout, bad.stdout

    example = run_in(tree, [python, "-m", "scheduler.cli", "config", "example"]).stdout
    assert "# needed by: throwaway\n#THROWAWAY_GREETING=hello" in example
    assert "SCHEDULE_THROWAWAY=1m" in example

    lint = run_in(tree, [str(Path(python).with_name("lint-imports")), "--no-cache"])
    assert lint.returncode == 0 and "Tasks never import each other KEPT" in lint.stdout, lint.stdout

    without = run_in(
        tree, [python, "-c", "from actors.configuration import absent_credentials as a; print(a('throwaway'))"]
    )
    assert without.stdout.strip() == "['THROWAWAY_TOKEN']", without.stdout + without.stderr

    ran = run_in(
        tree, [python, "-c", TICK_AND_RUN], REDIS_URL=redis_url, THROWAWAY_TOKEN="t0ken", THROWAWAY_GREETING="hi"
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    found = json.loads(ran.stdout.strip().splitlines()[-1])
    assert found["problems"] == []
    assert [(task, outcome) for task, outcome, _ in found["runs"]] == [("throwaway", "succeeded")]
    assert found["runs"][0][2] == {"greeted": 1}
    assert len(found["written"]) == 1 and found["written"][0].startswith("hi:")
