"""structlog set-up: a pipeline of small processors, JSON in production, console locally.

Library logs (Dramatiq, httpx, asyncssh) go through the same pipeline, so the redaction
processor sees every line the process writes.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable
from urllib.parse import urlsplit

import structlog
from pydantic import SecretStr

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(r"(token|password|passwd|secret|private_key|api_key|authorization|credential)", re.I)
_SECRET_ENV = re.compile(r"(TOKEN|PASSWORD|PASSWD|SECRET|PRIVATE_KEY|API_KEY|CREDENTIAL)", re.I)
#: The secret values scrubbed from every log line. Module-level on purpose: the logging pipeline it
#: serves is the process's own (``structlog.configure``, the root handler) and every library's log
#: lines (httpx, asyncssh, Dramatiq) pass through it with nothing we could hand a parameter to. It is
#: fed in three places only: the environment, when logging is configured (``register_env_secrets``);
#: every settings object the dependencies read (``actors.tasks.deps``); and the few values learned at
#: run time (a GitHub installation token, a key read from a file), where they are learned.
_known_secrets: set[str] = set()


def register_secrets(values: Iterable[str | SecretStr | None]) -> None:
    """Remember secret values so that they are scrubbed from any log line that quotes them."""
    for value in values:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if raw and len(raw) >= 4:
            _known_secrets.add(raw)


def _scrub(text: str) -> str:
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_secrets(_logger, _method, event: dict) -> dict:
    """Processor: no secret leaves the process through a log line."""
    for key, value in list(event.items()):
        if isinstance(value, SecretStr) or (_SECRET_KEY.search(key) and value not in (None, "", False)):
            event[key] = REDACTED
        elif isinstance(value, str):
            event[key] = _scrub(value)
    return event


def _drop_color_message(_logger, _method, event: dict) -> dict:
    event.pop("color_message", None)  # uvicorn duplicates its message with ANSI codes
    return event


def register_env_secrets(env: dict[str, str] | None = None) -> None:
    """Every credential the process was given (``*_TOKEN``, ``*_PASSWORD``, ``*_KEY``, …) is
    scrubbed from log lines, whichever module ends up quoting it."""
    env = os.environ if env is None else env
    register_secrets(
        value
        for name, value in env.items()
        if _SECRET_ENV.search(name) and not name.endswith(("_PATH", "_URL", "_FILE", "_ID"))
    )
    # Whole URLs that are credentials: a Slack webhook's path is its token, a dead-man ping URL
    # lets anyone report for the task (scheduler.web.alerts, actors.runtime.middleware.pings).
    register_secrets(
        value for name, value in env.items() if (name == "ALERT_WEBHOOK_URL" or name.startswith("PING_URL_")) and value
    )
    # A URL's password (Heroku Redis: rediss://:<password>@host) is a credential too.
    register_secrets(urlsplit(value).password for name, value in env.items() if name.endswith("_URL") and "@" in value)


def configure_logging(fmt: str = "auto", level: str = "INFO") -> None:
    register_env_secrets()
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_color_message,
    ]
    renderer = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "asyncssh"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
