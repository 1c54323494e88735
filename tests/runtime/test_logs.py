"""Secrets never reach a log line, whoever logs them."""

from __future__ import annotations

import logging

import structlog
from pydantic import SecretStr

from process import logs


def test_credentials_from_the_environment_are_scrubbed_from_every_line(capsys):
    logs.register_env_secrets(
        {
            "GITHUB_TOKEN": "ghp_planted0123456789",
            "SSH_PRIVATE_KEY_PATH": "/keys/id",
            "TIME4VPS_PASSWORD": "hunter2-planted",
        }
    )
    logs.configure_logging("json", "INFO")
    structlog.get_logger("t").info("calling GitHub", url="https://x/?access_token=ghp_planted0123456789")
    logging.getLogger("httpx").warning("auth failed for hunter2-planted")  # a library's own line
    structlog.get_logger("t").info("connecting", key_path="/keys/id", password=SecretStr("x"))
    err = capsys.readouterr().err
    assert "ghp_planted0123456789" not in err and "hunter2-planted" not in err
    assert err.count(logs.REDACTED) == 3
    assert "/keys/id" in err, "paths are not secrets"


def test_secret_named_fields_are_redacted_even_when_unregistered(capsys):
    logs.configure_logging("json", "INFO")
    structlog.get_logger("t").info("login", api_key="abc123", authorization="Bearer zzz", user="root")
    err = capsys.readouterr().err
    assert "abc123" not in err and "zzz" not in err and '"user": "root"' in err
