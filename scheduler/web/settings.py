"""The web process's configuration (``PORT``, the operator token, alerts)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    port: int = Field(
        default=8000,
        ge=1,
        le=65535,
        description="the web process's port (Heroku sets it); the dashboard, /metrics and /healthz",
    )
    web_host: str = Field(default="0.0.0.0", description="the address the web process binds")
    dashboard_token: SecretStr | None = Field(
        default=None,
        description="the operator token that allows pause, resume and trigger from the dashboard; "
        "unset: the dashboard is read-only",
    )
    web_refresh_s: float = Field(default=5.0, ge=1, description="how often the dashboard refreshes itself (s)")
    alert_webhook_url: SecretStr | None = Field(
        default=None, description="where alerts are POSTed (JSON with a Slack-compatible `text`); unset: no alerts sent"
    )
    alert_interval_s: float = Field(default=15.0, gt=0, description="how often alert conditions are evaluated (s)")
    alert_failures_in_a_row: int = Field(default=3, ge=1, description="a task failing this many runs in a row alerts")
    alert_stale_intervals: float = Field(
        default=3.0, gt=0, description="a task without a successful run for this many of its intervals alerts"
    )
    alert_unserved_for_s: float = Field(
        default=60.0,
        ge=0,
        description="how long a scheduled task must lack a live ticker or worker before it alerts (s)",
    )
    alert_timeout_s: float = Field(default=5.0, gt=0, description="one webhook attempt's timeout (s)")
    alert_max_attempts: int = Field(
        default=5, ge=1, description="webhook attempts per alert (backoff doubles from 1 s)"
    )
