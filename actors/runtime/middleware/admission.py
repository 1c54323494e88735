"""TickAdmission: decide whether a delivered tick may run at all."""

from __future__ import annotations

from datetime import UTC, datetime

import redis
import structlog
from dramatiq import Middleware
from dramatiq.middleware import MiddlewareError, SkipMessage
from pydantic import ValidationError

from actors.runtime.run import TaskRun
from contracts import Keys, RunOutcome, Tick, TickReason
from process.logs import get_logger

log = get_logger("actors.admission")

#: the attribute of Dramatiq's per-delivery MessageProxy that carries our TaskRun
RUN_ATTR = "scheduler_run"


class AdmissionUnavailable(MiddlewareError):
    """Redis could not be asked; the message fails and is retried (a MiddlewareError, so
    Dramatiq does not run the actor anyway, as it would for other before-hook errors)."""


def run_of(message) -> TaskRun | None:
    return getattr(message, RUN_ATTR, None)


def is_task_message(broker, message) -> bool:
    """Task actors carry ticks; fan-out parts are plain actors the tick middleware leaves alone."""
    return bool(broker.get_actor(message.actor_name).options.get("scheduler_task"))


class TickAdmission(Middleware):
    """Turns a delivered message into a ``TaskRun`` and skips it when it must not run.

    A tick is skipped, with the reason recorded, when it is past its deadline
    (``expired``: Dramatiq may redeliver a lost message minutes late), when its slot has
    already run (``skipped_done``), or when its task is paused (``skipped_paused``; manual
    ticks still run). A message that is not a valid Tick is logged and dropped.

    Parameters:
      client(redis.Redis): where slot-done marks and the paused set live.
      deps: the worker process's dependencies object, handed to each run bound to its
        correlation id (``deps.for_run``) as ``run.deps``.
    """

    def __init__(self, client: redis.Redis, deps=None):
        self.client = client
        self.deps = deps

    @property
    def actor_options(self):
        return {"scheduler_task"}

    def before_process_message(self, broker, message):
        if not is_task_message(broker, message):
            return
        try:
            tick = Tick.model_validate(message.args[0])
        except (IndexError, ValidationError) as exc:
            log.error("invalid tick dropped", actor=message.actor_name, message_id=message.message_id, error=str(exc))
            raise SkipMessage("invalid tick") from None

        correlation_id = message.message_id
        run = TaskRun(
            tick=tick,
            client=self.client,
            correlation_id=correlation_id,
            attempt=message.options.get("retries", 0),
            broker=broker,
            deps=None if self.deps is None else self.deps.for_run(correlation_id),
        )
        # The run travels on the message: the actor's body finds it there (``run_of``).
        setattr(message, RUN_ATTR, run)
        # for the log lines only; nothing reads these back
        structlog.contextvars.bind_contextvars(task=tick.task.value, slot=tick.slot, correlation_id=run.correlation_id)

        if datetime.now(UTC) > tick.deadline:
            self._skip(run, RunOutcome.EXPIRED)
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.exists(Keys.slot_done(tick.task, tick.slot))
            pipe.sismember(Keys.PAUSED, tick.task.value)
            done, paused = pipe.execute()
        except redis.RedisError as exc:
            raise AdmissionUnavailable(f"redis unavailable: {exc}") from exc
        if done:
            self._skip(run, RunOutcome.SKIPPED_DONE)
        if paused and tick.reason is not TickReason.MANUAL:
            self._skip(run, RunOutcome.SKIPPED_PAUSED)

    @staticmethod
    def _skip(run: TaskRun, outcome: RunOutcome) -> None:
        run.outcome = outcome
        raise SkipMessage(outcome.value)
