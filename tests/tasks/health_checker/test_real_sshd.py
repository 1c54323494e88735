"""The probe and the health checker against a real OpenSSH ``sshd``, started by the test on a
loopback port with its own config, host key and authorized key in a temporary directory.

The commands reach the real ``df`` of this machine. ``docker`` is a shim script in a directory
that ``SetEnv PATH=…`` in sshd_config puts on the session's PATH (with ``HOME`` pointed at an
empty directory, so no shell profile adds anything): the probe's command strings are untouched,
and removing the shim gives a server where Docker is not installed at all.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
from types import SimpleNamespace

import asyncssh
import pytest

from actors.adapters.ssh.pool import ConnectionPool, PoolConfig
from actors.adapters.ssh.probe import ProbeConfig, SshProbe
from actors.tasks.health_checker.plan import Thresholds, assess
from actors.tasks.health_checker.task import SPEC
from contracts.health import CheckTarget, DockerState, FindingKind
from contracts.platform import ServerCreate, ServerStatus
from process.embedded import free_port
from sandbox.ssh.commands import DOCKER_DOWN_MESSAGE
from tests.support import Clock, running_worker, wait_until
from tests.tasks.health_checker.support import active, health_of, tick

SSHD = "/usr/sbin/sshd"
PS_LINES = [
    '{"Command":"\\"/docker-entrypoint.sh\\"","CreatedAt":"2024-05-01 09:12:44 +0000 UTC","ID":"4f1c","Image":"app:1",'
    '"Labels":"","LocalVolumes":"0","Mounts":"","Names":"web","Networks":"bridge","Ports":"",'
    '"RunningFor":"3 hours ago","Size":"0B","State":"running","Status":"Up 3 hours (healthy)"}',
    '{"Command":"\\"/api\\"","CreatedAt":"2024-05-01 09:12:44 +0000 UTC","ID":"9a2b","Image":"api:1","Labels":"",'
    '"LocalVolumes":"0","Mounts":"","Names":"api","Networks":"bridge","Ports":"","RunningFor":"2 hours ago",'
    '"Size":"0B","State":"running","Status":"Up 2 hours (unhealthy)"}',
]
SHIM = """#!/bin/sh
# builtins only: the session's PATH holds nothing but df and this script
printf '%s\\n' "$*" >> {dir}/docker-calls
read mode < {dir}/docker-mode
if [ "$mode" = running ]; then
  case "$1" in
    info) printf '%s\\n' '"24.0.7"' ;;
    ps) printf '%s\\n' '{ps0}' '{ps1}' ;;
    *) printf '%s\\n' "docker: '$1' is not a docker command." >&2; exit 1 ;;
  esac
else  # what the docker CLI 24 prints with the daemon stopped
  [ "$1" = info ] && printf '%s\\n' '""'
  printf '%s\\n' "{down}" >&2
  exit 1
fi
"""


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    if not os.access(SSHD, os.X_OK):
        pytest.fail(
            f"{SSHD} not found: install OpenSSH's server (apt-get install -y openssh-server; "
            ".ci/run does it) to run the real-sshd test"
        )
    d = tmp_path_factory.mktemp("sshd")
    host_key, client_key = asyncssh.generate_private_key("ssh-ed25519"), asyncssh.generate_private_key("ssh-ed25519")
    host_key.write_private_key(d / "host_key")
    client_key.write_private_key(d / "id_client")
    for name in ("host_key", "id_client"):
        (d / name).chmod(0o600)
    client_key.write_public_key(d / "authorized_keys")
    (d / "bin").mkdir()
    (d / "sys").mkdir()
    (d / "home").mkdir()
    for tool in ("df", "cat"):  # the session's PATH holds df, cat and our docker only
        (d / "sys" / tool).symlink_to(shutil.which(tool))
    (d / "docker-mode").write_text("running\n")
    shim = d / "bin" / "docker"
    shim.write_text(SHIM.format(dir=d, ps0=PS_LINES[0], ps1=PS_LINES[1], down=DOCKER_DOWN_MESSAGE))
    shim.chmod(0o755)
    port = free_port()
    (d / "sshd_config").write_text(f"""\
