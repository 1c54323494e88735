"""`python -m ticker` ticks only the tasks a worker can run (contracts.IMPLEMENTED_TASKS)."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from contracts import IMPLEMENTED_TASKS, TaskName
from process.logs import get_logger
from process.settings import task_schedules
from tests.support import ticks
from ticker.__main__ import schedules_in_force
from ticker.loop import Ticker
from ticker.slots import Interval, Off, ScheduleError

EVERY_SECOND = {f"SCHEDULE_{t.value.upper()}": "1s" for t in TaskName}


def in_force(env: dict[str, str], implemented=IMPLEMENTED_TASKS):
    with capture_logs() as logs:
        schedules = schedules_in_force(task_schedules(env), implemented, get_logger("ticker"))
    return schedules, logs


#: as in a release whose registry lacks a task (this one implements all five)
WITHOUT_ONE = IMPLEMENTED_TASKS - {TaskName.RAG_SUMMARIZER}


def test_a_task_without_an_actor_is_off_and_said_so_once():
    schedules, logs = in_force(EVERY_SECOND, implemented=WITHOUT_ONE)
    assert {t for t, s in schedules.items() if s == Interval(1)} == WITHOUT_ONE
    assert {t for t, s in schedules.items() if isinstance(s, Off)} == {TaskName.RAG_SUMMARIZER}
    [said] = [e for e in logs if e["event"].startswith("tasks not implemented")]
    assert said["tasks"] == ["rag_summarizer"]


def test_when_every_task_is_implemented_nothing_is_switched_off_or_logged():
    schedules, logs = in_force(EVERY_SECOND, implemented=set(TaskName))
    assert set(schedules.values()) == {Interval(1)} and logs == []


def test_a_bad_schedule_is_refused_even_for_a_task_without_an_actor():
    with pytest.raises(ScheduleError):
        in_force({**EVERY_SECOND, "SCHEDULE_SERVER_SYNC": "every now and then"})


def test_no_tick_piles_up_in_a_queue_that_no_worker_reads(client):
    schedules, _ = in_force(EVERY_SECOND, implemented=WITHOUT_ONE)
    Ticker(client, schedules, release="r1").tick_once()
    assert {tick.task for _, tick in ticks(client)} == WITHOUT_ONE
    assert client.llen("dramatiq:scheduler.rag_summarizer") == 0
