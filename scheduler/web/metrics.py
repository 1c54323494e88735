"""``/metrics``: a prometheus-client ``Collector`` that reads Redis at scrape time.

Why a collector and not counters in this process: the numbers are made by tickers and workers
(dynos nobody can scrape) and kept in Redis; a scrape of any web replica reads them there, so
replicas agree and a restart loses nothing. Nothing here writes exposition text by hand: the
families are the library's, and so is the encoder.
"""

from __future__ import annotations

from collections.abc import Iterator

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from actors.runtime.middleware.recording import DURATION_BUCKETS
from contracts import ROLES
from contracts.counters import SHARED_COUNTERS
from process.logs import get_logger
from scheduler.web.alerts import period_s
from scheduler.web.snapshot import Snapshot, incomplete_slots_in_a_row, provider_outage, read_snapshot, serves

log = get_logger(__name__)

_INF = "+Inf"


def _histogram_buckets(buckets: dict[str, int]) -> list[tuple[str, float]]:
    """The workers' per-bucket counts (``actors.runtime.middleware.recording``: one counter per
    run, keyed by its bound) as Prometheus's cumulative ``le`` buckets, every bound present."""
    running, out = 0, []
    for bound in DURATION_BUCKETS:
        running += buckets.get(f"{bound:g}", 0)
        out.append((str(float(bound)), running))
    out.append((_INF, running + buckets.get(_INF, 0)))
    return out


def families(s: Snapshot) -> Iterator[Metric]:
    """Every metric family of one snapshot."""
    runs = CounterMetricFamily("scheduler_runs", "Run records by task and outcome", labels=["task", "outcome"])
    duration = HistogramMetricFamily(
        "scheduler_run_duration_seconds",
        "How long runs that ran took (succeeded, partial, failed, abandoned)",
        labels=["task"],
    )
    last_success = GaugeMetricFamily(
        "scheduler_last_success_timestamp_seconds",
        "When the task's last successful (or partial) run finished",
        labels=["task"],
    )
    emitted = CounterMetricFamily("scheduler_ticks_emitted", "Ticks the tickers (or the CLI) emitted", labels=["task"])
    missed = CounterMetricFamily("scheduler_ticks_missed", "Slots missed, folded into catch-up ticks", labels=["task"])
    expired = CounterMetricFamily("scheduler_ticks_expired", "Ticks dropped past their deadline", labels=["task"])
    failures = GaugeMetricFamily("scheduler_consecutive_failures", "Failed runs in a row", labels=["task"])
    scheduled = GaugeMetricFamily(
        "scheduler_task_scheduled", "1 if the tickers emit ticks for the task", labels=["task"]
    )
    interval = GaugeMetricFamily(
        "scheduler_task_interval_seconds", "The scheduled task's period (interval or cron step)", labels=["task"]
    )
    paused = GaugeMetricFamily("scheduler_task_paused", "1 if the task is paused", labels=["task"])
    lock = GaugeMetricFamily("scheduler_lock_held", "1 if some worker holds the task's lock", labels=["task"])
    served = GaugeMetricFamily(
        "scheduler_task_live_processes", "Live processes of a role serving a scheduled task", labels=["task", "role"]
    )
    items = GaugeMetricFamily(
        "scheduler_last_run_items",
        "What the task's last run counted, for the counters every task shares (contracts.counters)",
        labels=["task", "counter"],
    )
    for status in s.tasks:
        task = status.task.value
        f = s.figures[status.task]
        for outcome, count in f.outcomes.items():
            runs.add_metric([task, outcome], count)
        duration.add_metric([task], _histogram_buckets(f.duration_buckets), f.duration_sum)
        if f.last_success_at is not None:
            last_success.add_metric([task], f.last_success_at)
        emitted.add_metric([task], f.emitted)
        missed.add_metric([task], status.missed)
        expired.add_metric([task], status.expired)
        failures.add_metric([task], status.consecutive_failures)
        is_scheduled = status in s.scheduled()
        scheduled.add_metric([task], int(is_scheduled))
        period = period_s(status.schedule)
        if period is not None:
            interval.add_metric([task], period)
        paused.add_metric([task], int(status.paused))
        lock.add_metric([task], int(status.lock_holder is not None))
        if status.last_run is not None:
            for name in SHARED_COUNTERS:
                items.add_metric([task, name], status.last_run.counters.get(name, 0))
        if is_scheduled:
            for role in ("ticker", "worker"):
                served.add_metric(
                    [task, role], sum(1 for p in s.processes if p.role == role and serves(p, status.task))
                )
    yield from (
        runs,
        duration,
        last_success,
        emitted,
        missed,
        expired,
        failures,
        scheduled,
        interval,
        paused,
        lock,
        served,
        items,
    )

    live = GaugeMetricFamily("scheduler_live_processes", "Live processes by role (heartbeats)", labels=["role"])
    for role in ROLES:
        live.add_metric([role], sum(1 for p in s.processes if p.role == role))
    yield live

    queues = GaugeMetricFamily(
        "scheduler_queue_messages",
        "Messages in a Dramatiq queue: ready, delayed (retries) or dead-lettered",
        labels=["queue", "task", "state"],
    )
    for q in s.queues:
        for state in ("ready", "delayed", "dead"):
            queues.add_metric([q.queue, q.task, state], getattr(q, state))
    yield queues

    fleet = GaugeMetricFamily(
        "scheduler_fleet_servers", "Servers by health in the latest finished health slot", labels=["health"]
    )
    for health, count in s.fleet.counts.items():
        fleet.add_metric([health], count)
    yield fleet
    coverage = GaugeMetricFamily(
        "scheduler_health_slot_servers", "The newest health slot's coverage (it may still be running)", labels=["kind"]
    )
    if s.fleet.coverage:
        newest = s.fleet.coverage[0]
        for kind in ("planned", "checked", "cut", "claimed_elsewhere", "never_checked"):
            coverage.add_metric([kind], getattr(newest, kind))
    yield coverage
    yield GaugeMetricFamily(
        "scheduler_health_incomplete_slots_in_a_row",
        "Finished health slots in a row that checked fewer servers than planned",
        value=incomplete_slots_in_a_row(s),
    )
    yield GaugeMetricFamily(
        "scheduler_provider_outage",
        "1 while server_sync finds the provider API out",
        value=int(provider_outage(s) is not None),
    )

    rate = GaugeMetricFamily(
        "scheduler_github_rate_limit_remaining",
        "GitHub rate-limit points left, as last seen by github_sync",
        labels=["org"],
    )
    for org, budget in s.github_rate.items():
        if "remaining" in budget:
            rate.add_metric([org], budget["remaining"])
    yield rate

    yield GaugeMetricFamily(
        "scheduler_provisioner_stream_length", "Entries in provisioner:queue", value=s.provisioner_length
    )
    lag = GaugeMetricFamily(
        "scheduler_provisioner_group_lag",
        "provisioner:queue entries not yet delivered to a consumer group",
        labels=["group"],
    )
    pending = GaugeMetricFamily(
        "scheduler_provisioner_group_pending",
        "provisioner:queue entries delivered to a group but not acknowledged",
        labels=["group"],
    )
    for group in s.provisioner_groups:
        if group.lag is not None:
            lag.add_metric([group.name], group.lag)
        pending.add_metric([group.name], group.pending)
    yield lag
    yield pending


