"""server_sync's own rules, from the environment (see README, "server_sync"). How Time4VPS is
reached (URL, credentials, timeouts, waits) is the Time4VPS adapter's: ``Time4VpsSettings``; how
often a server may be announced on provisioner:queue is the publisher's: ``ProvisionerSettings``."""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from actors.tasks.server_sync.plan import Allowlist, Rules


class ServerSyncSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    time4vps_managed_server_ids: str = Field(
        default="",
        description="Time4VPS server ids the scheduler manages (provisions, health-checks), "
        "comma-separated positive integers, as the platform reads the same variable; "
        "unset or empty manages none; `*` is refused (the platform refuses it too): "
        "see TIME4VPS_MANAGE_ALL",
    )
    time4vps_manage_all: bool = Field(
        default=False,
        description="manage every server of the account (TIME4VPS_MANAGED_SERVER_IDS empty); "
        "the platform's own provisioning still needs the ids on its list",
    )
    time4vps_missing_after: int = Field(
        default=3,
        ge=1,
        description="complete Time4VPS listings in a row without a server before its record is `missing`",
    )
    time4vps_max_details_per_run: int = Field(
        default=100,
        ge=1,
        description="server details (GET /server/{id}) read per run at most; the rest follow at later runs",
    )

    # refused at start, not at the first run; each error names its variable
    @field_validator("time4vps_managed_server_ids")
    @classmethod
    def _parses(cls, value: str) -> str:
        Allowlist.parse(value)
        return value

    @field_validator("time4vps_manage_all")
    @classmethod
    def _alone(cls, value: bool, info: ValidationInfo) -> bool:
        Allowlist.parse(info.data.get("time4vps_managed_server_ids", ""), value)
        return value

    def rules(self) -> Rules:
        return Rules(
            Allowlist.parse(self.time4vps_managed_server_ids, self.time4vps_manage_all), self.time4vps_missing_after
        )
