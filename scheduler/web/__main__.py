"""``python -m scheduler.web``: the web process (Procfile ``web:``), bound to ``$PORT``.

It serves the dashboard, ``/metrics`` and ``/healthz``, evaluates the alerts and delivers them,
reads the open incidents in the background, and keeps its own heartbeat (role ``web``). Uvicorn
handles SIGTERM: in-flight requests finish, then the heartbeat is removed.
"""

from __future__ import annotations

from process.noise import quiet_asyncssh_dsa

quiet_asyncssh_dsa()  # before anything imports asyncssh: process/noise.py

import sys

import uvicorn

from process.connection import RedisCertificateRefused, RedisNotConfigured, check_redis, redis_from_url
from process.heartbeats import HeartbeatWriter
from process.logs import configure_logging, get_logger
from process.settings import Settings
from scheduler.web.alerts import AlertLoop
from scheduler.web.app import create_app
from scheduler.web.fleet import OpenIncidents
from scheduler.web.settings import WebSettings

log = get_logger("scheduler.web")


def main() -> int:
    settings, web = Settings(), WebSettings()
    configure_logging(settings.log_format, settings.log_level)
    try:
        client = redis_from_url(settings.redis_url, settings)
        check_redis(client)
    except (RedisNotConfigured, RedisCertificateRefused) as exc:
        print(f"web: {exc}", file=sys.stderr)
        return 78
    heartbeat = HeartbeatWriter(client, "web", release=settings.release)
    incidents = OpenIncidents()
    alerts = AlertLoop(client, web)
    app = create_app(client, web, incidents)
    heartbeat.start()
    incidents.start()
    alerts.start()
    log.info(
        "web.started",
        port=web.port,
        actions="on" if web.dashboard_token else "off",
        alerts="webhook" if web.alert_webhook_url else "dashboard only",
    )
    try:
        uvicorn.run(
            app, host=web.web_host, port=web.port, log_config=None, access_log=False, timeout_graceful_shutdown=3
        )
    finally:
        alerts.stop()
        incidents.stop()
        heartbeat.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
