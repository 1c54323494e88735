"""Files as config vars: the SSH key and known_hosts given inline (as on Heroku) log in to a
real asyncssh server, are kept in memory only, and never reach a log line."""

from __future__ import annotations

import asyncio
import io
import logging

import asyncssh
import pytest

from actors.adapters.ssh.probe import SshProbe
from actors.adapters.ssh.settings import SshSettings
from contracts.health import CheckTarget, FindingKind
from process.logs import get_logger
from process.misconfiguration import SettingError
from sandbox.ssh.fleet import SshFleet


@pytest.fixture(scope="module")
def fleet():
    with SshFleet() as fleet:
        yield fleet


def unpinned(host) -> CheckTarget:
    """A server record without pinned keys: only known_hosts can vouch for it."""
    return CheckTarget(handle="vps-inline", host=host.address, ssh_port=host.port)


def check(settings: SshSettings, host):
    return asyncio.run(SshProbe(settings.probe_config()).check(unpinned(host)))


def one_line(text: str) -> str:
    """How a multi-line value looks pasted into a one-line config var UI."""
    return text.strip().replace("\n", "\\n")


def test_an_inline_key_and_known_hosts_log_in_with_no_file(fleet, monkeypatch):
    host = fleet.add_host()
    monkeypatch.setenv("SSH_PRIVATE_KEY", fleet.client_key_path.read_text())
    monkeypatch.setenv("SSH_KNOWN_HOSTS_DATA", one_line(fleet.known_hosts_path.read_text()))
    for name in ("SSH_PRIVATE_KEY_PATH", "SSH_KNOWN_HOSTS"):
        monkeypatch.delenv(name, raising=False)
    settings = SshSettings()
    config = settings.probe_config()
    assert config.private_key_path is None and config.known_hosts_path is None
    result = asyncio.run(SshProbe(config).check(unpinned(host)))
    assert result.connected and result.findings == []


def test_an_escaped_passphrase_protected_key_made_by_asyncssh(fleet, monkeypatch):
    key = asyncssh.generate_private_key("ssh-ed25519")
    fleet.authorize_client_key(key.export_public_key().decode())
    # PKCS#8: an encrypted key in OpenSSH's own format would need the optional bcrypt package
    pem = key.export_private_key("pkcs8-pem", passphrase="correct horse").decode()
    host = fleet.add_host()
    monkeypatch.setenv("SSH_PRIVATE_KEY", one_line(pem))
    monkeypatch.setenv("SSH_PRIVATE_KEY_PASSPHRASE", "correct horse")
    monkeypatch.setenv("SSH_KNOWN_HOSTS_DATA", fleet.known_hosts_path.read_text())
    result = check(SshSettings(), host)
    assert result.connected and result.findings == []

    monkeypatch.setenv("SSH_PRIVATE_KEY_PASSPHRASE", "wrong")
    with pytest.raises(asyncssh.KeyImportError) as refused:
        SshProbe(SshSettings().probe_config())
    assert pem.splitlines()[1] not in str(refused.value)


def test_a_host_not_in_the_inline_known_hosts_is_not_connected_to(fleet, monkeypatch):
    stranger = fleet.add_host()
    known = [line for line in fleet.known_hosts_path.read_text().splitlines() if stranger.address not in line]
    monkeypatch.setenv("SSH_PRIVATE_KEY", fleet.client_key_path.read_text())
    monkeypatch.setenv("SSH_KNOWN_HOSTS_DATA", "\n".join(known))
    result = check(SshSettings(), stranger)
    assert not result.connected and [f.kind for f in result.findings] == [FindingKind.HOST_KEY_UNKNOWN]
    assert stranger.counters.commands == {}


def test_the_inline_key_never_reaches_a_log_line_nor_a_repr(fleet, monkeypatch):
    key_text = fleet.client_key_path.read_text()
    body = [line for line in key_text.splitlines() if "-----" not in line]
    monkeypatch.setenv("SSH_PRIVATE_KEY", key_text)
    settings = SshSettings()
    config = settings.probe_config()
    SshProbe(config)  # loading it registers it with the log redaction
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.getLogger().handlers[0].formatter)  # the production pipeline
    logging.getLogger().addHandler(handler)
    try:
        get_logger("test").error("oops", detail=f"ssh said: {key_text}", fragment=body[1])
    finally:
        logging.getLogger().removeHandler(handler)
    logged = stream.getvalue()
    assert "oops" in logged and "[redacted]" in logged
    assert not any(line in logged for line in body)
    assert not any(line in repr(settings) + repr(config) for line in body)


def test_a_key_given_twice_or_not_at_all_is_refused_by_name(fleet, monkeypatch):
    monkeypatch.setenv("SSH_PRIVATE_KEY", fleet.client_key_path.read_text())
    monkeypatch.setenv("SSH_PRIVATE_KEY_PATH", str(fleet.client_key_path))
    with pytest.raises(SettingError) as twice:
        SshSettings().probe_config()
    assert twice.value.variable == "SSH_PRIVATE_KEY" and "not both" in twice.value.message
    for name in ("SSH_PRIVATE_KEY", "SSH_PRIVATE_KEY_PATH"):
        monkeypatch.delenv(name)
    with pytest.raises(SettingError, match="SSH_PRIVATE_KEY_PATH"):
        SshSettings().probe_config()
