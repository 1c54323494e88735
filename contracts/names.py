"""Names shared by every process: tasks, default schedules, queues, streams and Redis keys.

Pure data. A service in another language reads the same keys by these names.
"""

from __future__ import annotations

from enum import StrEnum


class TaskName(StrEnum):
    GITHUB_SYNC = "github_sync"
    SERVER_SYNC = "server_sync"
    HEALTH_CHECKER = "health_checker"
    RAG_SUMMARIZER = "rag_summarizer"
    PROVISIONER_TRIGGER = "provisioner_trigger"


#: Tasks this release has an actor for (the registry ``actors.tasks.TASKS``; a test keeps the two
#: equal). The ticker emits no tick for any other task, since no worker would read its queue,
#: and ``scheduler status`` shows it as not implemented.
IMPLEMENTED_TASKS: frozenset[TaskName] = frozenset(
    {
        TaskName.GITHUB_SYNC,
        TaskName.SERVER_SYNC,
        TaskName.HEALTH_CHECKER,
        TaskName.PROVISIONER_TRIGGER,
        TaskName.RAG_SUMMARIZER,
    }
)

#: A schedule is an interval ("300s", "5m"), a cron expression, "startup" or "off".
DEFAULT_SCHEDULES: dict[TaskName, str] = {
    TaskName.GITHUB_SYNC: "5m",
    TaskName.SERVER_SYNC: "5m",
    TaskName.HEALTH_CHECKER: "2m",
    TaskName.RAG_SUMMARIZER: "10m",
    TaskName.PROVISIONER_TRIGGER: "startup",
}

#: Audit trail of every tick the ticker emitted (field ``data``: Tick JSON).
TICKS_STREAM = "scheduler:ticks"
#: One entry per finished, skipped or expired run (field ``data``: RunRecord JSON).
RUNS_STREAM = "scheduler:runs"
#: Consumed by the platform's infra service (field ``data``: ProvisionerMessage JSON).
PROVISIONER_STREAM = "provisioner:queue"
#: The infra service's consumer group on it (``scheduler status`` names it when it is absent).
PROVISIONER_GROUP = "infrastructure-workers"

#: How long a startup claim (``Keys.startup_claim``) is kept: 30 days. A release (or epoch) that
#: lives longer and then restarts a ticker gets one more startup tick.
STARTUP_CLAIM_TTL_S = 30 * 24 * 3600

#: Approximate MAXLEN of the streams we own.
TICKS_STREAM_MAXLEN = 10_000
RUNS_STREAM_MAXLEN = 10_000
#: (provisioner:queue is trimmed past this only below what every consumer group has read)
PROVISIONER_STREAM_MAXLEN = 10_000

#: Dramatiq's key prefix; the ticker writes messages in Dramatiq's own layout under it.
DRAMATIQ_NAMESPACE = "dramatiq"


def queue_name(task: str) -> str:
    """The Dramatiq queue of a task's actor: one queue per task."""
    return f"scheduler.{task}"


