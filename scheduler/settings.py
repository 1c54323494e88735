"""Configuration from the environment (pydantic-settings), one place for every process."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts import DEFAULT_SCHEDULES, TaskName


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    #: unset means "no Redis configured": only `scheduler demo` starts an embedded one
    redis_url: str | None = None
    #: identifies a deploy; the startup task runs once per release
    release_id: str | None = Field(default=None, validation_alias="RELEASE_ID")
    heroku_release_version: str | None = None
    log_format: str = Field(default="auto", description="json | console | auto (console on a tty)")
    log_level: str = "INFO"

    lock_ttl_ms: int = Field(default=30_000, ge=300, le=30_000)
    worker_threads: int = Field(default=8, ge=1)
    #: how long a worker waits for running actors after SIGTERM before it abandons them
    worker_shutdown_ms: int = Field(default=3_000, ge=0)
    retry_max: int = Field(default=5, ge=0)
    retry_min_backoff_ms: int = Field(default=2_000, ge=1)
    retry_max_backoff_ms: int = Field(default=60_000, ge=1)

    @property
    def release(self) -> str:
        return self.release_id or self.heroku_release_version or "local"


def task_schedules(env: Mapping[str, str] | None = None) -> dict[TaskName, str]:
    """Each task's schedule text: ``SCHEDULE_<TASK>`` or the contract's default."""
    env = os.environ if env is None else env
    return {
        task: env.get(f"SCHEDULE_{task.value.upper()}", default).strip()
        for task, default in DEFAULT_SCHEDULES.items()
    }


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