class SchedulerCollector(Collector):
    """Reads one snapshot per scrape. If Redis does not answer, the scrape still succeeds with
    ``scheduler_redis_up 0`` (and nothing else), so the alert is about Redis, not a failed scrape."""

    def __init__(self, client: redis.Redis):
        self.client = client

    def collect(self) -> Iterator[Metric]:
        try:
            snapshot = read_snapshot(self.client)
        except redis.RedisError as exc:
            log.warning("web.metrics_redis_unavailable", error=type(exc).__name__)
            yield GaugeMetricFamily("scheduler_redis_up", "1 if Redis answered this scrape", value=0)
            return
        yield GaugeMetricFamily("scheduler_redis_up", "1 if Redis answered this scrape", value=1)
        yield from families(snapshot)

    def describe(self) -> Iterator[Metric]:
        return iter(())  # read at scrape time only: registering must not touch Redis


def registry(client: redis.Redis) -> CollectorRegistry:
    """A registry holding only the scheduler's collector (no process metrics of this web process)."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(SchedulerCollector(client))
    return reg


#: the metric families (and their labels) the collector serves; tests and the alert rules check them
METRIC_LABELS: dict[str, tuple[str, ...]] = {
    "scheduler_redis_up": (),
    "scheduler_runs": ("task", "outcome"),
    "scheduler_run_duration_seconds": ("task",),
    "scheduler_last_success_timestamp_seconds": ("task",),
    "scheduler_ticks_emitted": ("task",),
    "scheduler_ticks_missed": ("task",),
    "scheduler_ticks_expired": ("task",),
    "scheduler_consecutive_failures": ("task",),
    "scheduler_task_scheduled": ("task",),
    "scheduler_task_interval_seconds": ("task",),
    "scheduler_task_paused": ("task",),
    "scheduler_lock_held": ("task",),
    "scheduler_task_live_processes": ("task", "role"),
    "scheduler_last_run_items": ("task", "counter"),
    "scheduler_live_processes": ("role",),
    "scheduler_queue_messages": ("queue", "task", "state"),
    "scheduler_fleet_servers": ("health",),
    "scheduler_health_slot_servers": ("kind",),
    "scheduler_health_incomplete_slots_in_a_row": (),
    "scheduler_provider_outage": (),
    "scheduler_github_rate_limit_remaining": ("org",),
    "scheduler_provisioner_stream_length": (),
    "scheduler_provisioner_group_lag": ("group",),
    "scheduler_provisioner_group_pending": ("group",),
}

__all__ = ["METRIC_LABELS", "SchedulerCollector", "families", "registry"]
