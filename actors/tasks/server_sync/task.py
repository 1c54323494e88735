"""server_sync: the Time4VPS account's servers -> the platform's Server records.

A reconciler, read top to bottom: **observe** (the Time4VPS listing; if it fails for the whole run,
the provider-outage incident and nothing else; the platform's servers; what Redis remembers; the
details of new and changed servers only, at most ``TIME4VPS_MAX_DETAILS_PER_RUN``) -> **plan**
(``plan.plan_sync``, pure, where every rule lives) -> **apply** (API writes, each behind the fencing
check; then every managed ``pending_setup`` server, as the platform holds them after those writes,
announced on ``provisioner:queue`` by the one rule of ``actors.tasks.announcements``; then the memory).
"""

from __future__ import annotations

from actors.adapters.platform.client import PlatformClient, PlatformSettings
from actors.adapters.provisioner.settings import ProvisionerSettings
from actors.adapters.time4vps.client import Time4VpsSession
from actors.adapters.time4vps.errors import Time4VpsRefused, Time4VpsThrottled, Time4VpsUnavailable
from actors.adapters.time4vps.settings import Time4VpsSettings
from actors.runtime.run import TaskRun
from actors.runtime.spec import TaskSpec
from actors.tasks.announcements import Announcer, waiting
from actors.tasks.records import Progress, RecordWrites
from actors.tasks.server_sync.memory import SyncMemory
from actors.tasks.server_sync.outage import ProviderOutage
from actors.tasks.server_sync.plan import Create, Observed, Plan, Update, details_wanted, plan_sync
from actors.tasks.server_sync.settings import ServerSyncSettings
from contracts import TaskName
from contracts.counters import CREATES, INCOMPLETE, PROVIDER_UNAVAILABLE, REJECTED, SKIPPED_ITEMS, UPDATES
from contracts.platform import PlatformNeed, Server, ServerUpdate
from contracts.time4vps import ServerDetails
from process.logs import get_logger

log = get_logger(__name__)


# --------------------------------------------------------------------------- observe


async def run_server_sync(run: TaskRun) -> None:
    deps = run.deps
    settings = deps.settings(ServerSyncSettings)
    rules = settings.rules()
    platform, memory = deps.platform, SyncMemory(deps.aredis)
    session = deps.time4vps.session(deps.aredis)
    outage = ProviderOutage(platform, deps.aredis)
    try:
        listing = await session.list_servers()
    except Time4VpsThrottled as exc:
        run.count("throttled")
        log.warning("server_sync.throttled", wait_s=round(exc.wait_s), note="nothing changed; resumed at a later tick")
        return
    except (Time4VpsRefused, Time4VpsUnavailable) as exc:
        _count_requests(run, session)
        run.count(PROVIDER_UNAVAILABLE)
        reason = exc.kind.value if isinstance(exc, Time4VpsRefused) else "unavailable"
        await run.fence()
        await outage.open(reason, str(exc))
        if isinstance(exc, Time4VpsRefused):
            log.error("server_sync.credentials_refused", reason=exc.reason, fix=str(exc))
        raise  # no Server record changes during an outage
    await run.fence()
    run.count("outages_resolved", await outage.resolve())

    records = await platform.list_servers()
    remembered = await memory.read()
    wanted = details_wanted(listing.servers, records.items, remembered.seen)
    details = await _read_details(session, wanted[: settings.time4vps_max_details_per_run], run)
    for name, value in (
        ("servers", len(listing.servers)),
        (SKIPPED_ITEMS, listing.skipped + records.skipped + session.invalid_details),
        ("details_wanted", len(wanted)),
        ("details_deferred", max(0, len(wanted) - settings.time4vps_max_details_per_run)),
    ):
        run.count(name, value)
    _count_requests(run, session)
    if not listing.complete:
        run.count(INCOMPLETE)
        log.warning(
            "server_sync.listing_incomplete",
            skipped_items=listing.skipped,
            note="absence is not counted for this listing",
        )
    observed = Observed(listing.servers, listing.complete, records.items, details, remembered)

    plan = plan_sync(observed, rules)

    cooldown_s = deps.settings(ProvisionerSettings).provisioner_cooldown_s
    await apply_plan(plan, run, platform, memory, Announcer(deps.provisioner, cooldown_s), records.items)


async def _read_details(session: Time4VpsSession, ids: list[str], run: TaskRun) -> dict[str, ServerDetails]:
    details: dict[str, ServerDetails] = {}
    for pid in ids:
        try:
            found = await session.server_details(int(pid))
        except Time4VpsThrottled:
            run.count("throttled")
            break  # the rest follow at a later tick
        except Time4VpsUnavailable as exc:
            run.count("details_failed")
            log.warning("server_sync.details_unavailable", provider_id=pid, error=str(exc)[:300])
            break
        if found is not None:
            details[pid] = found
    return details