Port {port}
ListenAddress 127.0.0.1
HostKey {d / "host_key"}
PidFile {d / "sshd.pid"}
AuthorizedKeysFile {d / "authorized_keys"}
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AcceptEnv LANG LC_*
SetEnv PATH={d / "bin"}:{d / "sys"} HOME={d / "home"}
LogLevel VERBOSE
""")
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    log = open(d / "sshd.log", "wb")
    process = subprocess.Popen([SSHD, "-D", "-f", str(d / "sshd_config"), "-e"], stdout=log, stderr=log)

    def listening() -> bool:
        assert process.poll() is None, "sshd exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            return False
        return True

    try:
        wait_until(listening, timeout=10, interval=0.05)
    except AssertionError:
        process.kill()
        pytest.fail(f"sshd did not start: {(d / 'sshd.log').read_text()[-2000:]}")
    user = "root" if os.geteuid() == 0 else os.environ.get("USER", "root")
    public = host_key.export_public_key().decode().strip()
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {public}\n")
    yield SimpleNamespace(
        dir=d, port=port, user=user, host_key=public, key_path=d / "id_client", shim=shim, known_hosts=d / "known_hosts"
    )
    process.terminate()
    process.wait(10)
    log.close()


def target(sshd, **fields) -> CheckTarget:
    values = {"handle": "vps-sshd", "host": "127.0.0.1", "ssh_port": sshd.port, "ssh_user": sshd.user, **fields}
    return CheckTarget(**values)


def probe(sshd, mode: str = "running"):
    (sshd.dir / "docker-mode").write_text(mode + "\n")
    p = SshProbe(
        ProbeConfig(
            private_key_path=sshd.key_path,
            known_hosts_path=sshd.known_hosts,
            command_timeout_s=10,
            connect_timeout_s=10,
        )
    )
    return asyncio.run(p.check(target(sshd)))


def test_a_real_server_answers_the_constant_commands(sshd):
    (sshd.dir / "docker-calls").write_text("")
    result = probe(sshd)
    assert result.connected and result.findings == [], result.findings
    [root] = [d for d in result.disks if d.mount == "/"]
    assert 0 <= root.capacity_pct <= 100 and root.size_kb > 0
    assert (result.docker, result.docker_version, result.containers_total) == (DockerState.RUNNING, "24.0.7", 2)
    assert [(c.name, c.status) for c in result.container_issues] == [("api", "Up 2 hours (unhealthy)")]
    assert result.load is not None and result.uptime_s > 0 and result.memory.total_kb > 0, "this machine's /proc"
    assert result.containers_running == 2
    calls = sorted((sshd.dir / "docker-calls").read_text().splitlines())
    assert calls == ["info --format {{json .ServerVersion}}", "ps --all --no-trunc --format {{json .}}"]


def test_docker_down_and_docker_not_installed_are_told_apart(sshd):
    down = probe(sshd, "down")
    assert down.connected and down.docker is DockerState.DOWN
    assert "Docker daemon down" in assess(down, Thresholds()).reasons[0]
    sshd.shim.rename(sshd.dir / "docker.away")
    try:
        missing = probe(sshd)
    finally:
        (sshd.dir / "docker.away").rename(sshd.shim)
    assert missing.connected and missing.docker is DockerState.NOT_INSTALLED
    assert assess(missing, Thresholds()).reasons == ("Docker not installed: no docker command on the server",)


def connections_ended(sshd) -> int:
    """How many connections sshd has logged the end of, before or after authentication."""
    return len(re.findall(r"^(?:Disconnected from|Connection closed by) ", (sshd.dir / "sshd.log").read_text(), re.M))


def test_a_key_other_than_the_known_one_never_logs_in(sshd):
    accepted = (sshd.dir / "sshd.log").read_text().count("Accepted publickey")
    ended = connections_ended(sshd)
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    (sshd.dir / "known_hosts.wrong").write_text(f"[127.0.0.1]:{sshd.port} {impostor}\n")
    result = asyncio.run(
        SshProbe(ProbeConfig(private_key_path=sshd.key_path, known_hosts_path=sshd.dir / "known_hosts.wrong")).check(
            target(sshd)
        )
    )
    assert [f.kind for f in result.findings] == [FindingKind.HOST_KEY_MISMATCH]
    wait_until(lambda: connections_ended(sshd) > ended)  # sshd has logged all it will of this connection
    assert (sshd.dir / "sshd.log").read_text().count("Accepted publickey") == accepted


def test_end_to_end_through_the_worker(sshd, client, settings, platform, health):
    health(
        ssh_private_key_path=sshd.key_path,
        ssh_known_hosts=sshd.known_hosts,
        health_command_timeout_s=10.0,
        health_connect_timeout_s=10.0,
    )
    platform.store.bulk_insert_servers(
        [
            ServerCreate(
                handle="vps-sshd",
                host="127.0.0.1",
                public_ip="127.0.0.1",
                ssh_user=sshd.user,
                is_managed=True,
                status=ServerStatus.IN_USE,
                labels={"provider_id": "1", "ssh_port": sshd.port},
            )
        ]
    )
    status = lambda: health_of(client, "vps-sshd")  # noqa: E731
    (sshd.dir / "docker-mode").write_text("running\n")
    with running_worker(client, [SPEC], settings, deps=health.deps):
        assert tick(client)["checked"] == 1
        assert status() == "degraded", "the shim's api container is unhealthy (and / is below 95 % here)"
        record = platform.store.get_server("vps-sshd")
        assert record["last_health_check"] and record["uptime_seconds"] > 0 and record["used_ram_mb"] > 0
        assert platform.store.metrics_history_count("vps-sshd") == 1
        (sshd.dir / "docker-mode").write_text("down\n")
        tick(client)
        tick(client)
        assert status() == "unhealthy" and active(platform) == {"vps-sshd": {"service_down"}}
        [incident] = platform.store.list_incidents()
        assert "Docker daemon down" in incident["details"]["reason"]
        (sshd.dir / "docker-mode").write_text("running\n")
        healed = tick(client)
    assert healed["incidents_resolved"] == 1 and status() == "degraded" and active(platform) == {}


def test_kept_connection_one_login_in_the_auth_log_for_many_checks(sshd):
    """A real sshd's log: one ``Accepted publickey`` for five checks on a kept connection (720 a day
    become one per HEALTH_SSH_MAX_AGE_S), then one more once the connection is too old."""
    log = sshd.dir / "sshd.log"
    accepted = log.read_text().count("Accepted publickey")
    clock = Clock()
    config = PoolConfig(max_open=10, idle_s=300, max_age_s=3600, keepalive_s=0)
    p = SshProbe(
        ProbeConfig(
            private_key_path=sshd.key_path,
            known_hosts_path=sshd.known_hosts,
            command_timeout_s=10,
            connect_timeout_s=10,
            pool=config,
        )
    )
    pool = ConnectionPool(config, clock=clock)
    p._pools.get = lambda: pool  # the running loop's pool, on the test's clock

    async def scenario():
        results = [await p.check(target(sshd)) for _ in range(5)]
        logins_kept = log.read_text().count("Accepted publickey") - accepted
        clock.now += 3600
        results.append(await p.check(target(sshd)))
        await pool.aclose()
        return results, logins_kept

    results, logins_kept = asyncio.run(scenario())
    assert all(r.connected and r.docker is DockerState.RUNNING for r in results), [r.findings for r in results]
    assert logins_kept == 1
    assert log.read_text().count("Accepted publickey") - accepted == 2
