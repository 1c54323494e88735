"""In-memory stand-ins for server_sync's plan tests: Time4VPS's answers, and a ``Cycle`` that
observes, plans and applies with the task's own ``apply_plan`` and ``SyncMemory`` against fakeredis,
the platform's Server records (``tests.fake_platform``) and the one provisioner publisher (its Lua
script included)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import fakeredis
import fakeredis.aioredis

from actors.adapters.provisioner.publisher import ProvisionerPublisher
from actors.tasks.announcements import Announcer
from actors.tasks.server_sync.memory import SyncMemory
from actors.tasks.server_sync.plan import Observed, Plan, Rules, details_wanted, plan_sync
from actors.tasks.server_sync.task import apply_plan
from contracts import PROVISIONER_STREAM
from contracts.platform import Server
from contracts.time4vps import ServerDetails, ServerListItem
from tests.fake_platform import FakePlatform
from tests.support import FakeRun

DEFAULT_RULES = Rules()  # frozen: one instance serves every cycle that names none


def item(pid: int, ip: str | None = "192.0.2.10", synch: str = "2026-01-05 09:00:00", **fields) -> ServerListItem:
    return ServerListItem.model_validate(
        {
            "server_id": pid,
            "domain": f"vps{pid}.test",
            "ip": ip,
            "label": f"web-{pid}",
            "type": "KVM",
            "date_created": "2025-01-01",
            "synch_date": synch,
            **fields,
        }
    )


def details(
    status: str = "Active",
    cores: int = 2,
    ram: int = 4096,
    disk_mb: int = 40960,
    os: str = "debian-12-x86_64",
    ip: str | None = None,
) -> ServerDetails:
    return ServerDetails.model_validate(
        {
            "status": status,
            "cpu_cores": cores,
            "ram_limit": ram,
            "disk_limit": disk_mb,
            "os": os,
            "ip": ip,
            "synch_date": "2026-01-05T09:00:00+00:00",
        }
    )


@dataclass
class Cycle:
    """A platform, the task's Redis memory and the provisioner stream, kept across cycles."""

    platform: FakePlatform = field(default_factory=FakePlatform)
    server: fakeredis.FakeServer = field(default_factory=fakeredis.FakeServer)
    cooldown_s: float = 3600
    publisher: type[ProvisionerPublisher] = ProvisionerPublisher

    def redis(self) -> fakeredis.aioredis.FakeRedis:
        return fakeredis.aioredis.FakeRedis(server=self.server)

    async def observe(
        self,
        listing: list[ServerListItem],
        provider: Mapping[str, ServerDetails],
        *,
        complete: bool = True,
        max_details: int | None = None,
    ) -> Observed:
        memory = await SyncMemory(self.redis()).read()
        records = list(self.platform.servers.values())
        wanted = details_wanted(listing, records, memory.seen)[:max_details]
        return Observed(listing, complete, records, {p: provider[p] for p in wanted if p in provider}, memory)

    async def apply(self, plan: Plan) -> FakeRun:
        run = FakeRun()
        client = self.redis()
        await apply_plan(
            plan,
            run,
            self.platform,
            SyncMemory(client),
            Announcer(self.publisher(client), self.cooldown_s),
            list(self.platform.servers.values()),
        )
        return run

    async def __call__(
        self,
        listing: list[ServerListItem],
        provider: Mapping[str, ServerDetails] | None = None,
        rules: Rules = DEFAULT_RULES,
        **options,
    ) -> tuple[Plan, FakeRun]:
        """One cycle: observe, plan, apply; (the plan, the run's counters)."""
        plan = plan_sync(await self.observe(listing, provider or {}, **options), rules)
        return plan, await self.apply(plan)

    async def replan(self, observed: Observed, rules: Rules) -> Plan:
        """The same observation again, over the records and memory as apply left them."""
        memory = await SyncMemory(self.redis()).read()
        return plan_sync(
            Observed(
                observed.servers, observed.complete, list(self.platform.servers.values()), observed.details, memory
            ),
            rules,
        )

    async def announced(self) -> list[str]:
        entries = await self.redis().xrange(PROVISIONER_STREAM)
        return [json.loads(fields[b"data"])["server_handle"] for _, fields in entries]

    def record(self, pid: int | str) -> Server:
        return next(r for r in self.platform.servers.values() if r.provider_id == str(pid))
