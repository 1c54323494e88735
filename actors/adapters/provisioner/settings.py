"""The provisioner adapter's configuration (see README, "provisioner_trigger")."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ProvisionerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    provisioner_cooldown_s: int = Field(
        default=1800,
        ge=1,
        description="after a server is announced on provisioner:queue (by any task), no task announces it "
        "again for this many seconds",
    )
