"""The settable state of one sandbox SSH host, shared by the world generator and the fleet."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class SshMode(StrEnum):
    NORMAL = "normal"  # answers the probe's commands from the fields below
    UNREACHABLE = "unreachable"  # nothing listening
    SLOW = "slow"  # answers after ``delay_s``
    WRONG_HOST_KEY = "wrong_host_key"  # presents a host key other than the pinned one


@dataclass
class Container:
    name: str
    image: str = "app:latest"
    state: str = "running"  # running | restarting | exited | ...
    health: str | None = "healthy"  # healthy | unhealthy | starting | None (no healthcheck)
    exit_code: int = 0  # last exit code, shown as ``Restarting (1) …`` / ``Exited (137) …``
    since_s: float = 3 * 3600  # seconds since it started (running) or last stopped (restarting/exited)


@dataclass
class HostState:
    mode: SshMode = SshMode.NORMAL
    delay_s: float = 0.0
    delay_handshake: bool = False  # SLOW also delays authentication, not only each command's answer
    #: mount point -> percent used of that filesystem
    disks: dict[str, int] = field(default_factory=lambda: {"/": 40})
    docker_running: bool = True
    containers: list[Container] = field(default_factory=lambda: [Container("web")])
    #: ``/proc/loadavg``'s 1, 5 and 15 minute load averages
    load: tuple[float, float, float] = (0.15, 0.10, 0.05)
    uptime_s: float = 10 * 86_400.0
    mem_total_kb: int = 4_028_000
    #: percent of RAM in use (MemTotal - MemAvailable)
    mem_used_pct: int = 30

    @classmethod
    def healthy(cls) -> HostState:
        return cls()

    @classmethod
    def disk_nearly_full(cls, percent: int = 97) -> HostState:
        return cls(disks={"/": percent})

    @classmethod
    def memory_nearly_full(cls, percent: int = 97) -> HostState:
        return cls(mem_used_pct=percent)

    @classmethod
    def docker_down(cls) -> HostState:
        return cls(docker_running=False, containers=[])