class Keys:
    """Redis keys. Every key the scheduler owns starts with ``scheduler:``."""

    #: hash task -> slot id of the newest slot emitted (the ticker's claim record)
    LAST_SLOT = "scheduler:ticker:last_slot"
    #: set of paused task names
    PAUSED = "scheduler:paused"
    #: hash "<task>:<release>" -> tick JSON: where versions before the startup epochs kept the
    #: once-per-release claims (never expiring); still read, so an upgrade does not run them again
    RELEASES = "scheduler:ticker:releases"
    #: integer: the newest startup epoch, opened by a ticker that starts while no other ticker's
    #: heartbeat is alive (the startup task runs once per epoch when no release id is given)
    TICKER_EPOCH = "scheduler:ticker:epoch"

    @staticmethod
    def startup_claim(task: str, release: str) -> str:
        """String (the tick JSON), expiring after ``STARTUP_CLAIM_TTL_S``: the startup task's tick
        was emitted for this release, or for ``epoch-<n>``."""
        return f"scheduler:ticker:startup:{task}:{release}"

    #: hash task -> schedule text in force at the tickers, for `scheduler status`
    SCHEDULES = "scheduler:ticker:schedules"
    #: hash task -> JSON ``{"configured": bool, "missing": [variables], "worker": ..., "at": epoch s}``,
    #: written by each worker at start; the tickers emit no tick for a task not configured
    CONFIGURATION = "scheduler:tasks:configuration"

    @staticmethod
    def heartbeat(process_id: str) -> str:
        """String (``Heartbeat`` JSON) with a TTL of a few beats: one live process."""
        return f"scheduler:heartbeat:{process_id}"

    @staticmethod
    def heartbeats(role: str) -> str:
        """Sorted set: process id -> its heartbeat's expiry (epoch ms, Redis clock), one per role
        (``ticker``, ``worker``, ``web``), so the live processes are listed without a SCAN."""
        return f"scheduler:heartbeats:{role}"

    @staticmethod
    def lock(task: str) -> str:
        return f"scheduler:lock:{task}"

    @staticmethod
    def fence(task: str) -> str:
        return f"scheduler:fence:{task}"

    @staticmethod
    def state(task: str) -> str:
        """Hash: last tick, last run, counters (skipped, expired, missed, consecutive failures)."""
        return f"scheduler:state:{task}"

    @staticmethod
    def slot_done(task: str, slot: int) -> str:
        """Set once a slot's run has finished, so a redelivered tick never runs it again."""
        return f"scheduler:done:{task}:{slot}"

    @staticmethod
    def github_page(org: str, url: str) -> str:
        """String (JSON): one page of the org's repository listing as last answered 200: its
        ``ETag``, ``next`` link and parsed items, so that a 304 still yields the page's repos."""
        return f"scheduler:github:page:{org.lower()}:{url}"

    @staticmethod
    def github_rate(org: str) -> str:
        """Hash: the rate-limit budget last seen (``remaining``, ``reset``) and ``blocked_until``
        (epoch seconds) after a rate limit GitHub asked us to wait out."""
        return f"scheduler:github:rate:{org.lower()}"

    @staticmethod
    def github_tree(org: str, url: str) -> str:
        """String (JSON): one git tree as last answered 200: its ``ETag`` and the entries kept of
        it (rag_summarizer's documents and the root's folders), so that a 304 still yields them."""
        return f"scheduler:github:tree:{org.lower()}:{url}"

    @staticmethod
    def github_content(org: str, url: str) -> str:
        """String (JSON), kept a day: one file's ``ETag``, blob sha and bytes as last answered
        200, so that fetching it again (a write that failed) costs a 304, no rate-limit point."""
        return f"scheduler:github:content:{org.lower()}:{url}"

    @staticmethod
    def rag_sent(project_id: str) -> str:
        """Hash: what rag_summarizer sent the platform's RAG ingest for one project (UUID):
        document path -> the blob sha of the content the platform took, and ``/summary`` -> the
        summary's source hash. The platform lists no documents: this is the only record of them."""
        return f"scheduler:rag:sent:{project_id}"

    @staticmethod
    def github_missing(org: str) -> str:
        """Hash: repository id -> complete listings in a row that lacked it (github_sync)."""
        return f"scheduler:github:missing:{org.lower()}"

    @staticmethod
    def github_gone(org: str) -> str:
        """Hash: repository id -> ``<epoch seconds>`` since it is missing, or ``<epoch
        seconds>:retired:<status>`` once its project (then in that status) was archived for its
        absence (github_sync)."""
        return f"scheduler:github:gone:{org.lower()}"

    @staticmethod
    def github_discovered(org: str) -> str:
        """Hash: repository id -> 1 once reported as discovered without an owner to create its
        project for (github_sync)."""
        return f"scheduler:github:discovered:{org.lower()}"

    #: hash server handle -> "<consecutive unhealthy checks>:<slot of the last check counted>"
    HEALTH_FAILURES = "scheduler:health:failures"
    #: hash server handle -> its health as of its last check: healthy, degraded, unhealthy, or
    #: pending (unhealthy, not yet K times in a row); the platform has no field for it
    HEALTH_VERDICTS = "scheduler:health:verdicts"

    @staticmethod
    def health_claim(handle: str) -> str:
        """String, short TTL: the health check of this server in progress (SET NX PX)."""
        return f"scheduler:health:claim:{handle}"

    @staticmethod
    def incident_claim(handle: str | None, incident_type: str) -> str:
        """String, short TTL: an incident of this type for this server (``-``: provider-wide) is
        being opened; no one else opens one meanwhile (the platform does not deduplicate)."""
        return f"scheduler:incident:claim:{handle or '-'}:{incident_type}"

    #: string, TTL = the pruning interval: the platform's metrics history was pruned (health_checker)
    HEALTH_HISTORY_PRUNED = "scheduler:health:history_pruned"

    @staticmethod
    def provisioner_cooldown(handle: str) -> str:
        """String, TTL = the cooldown: this server was announced on ``provisioner:queue`` (by any
        task), written in the same script as the stream entry."""
        return f"scheduler:provisioner:cooldown:{handle}"

    #: hash Time4VPS server id -> the list ``synch_date`` its details were last read for (server_sync)
    TIME4VPS_SEEN = "scheduler:time4vps:seen"
    #: hash Time4VPS server id -> complete listings in a row that lacked it (server_sync)
    TIME4VPS_MISSES = "scheduler:time4vps:misses"
    #: hash Time4VPS server id -> the platform status its record had before server_sync set one of
    #: its own (``missing``, or one the provider's status imposes); restored when that ends
    TIME4VPS_HELD = "scheduler:time4vps:held"
    #: string, epoch seconds (Redis clock): Time4VPS asked us to wait (``wait_x_between_action``) until then
    TIME4VPS_THROTTLED_UNTIL = "scheduler:time4vps:throttled_until"

    @staticmethod
    def health_slot(slot: int) -> str:
        """Hash, kept a day: what the health checks of one slot did (checked, cut, unhealthy...)."""
        return f"scheduler:health:slot:{slot}"

    @staticmethod
    def health_slot_checked(slot: int) -> str:
        """Set, kept a day: the handles of the servers checked (and reported) in one slot, so a
        retried or redelivered batch does not count a server twice."""
        return f"scheduler:health:slot:{slot}:checked"

    #: sorted set of the health checker's recent slot ids (score = slot): whose coverage to show
    HEALTH_SLOTS = "scheduler:health:slots"
    #: sorted set: a worker's own health-check queue -> when batches were last sent to it (epoch
    #: ms); a queue whose worker is no longer live is emptied (its batches moved or dropped)
    HEALTH_OWNER_QUEUES = "scheduler:health:owner_queues"
