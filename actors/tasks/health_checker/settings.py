"""The health checker's own rules, from the environment (see README, "health_checker"). How it
reaches the servers (key, known_hosts, port, timeouts, concurrency, mounts) is the SSH adapter's:
``actors.adapters.ssh.settings``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from actors.tasks.health_checker.plan import Thresholds


class HealthCheckerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    health_disk_degraded_pct: int = Field(default=85, ge=1, le=100)
    health_disk_unhealthy_pct: int = Field(default=95, ge=1, le=100)
    health_ram_degraded_pct: int = Field(default=90, ge=1, le=100)
    health_ram_unhealthy_pct: int = Field(default=95, ge=1, le=100)
    #: K: consecutive unhealthy checks before a server is reported unhealthy
    health_failures_before_unhealthy: int = Field(default=2, ge=1)
    #: servers per fan-out message
    health_batch_size: int = Field(default=100, ge=1, le=5000)
    #: at most one recovery request per server within this many seconds
    health_recovery_cooldown_s: int = Field(default=1800, ge=1)
    #: hours of metrics history kept on the platform; older entries (every server's) are pruned
    health_history_retention_h: int = Field(default=168, ge=1, le=24 * 366)

    def thresholds(self) -> Thresholds:
        return Thresholds(
            self.health_disk_degraded_pct,
            self.health_disk_unhealthy_pct,
            self.health_ram_degraded_pct,
            self.health_ram_unhealthy_pct,
            self.health_failures_before_unhealthy,
        )
