"""The platform's database: ``PlatformStore`` over SQLite (the core in ``store_base``, each
resource's operations in ``store_<resource>``), and plausible sample rows to seed it."""


from __future__ import annotations

from contracts.platform import (
    ProjectCreate,
    ProjectStatus,
    LABEL_PROVIDER,
    LABEL_PROVIDER_ID,
    ServerCreate,
    ServerStatus,
    server_handle,
)

from sandbox.platform.store_base import Conflict, NotFound  # noqa: F401
from sandbox.platform.store_incidents import IncidentsStore
from sandbox.platform.store_metrics import MetricsStore
from sandbox.platform.store_projects import ProjectsStore
from sandbox.platform.store_rag import RagStore
from sandbox.platform.store_servers import ServersStore


class PlatformStore(ProjectsStore, ServersStore, IncidentsStore, MetricsStore, RagStore):
    """The platform's database, in SQLite (a file path or ``":memory:"``); see ``StoreBase``."""



def sample_servers(count: int, *, start: int = 1, managed: bool = True,
                   status: ServerStatus = ServerStatus.READY) -> list[ServerCreate]:
    """``count`` plausible Time4VPS servers with provider ids ``start``, ``start + 1``, ..."""
    def address(n: int) -> str:
        return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"

    return [
        ServerCreate(handle=server_handle(n), host=address(n), public_ip=address(n), is_managed=managed,
                     status=status, capacity_cpu=2, capacity_ram_mb=4096,
                     labels={LABEL_PROVIDER: "time4vps", LABEL_PROVIDER_ID: str(n)})
        for n in range(start, start + count)
    ]


def sample_projects(count: int, *, start: int = 1, org: str = "acme",
                    status: ProjectStatus = ProjectStatus.ACTIVE) -> list[ProjectCreate]:
    """``count`` projects with github_repo_ids ``start``, ``start + 1``, ..."""
    return [
        ProjectCreate(name=f"repo-{n}", full_name=f"{org}/repo-{n}", github_repo_id=n,
                      html_url=f"https://github.com/{org}/repo-{n}", status=status)
        for n in range(start, start + count)
    ]
