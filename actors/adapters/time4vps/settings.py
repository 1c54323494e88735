"""``TIME4VPS_*``: where the Time4VPS user API is and how the adapter talks to it."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from process.errors import ConfigurationError


class Time4VpsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")
    #: a task using Time4VPS is "not configured" while none of these is set (``TaskSpec.credentials``)
    CREDENTIALS: ClassVar[frozenset[str]] = frozenset({"TIME4VPS_USERNAME", "TIME4VPS_PASSWORD"})

    time4vps_api_url: str = Field(
        default="https://billing.time4vps.com/api",
        description="the Time4VPS user API: https://billing.time4vps.com/api, or the sandbox",
    )
    time4vps_username: str = Field(min_length=1, description="the Time4VPS client-area username (Basic auth)")
    time4vps_password: SecretStr = Field(description="the Time4VPS client-area password (Basic auth)")
    time4vps_timeout_s: float = Field(default=30.0, gt=0, description="timeout of one Time4VPS request, in seconds")
    time4vps_max_attempts: int = Field(
        default=3,
        ge=1,
        description="attempts of a Time4VPS request on 5xx, network errors and bodies that are not JSON",
    )
    time4vps_max_wait_s: float = Field(
        default=30.0,
        ge=0,
        description="longest `wait_x_between_action` sat out inside a run, in "
        "seconds; a longer one ends the run's reading until the next tick",
    )

    @classmethod
    def from_env(cls) -> Time4VpsSettings:
        try:
            return cls()
        except ValidationError as exc:
            # Name the variables only: pydantic would quote the input, the password included.
            names = ", ".join(sorted({str(e["loc"][0]).upper() for e in exc.errors()}))
            raise ConfigurationError(f"Time4VPS not configured: check {names}") from None
