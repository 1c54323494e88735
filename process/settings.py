"""Configuration from the environment (pydantic-settings), one place for every process.

Each process entry point reads ``Settings`` once (``process.misconfiguration.process_settings``)
and passes them on: nothing below looks them up again (there is no cached instance to read)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts import DEFAULT_SCHEDULES, TaskName


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    #: unset means "no Redis configured": only `scheduler demo` starts an embedded one
    redis_url: str | None = Field(
        default=None, description="the Redis of broker, locks and streams: redis://host:6379/0, or rediss://… for TLS"
    )
    # TLS (rediss:// only). Hosted Redis such as Heroku's presents a self-signed certificate.
    redis_ssl_cert_reqs: Literal["none", "optional", "required"] = Field(
        default="required",
        description="rediss:// certificate check: required (verify it), optional, or none "
        "(accept any, e.g. Heroku Redis's self-signed one; still encrypted)",
    )
    redis_ssl_ca_certs: Path | None = Field(
        default=None, description="path of a PEM CA bundle to verify the Redis server's certificate with"
    )
    redis_ssl_ca_data: str | None = Field(
        default=None, description="the same CA bundle inline, as PEM text (for hosts that give config vars, not files)"
    )
    #: identifies a deploy: with one, the startup task runs once per release; without, once per
    #: ticker epoch (each time the ticker fleet starts from nothing). The first one set wins.
    release_id: str | None = Field(
        default=None,
        validation_alias="RELEASE_ID",
        description="the release this deploy runs: the startup task runs once per release. Unset (and none of "
        "HEROKU_RELEASE_VERSION, SOURCE_VERSION, HEROKU_SLUG_COMMIT set): once each time the ticker fleet "
        "starts from nothing",
    )
    heroku_release_version: str | None = Field(
        default=None,
        description="set by Heroku when `heroku labs:enable runtime-dyno-metadata` is on; "
        "used when RELEASE_ID is not set",
    )
    source_version: str | None = Field(
        default=None,
        description="the commit being deployed, as build systems set it; used when neither "
        "RELEASE_ID nor HEROKU_RELEASE_VERSION is set",
    )
    heroku_slug_commit: str | None = Field(
        default=None,
        description="the slug's commit, set by Heroku with runtime-dyno-metadata; used when "
        "none of RELEASE_ID, HEROKU_RELEASE_VERSION, SOURCE_VERSION is set",
    )
    heartbeat_interval_s: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="seconds between a process's heartbeats in Redis; a process is taken for dead after 3 missed beats",
    )
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="json | console | auto (console on a tty, JSON elsewhere)"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "debug", "info", "warning", "error"] = Field(
        default="INFO", description="DEBUG | INFO | WARNING | ERROR"
    )

    lock_ttl_ms: int = Field(default=30_000, ge=300, le=30_000, description="the task lock's TTL in ms (at most 30000)")
    worker_threads: int = Field(default=8, ge=1, description="actor threads per worker process")
    #: how long a worker waits for running actors after SIGTERM before it abandons them
    worker_shutdown_ms: int = Field(
        default=3_000, ge=0, description="after SIGTERM, how long running actors get (ms) before they are abandoned"
    )
    retry_max: int = Field(default=5, ge=0, description="retries of a transient error")
    retry_min_backoff_ms: int = Field(default=2_000, ge=1, description="first retry backoff (ms), doubled per retry")
    retry_max_backoff_ms: int = Field(default=60_000, ge=1, description="longest retry backoff (ms)")

    @property
    def deploy_release(self) -> str | None:
        """The release id the environment gives, if any (then the startup task runs once per release)."""
        for value in (self.release_id, self.heroku_release_version, self.source_version, self.heroku_slug_commit):
            if value and value.strip():
                return value.strip()
        return None

    @property
    def release(self) -> str:
        """The release a process reports (its heartbeat, logs): ``local`` when none is given."""
        return self.deploy_release or "local"


def task_schedules(env: Mapping[str, str] | None = None) -> dict[TaskName, str]:
    """Each task's schedule text: ``SCHEDULE_<TASK>`` or the contract's default."""
    env = os.environ if env is None else env
    return {
        task: env.get(f"SCHEDULE_{task.value.upper()}", default).strip() for task, default in DEFAULT_SCHEDULES.items()
    }