def _count_requests(run: TaskRun, session: Time4VpsSession) -> None:
    run.count("list_requests", session.requests["list"])
    run.count("details_requests", session.requests["details"])


# --------------------------------------------------------------------------- apply


async def apply_plan(
    plan: Plan,
    run: Progress,
    platform: PlatformClient,
    memory: SyncMemory,
    announcer: Announcer,
    records: list[Server] | tuple[Server, ...] = (),
) -> None:
    failed: set[str] = set()
    #: handle -> (is_managed, status) as the platform holds it once this run's writes are done
    state = {r.handle: (r.is_managed, r.status) for r in records}
    run.count("other_provider_records", plan.other_providers)
    for pid in plan.rejected:
        run.count(REJECTED)
        log.warning("server_sync.server_rejected", provider_id=pid, reason="its record would be invalid")
    for pid, status in plan.unknown_statuses:
        run.count("unknown_status")
        log.warning(
            "server_sync.unknown_provider_status",
            provider_id=pid,
            provider_status=status[:60],
            note="the record's status is left alone",
        )
    writes = RecordWrites(run, "server_sync")
    written: dict[str, Server] = {}

    async def create(c: Create) -> None:
        written[c.server.handle] = await platform.create_server(c.server)

    async def update(handle: str, changes: ServerUpdate) -> None:
        written[handle] = await platform.update_server(handle, changes)

    for c in plan.creates:
        handle = c.server.handle
        if not await writes.write(lambda c=c: create(c), "create", provider_id=c.provider_id, handle=handle):
            failed.add(c.provider_id)
            continue
        run.count(CREATES)
        state[handle] = (written[handle].is_managed, written[handle].status)
        log.info("server_sync.server_added", handle=handle, status=c.server.status.value, managed=c.server.is_managed)
        after = c.after and _still_to_set(written[handle], c.after)
        if after and not await writes.write(
            lambda a=after, h=handle: update(h, a), "update", provider_id=c.provider_id, handle=handle
        ):
            failed.add(c.provider_id)  # its details are read again next run, and the fields set then
    for u in plan.updates:
        if not await writes.write(
            lambda u=u: update(u.handle, u.changes), "update", provider_id=u.provider_id, handle=u.handle
        ):
            failed.add(u.provider_id)
            continue
        run.count(UPDATES)
        state[u.handle] = (written[u.handle].is_managed, written[u.handle].status)
        _report(run, u)
    outcome = await announcer.announce(
        sorted(h for h, (managed, status) in state.items() if waiting(managed, status)),
        run.correlation_id,
        run.fence,
    )
    run.count("announced", len(outcome.announced))
    run.count("announce_cooling", len(outcome.cooling))
    seen = {pid: v for pid, v in plan.seen.items() if pid not in failed}
    misses = {pid: n for pid, n in plan.misses.items() if pid not in failed}
    held = {pid: s for pid, s in plan.held.items() if pid not in failed}
    if seen or misses or held:
        await run.fence()
        await memory.write(seen, misses, held)


def _still_to_set(record: Server, after: ServerUpdate) -> ServerUpdate | None:
    """The part of ``after`` the created record does not already hold."""
    wanted = {k: getattr(after, k) for k in after.model_fields_set if getattr(record, k) != getattr(after, k)}
    return ServerUpdate(**wanted) if wanted else None


def _report(run: Progress, update: Update) -> None:
    for event in update.events:
        run.count(event)
    if "missing" in update.events:
        log.error(
            "server_sync.server_missing",
            alert=True,
            handle=update.handle,
            provider_id=update.provider_id,
            complete_listings_without_it=update.misses,
            previous_status=update.previous.value,
            note="gone from the Time4VPS listing; nothing was deleted",
        )
    elif "restored" in update.events:
        log.info("server_sync.server_back", handle=update.handle, status=update.changes.status.value)


_SERVER_FIELDS = ("handle", "host", "public_ip", "is_managed", "status", "labels", "capacity_cpu", "capacity_ram_mb")
SPEC = TaskSpec(
    TaskName.SERVER_SYNC,
    run_server_sync,
    time_limit_ms=10 * 60_000,
    max_retries=3,
    settings=ServerSyncSettings,
    adapters=(PlatformSettings, Time4VpsSettings, ProvisionerSettings),
    credentials=(PlatformSettings.CREDENTIALS, Time4VpsSettings.CREDENTIALS),
    platform_needs=(
        PlatformNeed("GET", "/api/servers/", (*_SERVER_FIELDS, "capacity_disk_mb", "os_template", "provider_id")),
        PlatformNeed("POST", "/api/servers/", _SERVER_FIELDS),
        PlatformNeed("GET", "/api/servers/{handle}", ("handle", "labels")),
        PlatformNeed("PATCH", "/api/servers/{handle}", ("capacity_disk_mb", "os_template")),
        # the provider-outage incident's routes join here with the incidents client (branch hc)
    ),
)
