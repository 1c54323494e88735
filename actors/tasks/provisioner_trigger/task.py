"""provisioner_trigger: servers stuck before provisioning -> ``provisioner:queue``, again.

Runs once per release at startup (the ticker claims the startup slot per release), and on a
schedule if one is set. Read top to bottom: **observe** (the managed servers in ``pending_setup`` or
``provisioning``, through the platform API: one request per status, since its filter is a scalar;
which of them are cooling down since an earlier announcement) -> **plan**
(``plan.plan_announcements``, pure) -> **apply** (``announcements.Announcer``, the one way every
task announces: the shared publisher writes the entry and the cooldown together and refuses a
server announced meanwhile).
"""

from __future__ import annotations

from actors.adapters.platform.client import PlatformSettings
from actors.adapters.provisioner.publisher import ProvisionerPublisher
from actors.adapters.provisioner.settings import ProvisionerSettings
from actors.runtime.run import TaskRun
from actors.runtime.spec import TaskSpec
from actors.tasks.announcements import Announcer
from actors.tasks.provisioner_trigger.plan import Plan, Rules, plan_announcements
from actors.tasks.provisioner_trigger.settings import ProvisionerTriggerSettings
from contracts import TaskName
from contracts.counters import SKIPPED_ITEMS
from contracts.platform import PlatformNeed, ServerStatus
from process.clock import aredis_now
from process.logs import get_logger

log = get_logger(__name__)

WAITING = (ServerStatus.PENDING_SETUP, ServerStatus.PROVISIONING)


# --------------------------------------------------------------------------- observe


async def run_provisioner_trigger(run: TaskRun) -> None:
    deps = run.deps
    rules = deps.settings(ProvisionerTriggerSettings)
    publisher = deps.provisioner
    servers = await deps.platform.list_servers(statuses=WAITING, is_managed=True)
    run.count(SKIPPED_ITEMS, servers.skipped)
    cooling = await publisher.cooling([s.handle for s in servers])
    now = await aredis_now(deps.aredis)  # every worker judges "stuck" by one clock

    plan = plan_announcements(
        servers, cooling, now, Rules(rules.provisioning_stuck_after_s, rules.provisioner_max_per_run)
    )

    await apply_plan(plan, run, publisher, deps.settings(ProvisionerSettings).provisioner_cooldown_s)


# --------------------------------------------------------------------------- apply


async def apply_plan(plan: Plan, run, publisher: ProvisionerPublisher, cooldown_s: float) -> None:
    run.count("skipped_cooldown", len(plan.cooling))
    run.count("held_back", len(plan.held_back))
    if plan.held_back:
        log.warning("provisioner_trigger.held_back", servers=len(plan.held_back), note="announced in later runs")
    outcome = await Announcer(publisher, cooldown_s).announce(plan.announce, run.correlation_id, run.fence)
    run.count("published", len(outcome.announced))
    run.count("skipped_cooldown", len(outcome.cooling))  # announced by another task since we looked


SPEC = TaskSpec(
    TaskName.PROVISIONER_TRIGGER,
    run_provisioner_trigger,
    time_limit_ms=5 * 60_000,
    max_retries=5,
    settings=ProvisionerTriggerSettings,
    adapters=(PlatformSettings, ProvisionerSettings),
    credentials=(PlatformSettings.CREDENTIALS,),
    platform_needs=(PlatformNeed("GET", "/api/servers/", ("handle", "status", "is_managed", "updated_at")),),
)
