"""The SSH adapter's configuration, from the environment (see README, "health_checker").

The key and known_hosts come as files, or inline (``SSH_PRIVATE_KEY``, ``SSH_KNOWN_HOSTS_DATA``)
for hosts that give config vars rather than files (Heroku); inline ones stay in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import asyncssh
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from actors.adapters.ssh.pool import PoolConfig
from actors.adapters.ssh.probe import ProbeConfig, load_client_key, load_known_hosts
from process.limits import connections_allowed
from process.logs import get_logger
from process.misconfiguration import Problem, SettingError

log = get_logger(__name__)


class SshSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")
    #: a task using SSH is "not configured" while none of these is set (``TaskSpec.credentials``)
    CREDENTIALS: ClassVar[frozenset[str]] = frozenset({"SSH_PRIVATE_KEY", "SSH_PRIVATE_KEY_PATH"})

    ssh_private_key_path: Path | None = None
    ssh_private_key_passphrase: SecretStr | None = None
    ssh_known_hosts: Path | None = None
    ssh_private_key: SecretStr | None = Field(
        default=None,
        description="the SSH private key's text (OpenSSH or PEM; `\\n` escapes accepted), "
        "instead of SSH_PRIVATE_KEY_PATH; kept in memory, never written to disk",
    )
    ssh_known_hosts_data: str | None = Field(
        default=None, description="known_hosts lines themselves (`\\n` escapes accepted), instead of SSH_KNOWN_HOSTS"
    )
    health_connect_timeout_s: float = Field(default=10.0, gt=0)
    health_command_timeout_s: float = Field(default=15.0, gt=0)
    #: concurrent SSH connections per worker process
    health_ssh_concurrency: int = Field(default=100, ge=1)
    #: mount points to check besides ``/``, comma-separated (e.g. ``/var/lib/docker,/data``)
    health_disk_mounts: str = ""
    health_ssh_pool_max: int = Field(
        default=10_000,
        ge=0,
        description=(
            "SSH connections a worker process keeps open across checks; past it a check connects and "
            "closes; 0 keeps none (a connection per check)"
        ),
    )
    health_ssh_idle_s: float = Field(
        default=300.0,
        gt=0,
        description=("a kept SSH connection unused this long is closed (more than the schedule's interval)"),
    )
    health_ssh_max_age_s: float = Field(
        default=3600.0,
        gt=0,
        description=(
            "a kept SSH connection this old is replaced: the bound on noticing a changed host key "
            "(3600: at most 24 logins per server a day)"
        ),
    )
    health_ssh_keepalive_s: float = Field(
        default=60.0,
        ge=0,
        description=("keepalive interval on a kept SSH connection (three unanswered close it); 0: none"),
    )
    ssh_port: int = Field(
        default=22, ge=1, le=65535, description="the SSH port of a server whose record has no `labels.ssh_port`"
    )

    def probe_config(self) -> ProbeConfig:
        """Raises SettingError (a ConfigurationError) naming the variable to fix."""
        if self.ssh_private_key is not None and self.ssh_private_key_path is not None:
            raise SettingError("SSH_PRIVATE_KEY", "set either SSH_PRIVATE_KEY or SSH_PRIVATE_KEY_PATH, not both")
        if self.ssh_private_key is None and self.ssh_private_key_path is None:
            raise SettingError(
                "SSH_PRIVATE_KEY",
                "is not set, nor SSH_PRIVATE_KEY_PATH: the key the checker logs in with, inline or as a path",
            )
        if self.ssh_private_key_path is not None and not self.ssh_private_key_path.is_file():
            raise SettingError("SSH_PRIVATE_KEY_PATH", f"{self.ssh_private_key_path} is not a file")
        if self.ssh_known_hosts is not None and self.ssh_known_hosts_data is not None:
            raise SettingError("SSH_KNOWN_HOSTS_DATA", "set either SSH_KNOWN_HOSTS_DATA or SSH_KNOWN_HOSTS, not both")
        if self.ssh_known_hosts is not None and not self.ssh_known_hosts.is_file():
            raise SettingError("SSH_KNOWN_HOSTS", f"{self.ssh_known_hosts} is not a file")
        mounts = tuple(m.strip() for m in self.health_disk_mounts.split(",") if m.strip())
        pool_max = connections_allowed(self.health_ssh_pool_max)
        if pool_max < self.health_ssh_pool_max:
            log.warning(
                "ssh pool capped by the open-file limit",
                health_ssh_pool_max=self.health_ssh_pool_max,
                kept_at_most=pool_max,
                note="raise the hard limit (ulimit -Hn, LimitNOFILE=) to keep more",
            )
        passphrase, key = self.ssh_private_key_passphrase, self.ssh_private_key
        return ProbeConfig(
            private_key_path=self.ssh_private_key_path,
            known_hosts_path=self.ssh_known_hosts,
            connect_timeout_s=self.health_connect_timeout_s,
            command_timeout_s=self.health_command_timeout_s,
            concurrency=self.health_ssh_concurrency,
            mounts=("/", *mounts),
            private_key_passphrase=passphrase.get_secret_value() if passphrase else None,
            private_key_data=key.get_secret_value() if key else None,
            known_hosts_data=self.ssh_known_hosts_data,
            pool=PoolConfig(
                max_open=pool_max,
                idle_s=self.health_ssh_idle_s,
                max_age_s=self.health_ssh_max_age_s,
                keepalive_s=self.health_ssh_keepalive_s,
            ),
        )

    @classmethod
    def configuration_problems(cls, settings: SshSettings | None, needed_by: str) -> list[Problem]:
        """What parsing cannot say, checked at start as the probe will use them: the key and the
        known_hosts are loaded now, so that a bad one fails the start, not every tick."""
        if settings is None:
            return []
        try:
            config = settings.probe_config()
        except SettingError as exc:
            return [Problem(exc.variable, exc.message, needed_by, _description(exc.variable))]
        except ValueError as exc:  # a mount point that is no plain path
            return [Problem("HEALTH_DISK_MOUNTS", f"is invalid: {exc}", needed_by)]
        problems = []
        key_variable = "SSH_PRIVATE_KEY" if config.private_key_data is not None else "SSH_PRIVATE_KEY_PATH"
        try:
            load_client_key(config)
        except (asyncssh.KeyImportError, OSError, ValueError) as exc:
            hint = "an OpenSSH or PEM private key (an encrypted one with SSH_PRIVATE_KEY_PASSPHRASE)"
            problems.append(Problem(key_variable, f"cannot be used: {_safe(exc)}", needed_by, hint))
        hosts_variable = "SSH_KNOWN_HOSTS_DATA" if config.known_hosts_data is not None else "SSH_KNOWN_HOSTS"
        try:
            load_known_hosts(config)
        except (OSError, ValueError) as exc:
            hint = "OpenSSH known_hosts lines: `host[,host…] key-type base64-key`"
            problems.append(Problem(hosts_variable, f"cannot be used: {_safe(exc)}", needed_by, hint))
        return problems


def _description(variable: str) -> str:
    field = SshSettings.model_fields.get(variable.lower())
    return (field.description if field else None) or ""


def _safe(exc: BaseException) -> str:
    """asyncssh's and the OS's messages name the problem, not the key; keep them short anyway."""
    return (getattr(exc, "strerror", None) or str(exc))[:200]
