"""The platform's database: ``PlatformStore`` over SQLite (the core in ``store_base``, each
resource's operations in ``store_<resource>``), and plausible sample rows to seed it."""

from __future__ import annotations

import uuid
from typing import Any

from contracts.platform import (
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
from sandbox.platform.store_repositories import RepositoriesStore
from sandbox.platform.store_servers import ServersStore


class PlatformStore(ProjectsStore, RepositoriesStore, ServersStore, IncidentsStore, MetricsStore, RagStore):
    """The platform's database, in SQLite (a file path or ``":memory:"``); see ``StoreBase``."""


def sample_servers(
    count: int, *, start: int = 1, managed: bool = True, status: ServerStatus = ServerStatus.READY
) -> list[ServerCreate]:
    """``count`` plausible Time4VPS servers with provider ids ``start``, ``start + 1``, ..."""

    def address(n: int) -> str:
        return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"

    return [
        ServerCreate(
            handle=server_handle(n),
            host=address(n),
            public_ip=address(n),
            is_managed=managed,
            status=status,
            capacity_cpu=2,
            capacity_ram_mb=4096,
            labels={LABEL_PROVIDER: "time4vps", LABEL_PROVIDER_ID: str(n)},
        )
        for n in range(start, start + count)
    ]


def sample_projects(
    store: PlatformStore,
    count: int,
    *,
    start: int = 1,
    org: str = "acme",
    owner_telegram_id: int = 900000001,
    status: str = "active",
) -> list[dict[str, Any]]:
    """``count`` projects, each with its primary repository (provider_repo_ids ``start``,
    ``start + 1``, ...), owned by the user with that telegram id (created when absent).
    Returns the repositories."""
    owner = store.find_user_by_telegram(owner_telegram_id) or store.create_user(owner_telegram_id, username="owner")
    out = []
    for n in range(start, start + count):
        project = store.create_project(
            title=f"repo-{n}", owner_id=owner["id"], status=status, initiating_run_id="sample", project_id=uuid.uuid4()
        )
        out.append(
            store.create_repository(
                project_id=project["id"],
                name=f"repo-{n}",
                git_url=f"https://github.com/{org}/repo-{n}.git",
                provider_repo_id=n,
                visibility="public",
            )
        )
    return out
