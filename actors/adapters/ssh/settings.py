"""The SSH adapter's configuration, from the environment (see README, "health_checker")."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from actors.adapters.ssh.probe import ProbeConfig
from scheduler.errors import ConfigurationError


class SshSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    ssh_private_key_path: Path | None = None
    ssh_private_key_passphrase: SecretStr | None = None
    ssh_known_hosts: Path | None = None
    health_connect_timeout_s: float = Field(default=10.0, gt=0)
    health_command_timeout_s: float = Field(default=15.0, gt=0)
    #: concurrent SSH connections per worker process
    health_ssh_concurrency: int = Field(default=100, ge=1)
    #: mount points to check besides ``/``, comma-separated (e.g. ``/var/lib/docker,/data``)
    health_disk_mounts: str = ""

    def probe_config(self) -> ProbeConfig:
        if self.ssh_private_key_path is None:
            raise ConfigurationError("health_checker: SSH_PRIVATE_KEY_PATH is not set (the key it logs in with)")
        if self.ssh_known_hosts is not None and not self.ssh_known_hosts.is_file():
            raise ConfigurationError(f"health_checker: SSH_KNOWN_HOSTS={self.ssh_known_hosts} is not a file")
        mounts = tuple(m.strip() for m in self.health_disk_mounts.split(",") if m.strip())
        passphrase = self.ssh_private_key_passphrase
        return ProbeConfig(
            private_key_path=self.ssh_private_key_path, known_hosts_path=self.ssh_known_hosts,
            connect_timeout_s=self.health_connect_timeout_s, command_timeout_s=self.health_command_timeout_s,
            concurrency=self.health_ssh_concurrency, mounts=("/", *mounts),
            private_key_passphrase=passphrase.get_secret_value() if passphrase else None)
