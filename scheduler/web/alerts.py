"""Alerts: conditions read from a snapshot, each sent once when it starts and once when it ends.

Why the state lives in Redis: two web replicas evaluate the same conditions; the transition
(firing -> resolved and back) is claimed by one Lua script that changes the ``FIRING`` hash and
queues the notification together, so exactly one replica queues it, and a restart neither
repeats nor forgets an alert. Delivery is a separate thread popping the outbox (``LPOP`` gives
each notification to one replica) and POSTing it to ``ALERT_WEBHOOK_URL`` with retries and
backoff; it runs in the web process, so it never blocks a task, and the URL (a secret: Slack's
carries its token) is never logged.

The conditions (``deploy/prometheus/alerts.yml`` states the same over ``/metrics``):
- ``task_failing:<task>``: ``ALERT_FAILURES_IN_A_ROW`` failed runs in a row;
- ``task_stale:<task>``: no successful run for ``ALERT_STALE_INTERVALS`` times its period (from
  the last success, or from when the evaluator first saw the task scheduled);
- ``unserved:<task>``: a scheduled task without a live ticker or worker (heartbeats);
- ``health_slots_incomplete``: two finished health slots in a row checked fewer servers than planned;
- ``provider_outage``: server_sync's last run failed counting ``provider_unavailable`` (the
  shared run counters, ``contracts.counters``): it found the provider API out.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

import httpx
import redis

from contracts import TaskName
from process.logs import get_logger, register_secrets
from scheduler.web.settings import WebSettings
from scheduler.web.snapshot import Snapshot, incomplete_slots_in_a_row, provider_outage, read_snapshot, unserved
from ticker.slots import Cron, Interval, ScheduleError, parse_schedule

log = get_logger(__name__)

#: hash alert key -> JSON {"summary", "since"} of every firing alert
FIRING = "scheduler:alerts:firing"
#: list of notifications waiting for delivery ("<header JSON>\n<alert JSON>")
OUTBOX = "scheduler:alerts:outbox"
#: hash task -> epoch seconds the evaluator first saw it scheduled (staleness before any success)
FIRST_SEEN = "scheduler:alerts:first_seen"
#: hash alert key -> epoch seconds its condition was first seen true (for conditions that must hold a while)
PENDING = "scheduler:alerts:pending"
#: backoff of the webhook: 1 s, doubled per attempt, at most this
MAX_BACKOFF_S = 30.0

#: one transition, claimed atomically: fire (HSETNX) or resolve (HDEL) and queue its notification
_TRANSITION = """
local stored
if ARGV[1] == 'fire' then
  if redis.call('HSETNX', KEYS[1], ARGV[2], ARGV[3]) == 0 then return 0 end
  stored = ARGV[3]
else
  stored = redis.call('HGET', KEYS[1], ARGV[2])
  if not stored then return 0 end
  redis.call('HDEL', KEYS[1], ARGV[2])
