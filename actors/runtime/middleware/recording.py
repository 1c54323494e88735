"""RunRecording: every delivered tick leaves a run record and updates its task's state."""

from __future__ import annotations

from datetime import UTC, datetime

import redis
import structlog
from dramatiq import Middleware
from dramatiq.middleware import Shutdown

from actors.runtime.middleware.admission import run_of
from contracts import RECORDS_FAILED, RUNS_STREAM, Keys, RunOutcome, RunRecord
from contracts.names import RUNS_STREAM_MAXLEN
from process.logs import get_logger

log = get_logger("actors.runs")

#: how long a finished slot is remembered (longer than any redelivery delay)
SLOT_DONE_TTL_S = 7 * 24 * 3600


#: outcomes of a run that finished: its slot is done, its record is the task's last run
FINISHED = (RunOutcome.SUCCEEDED, RunOutcome.PARTIAL)


#: outcomes of a run that ran the task's code (not skipped nor expired): their durations are counted
RAN = (*FINISHED, RunOutcome.FAILED, RunOutcome.ABANDONED)
#: upper bounds (seconds) of the run-duration histogram kept in each task's state hash
DURATION_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


def duration_bucket(seconds: float) -> str:
    """The state-hash bucket of a run this long: the smallest bound it fits under, else ``+Inf``
    (one counter per run; /metrics adds them up into Prometheus's cumulative buckets)."""
    return next((f"{bound:g}" for bound in DURATION_BUCKETS if seconds <= bound), "+Inf")


def outcome_of(exception: BaseException | None, counters: dict[str, int] | None = None) -> RunOutcome:
    if exception is None:
        return RunOutcome.PARTIAL if (counters or {}).get(RECORDS_FAILED) else RunOutcome.SUCCEEDED
    if isinstance(exception, Shutdown):
        return RunOutcome.ABANDONED
    return RunOutcome.FAILED


def record_run(client: redis.Redis, record: RunRecord, *, slot_done: bool) -> None:
    """Append the record to ``scheduler:runs`` and fold it into the task's state hash."""
    state = Keys.state(record.task)
    pipe = client.pipeline(transaction=True)
    pipe.xadd(RUNS_STREAM, {"data": record.model_dump_json()}, maxlen=RUNS_STREAM_MAXLEN, approximate=True)
    pipe.hincrby(state, record.outcome.value, 1)
    if record.outcome in RAN:  # the histogram /metrics serves: one bucket per run, and the sum
        pipe.hincrby(state, f"duration_bucket:{duration_bucket(record.duration_s)}", 1)
        pipe.hincrbyfloat(state, "duration_s_total", round(record.duration_s, 6))
    if record.outcome in (*FINISHED, RunOutcome.FAILED, RunOutcome.ABANDONED):
        pipe.hset(state, "last_run", record.model_dump_json())
    if record.outcome in FINISHED:  # a partial run ran: the records that failed are counted in it
        pipe.hset(state, "consecutive_failures", 0)
        # when it last worked: the dashboard's staleness alert and /metrics read it
        pipe.hset(state, "last_success_at", f"{record.finished_at.timestamp():.3f}")
    elif record.outcome is RunOutcome.FAILED:
        pipe.hincrby(state, "consecutive_failures", 1)
    if slot_done:
        pipe.set(Keys.slot_done(record.task, record.slot), record.outcome.value, ex=SLOT_DONE_TTL_S)
    pipe.execute()


class RunRecording(Middleware):
    """Writes a ``RunRecord`` for each delivery: succeeded, partial (finished with
    ``counters["records_failed"]`` records failed), failed, abandoned or skipped.

    A slot is marked done once its run succeeded or failed for good (no retry left), so a
    redelivered tick never runs it again. Place it before Retries on the broker so that
    Retries' verdict (``message.failed``) is known when the record is written.

    Parameters:
      client(redis.Redis): where the runs stream and task state live.
    """

    def __init__(self, client: redis.Redis):
        self.client = client

    def after_process_message(self, broker, message, *, result=None, exception=None):
        run = run_of(message)
        if run is None:
            return
        run.outcome = outcome_of(exception, run.counters)
        will_retry = exception is not None and not message.failed
        error = None if exception is None else f"{type(exception).__name__}: {exception}"[:2000]
        self._write(
            run,
            error=error,
            will_retry=will_retry,
            slot_done=run.outcome in FINISHED or (run.outcome is RunOutcome.FAILED and not will_retry),
        )

    def after_skip_message(self, broker, message):
        run = run_of(message)
        if run is None or run.outcome is None:
            return
        self._write(run, error=None, will_retry=False, slot_done=False)

    def _write(self, run, *, error: str | None, will_retry: bool, slot_done: bool) -> None:
        if run.recorded:  # Dramatiq calls after-hooks again if one of them raised
            return
        run.recorded = True
        record = RunRecord(
            task=run.tick.task,
            slot=run.tick.slot,
            reason=run.tick.reason,
            outcome=run.outcome,
            started_at=run.started_at,
            finished_at=datetime.now(UTC),
            attempt=run.attempt,
            counters=dict(run.counters),
            error=error,
            will_retry=will_retry,
            worker=run.lock.owner if run.lock else "",
            fence=run.lock.fence if run.lock else None,
        )
        level = {RunOutcome.FAILED: "error", RunOutcome.PARTIAL: "warning"}.get(run.outcome, "info")
        getattr(log, level)(
            "run " + run.outcome.value,
            duration_s=round(record.duration_s, 3),
            attempt=run.attempt,
            will_retry=will_retry,
            counters=record.counters,
            error=error,
        )
        try:
            record_run(self.client, record, slot_done=slot_done)
        except redis.RedisError as exc:
            log.error("run record lost: redis unavailable", error=str(exc))
        finally:
            structlog.contextvars.unbind_contextvars("task", "slot", "correlation_id")
