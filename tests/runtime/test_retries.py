"""Retry limits are looked up as Dramatiq does: the message's option, then the actor's, then
the worker's RETRY_MAX (``settings.retry_max`` is 3 in the tests)."""

from __future__ import annotations

from actors.runtime.retry import is_transient
from actors.runtime.spec import PartSpec, TaskSpec, part_actor_name, part_queue_name
from contracts import RunOutcome, TaskName
from contracts.names import DRAMATIQ_NAMESPACE
from process.errors import TransientError
from tests.support import make_tick, running_worker, runs, send, wait_until

TASK = TaskName.HEALTH_CHECKER
#: Dramatiq's dead-letter set of the task's part queue: a message lands here once it failed for good
PARTS_DEAD_LETTERS = f"{DRAMATIQ_NAMESPACE}:{part_queue_name(TASK)}.XQ"


def always_transient(attempts: list):
    def part(payload, deps):
        attempts.append(payload["server"])
        raise TransientError("the server did not answer")

    return part


def fan_out_one(run):
    run.fan_out("check", [{"server": "vps-1"}])


def test_a_part_with_max_retries_1_is_attempted_exactly_twice(client, settings):
    attempts = []
    spec = TaskSpec(TASK, fan_out_one, parts=(PartSpec("check", always_transient(attempts), max_retries=1),))
    with running_worker(client, [spec], settings):
        send(client, make_tick(slot=100))
        wait_until(lambda: client.zcard(PARTS_DEAD_LETTERS) == 1)
    assert attempts == ["vps-1", "vps-1"], "the first attempt and one retry; not RETRY_MAX's three"


def test_a_task_actor_honours_its_own_limit(client, settings):
    attempts = []

    def failing(run):
        attempts.append(run.attempt)
        raise TransientError("platform API answered 503")

    with running_worker(client, [TaskSpec(TASK, failing, max_retries=1)], settings):
        send(client, make_tick(slot=200))
        wait_until(lambda: any(not r.will_retry for r in runs(client)))
    assert attempts == [0, 1]
    assert [(r.outcome, r.will_retry) for r in runs(client)] == [(RunOutcome.FAILED, True), (RunOutcome.FAILED, False)]


def test_without_a_limit_of_its_own_an_actor_gets_the_workers_default(client, settings):
    attempts = []
    spec = TaskSpec(TASK, lambda run: None, parts=(PartSpec("check", always_transient(attempts)),))
    with running_worker(client, [spec], settings) as broker:
        broker.get_actor(part_actor_name(TASK, "check")).send({"server": "vps-3"})
        wait_until(lambda: client.zcard(PARTS_DEAD_LETTERS) == 1)
    assert len(attempts) == 1 + settings.retry_max


def test_a_message_option_overrides_the_actors_limit(client, settings):
    attempts = []
    spec = TaskSpec(TASK, lambda run: None, parts=(PartSpec("check", always_transient(attempts), max_retries=0),))
    with running_worker(client, [spec], settings) as broker:
        broker.get_actor(part_actor_name(TASK, "check")).send_with_options(args=({"server": "vps-2"},), max_retries=2)
        wait_until(lambda: client.zcard(PARTS_DEAD_LETTERS) == 1)
    assert attempts == ["vps-2"] * 3


def test_only_transient_errors_are_worth_a_retry():
    assert is_transient(TransientError("503")) and is_transient(ConnectionResetError())
    assert not is_transient(ValueError("not a number")) and not is_transient(KeyError("id"))