end
if ARGV[5] == '1' then redis.call('RPUSH', KEYS[2], ARGV[4] .. '\\n' .. stored) end
return 1
"""


def period_s(schedule_text: str, now: float | None = None) -> float | None:
    """A schedule's period in seconds (an interval, or a cron expression's current step); None
    for ``startup``, ``off`` or an invalid text."""
    try:
        schedule = parse_schedule(schedule_text)
    except ScheduleError:
        return None
    if isinstance(schedule, Interval):
        return float(schedule.seconds)
    if isinstance(schedule, Cron):
        slot = schedule.floor(time.time() if now is None else now)
        return float(schedule.next_after(slot) - slot)
    return None


@dataclass(frozen=True)
class Thresholds:
    failures_in_a_row: int = 3
    stale_intervals: float = 3.0

    @classmethod
    def of(cls, settings: WebSettings) -> Thresholds:
        return cls(settings.alert_failures_in_a_row, settings.alert_stale_intervals)


def conditions(s: Snapshot, thresholds: Thresholds, first_seen: dict[TaskName, float]) -> dict[str, str]:
    """Every alert that should be firing now: key -> one line saying what and since when."""
    firing: dict[str, str] = {}
    for status in s.scheduled():
        task = status.task
        if status.consecutive_failures >= thresholds.failures_in_a_row:
            error = f": {status.last_run.error}" if status.last_run and status.last_run.error else ""
            firing[f"task_failing:{task.value}"] = (
                f"{task.value} failed {status.consecutive_failures} runs in a row{error}"[:500]
            )
        period = period_s(status.schedule, s.now)
        if period is None or status.paused:
            continue
        last = s.figures[task].last_success_at
        since = last if last is not None else first_seen.get(task)
        if since is not None and s.now - since > thresholds.stale_intervals * period:
            what = "no successful run" if last is None else "no successful run since its last one"
            firing[f"task_stale:{task.value}"] = (
                f"{task.value}: {what} for {int(s.now - since)} s "
                f"(more than {thresholds.stale_intervals:g} x {period:g} s)"
            )
    for task, roles in unserved(s).items():
        firing[f"unserved:{task.value}"] = f"{task.value} is scheduled but has no live {' and no live '.join(roles)}"
    in_a_row = incomplete_slots_in_a_row(s)
    if in_a_row >= 2:
        latest = s.fleet.coverage[1]
        firing["health_slots_incomplete"] = (
            f"health_checker: {in_a_row} slots in a row checked fewer servers than planned "
            f"(slot {latest.slot}: {latest.checked} of {latest.planned}, cut {latest.cut}, "
            f"never checked {latest.never_checked})"
        )
    outage = provider_outage(s)
    if outage is not None:
        firing["provider_outage"] = f"server_sync: provider outage ({outage})"[:500]
    return firing


class AlertState:
    """The firing alerts in Redis and their transitions (claimed by exactly one evaluator)."""

    def __init__(self, client: redis.Redis, *, deliver: bool):
        self.client = client
        self.deliver = deliver
        self._transition = client.register_script(_TRANSITION)

    def firing(self) -> dict[str, dict]:
        return {k.decode(): json.loads(v) for k, v in self.client.hgetall(FIRING).items()}

    def first_seen(self, s: Snapshot) -> dict[TaskName, float]:
        """When each scheduled task was first seen scheduled (recorded now if never)."""
        pipe = self.client.pipeline(transaction=False)
        for status in s.scheduled():
            pipe.hsetnx(FIRST_SEEN, status.task.value, f"{s.now:.3f}")
        pipe.hgetall(FIRST_SEEN)
        seen = pipe.execute()[-1]
        return {TaskName(k.decode()): float(v) for k, v in seen.items() if k.decode() in TaskName.__members__.values()}

    def _claim(self, mode: str, key: str, value: str, now: float) -> bool:
        header = json.dumps({"alert": key, "state": "firing" if mode == "fire" else "resolved", "at": now})
        return bool(self._transition(keys=[FIRING, OUTBOX], args=[mode, key, value, header, int(self.deliver)]))

    def apply(self, wanted: dict[str, str], now: float) -> list[tuple[str, str]]:
        """Fire what is wanted and not firing, resolve what fires and is no longer wanted; the
        transitions this call won, as (key, "firing" | "resolved")."""
        current = self.firing()
        won = []
        for key, summary in wanted.items():
            if key not in current and self._claim("fire", key, json.dumps({"summary": summary, "since": now}), now):
                won.append((key, "firing"))
                log.warning("alert firing", alert=key, summary=summary)
        for key in current.keys() - wanted.keys():
            if self._claim("resolve", key, "", now):
                won.append((key, "resolved"))
                log.info("alert resolved", alert=key)
        return won


def notification_text(entry: bytes) -> tuple[dict, str]:
    """The webhook body of one outbox entry: Slack's ``text`` and the alert's key and state."""
    header_raw, _, stored = entry.decode().partition("\n")
    header = json.loads(header_raw)
    summary = json.loads(stored).get("summary", header["alert"])
    if header["state"] == "firing":
        text = f":rotating_light: FIRING {header['alert']}: {summary}"
    else:
        text = f":white_check_mark: RESOLVED {header['alert']}: {summary}"
    return {"text": text, "alert": header["alert"], "state": header["state"]}, text


class WebhookSender:
    """Delivers the outbox to ``ALERT_WEBHOOK_URL``: each notification once (LPOP), retried with
    doubling backoff up to ``ALERT_MAX_ATTEMPTS`` attempts; a 2xx answer counts as delivered."""

    def __init__(self, client: redis.Redis, settings: WebSettings, *, sleep=time.sleep):
        self.client = client
        self.url = settings.alert_webhook_url
        register_secrets([self.url])  # httpx logs the URLs it requests: this one is scrubbed
        self.timeout = settings.alert_timeout_s
        self.max_attempts = settings.alert_max_attempts
        self.sleep = sleep

    def deliver_one(self, block_s: float = 1.0) -> bool | None:
        """Pop and deliver one notification; None if the outbox stayed empty for ``block_s``."""
        popped = self.client.blpop([OUTBOX], timeout=block_s)
        if popped is None:
            return None
        body, _ = notification_text(popped[1])
        return self.post(body)

    def post(self, body: dict) -> bool:
        assert self.url is not None
        with httpx.Client(timeout=self.timeout, follow_redirects=False) as http:
            for attempt in range(1, self.max_attempts + 1):
                problem = None
                try:
                    answer = http.post(self.url.get_secret_value(), json=body)
                    if answer.is_success:
                        log.info("alert delivered", alert=body["alert"], state=body["state"], attempt=attempt)
                        return True
                    problem = f"HTTP {answer.status_code}"
                except httpx.HTTPError as exc:  # the exception text may hold the URL: only its type
                    problem = type(exc).__name__
                if attempt < self.max_attempts:
                    self.sleep(min(MAX_BACKOFF_S, 2.0 ** (attempt - 1)))
        log.error(
            "alert not delivered", alert=body["alert"], state=body["state"], attempts=self.max_attempts, problem=problem
        )
        return False


class AlertLoop:
    """The web process's evaluator and sender threads."""

    def __init__(self, client: redis.Redis, settings: WebSettings):
        self.client = client
        self.settings = settings
        self.state = AlertState(client, deliver=settings.alert_webhook_url is not None)
        self.thresholds = Thresholds.of(settings)
        self.sender = WebhookSender(client, settings) if settings.alert_webhook_url is not None else None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def evaluate(self) -> list[tuple[str, str]]:
        snapshot = read_snapshot(self.client)
        wanted = conditions(snapshot, self.thresholds, self.state.first_seen(snapshot))
        wanted = self.held(wanted, snapshot.now)
        return self.state.apply(wanted, snapshot.now)

    def held(self, wanted: dict[str, str], now: float) -> dict[str, str]:
        """``unserved:`` alerts fire only once true for ``ALERT_UNSERVED_FOR_S``: processes
        starting one after another (a web process up before its workers, a deploy restarting
        dynos) are not an outage. The first sighting is kept in Redis, shared by replicas."""
        hold = self.settings.alert_unserved_for_s
        pipe = self.client.pipeline(transaction=False)
        for key in wanted:
            if key.startswith("unserved:"):
                pipe.hsetnx(PENDING, key, f"{now:.3f}")
        pipe.hgetall(PENDING)
        pending = {k.decode(): float(v) for k, v in pipe.execute()[-1].items()}
        cleared = [key for key in pending if key not in wanted]
        if cleared:
            self.client.hdel(PENDING, *cleared)
        return {
            key: summary
            for key, summary in wanted.items()
            if not key.startswith("unserved:") or now - pending.get(key, now) >= hold - 0.001
        }  # stored to ms

    def _evaluate_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self.evaluate()
            except redis.RedisError as exc:  # no verdict without a reading: nothing fires or resolves
                log.warning("alerts not evaluated: redis unavailable", error=type(exc).__name__)
            self._stop.wait(self.settings.alert_interval_s)

    def _send_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self.sender.deliver_one()
            except redis.RedisError as exc:
                log.warning("alerts not delivered: redis unavailable", error=type(exc).__name__)
                self._stop.wait(1.0)

    def start(self) -> None:
        targets = [self._evaluate_forever] + ([self._send_forever] if self.sender else [])
        for target in targets:
            thread = threading.Thread(target=target, name=f"web-{target.__name__.strip('_')}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
