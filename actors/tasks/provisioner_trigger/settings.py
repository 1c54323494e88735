"""provisioner_trigger's own rules, from the environment (see README, "provisioner_trigger")."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ProvisionerTriggerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    provisioning_stuck_after_s: int = Field(
        default=1800,
        ge=1,
        description="a managed server in `provisioning` whose record has not changed for this many seconds "
        "is announced again",
    )
    provisioner_max_per_run: int = Field(
        default=50,
        ge=1,
        description="at most this many announcements a run, so a mass failure does not flood the provisioner; "
        "the rest follow in later runs",
    )
