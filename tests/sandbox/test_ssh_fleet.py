"""The sandbox SSH fleet, driven by a real asyncssh client as the health probe will drive it."""

from __future__ import annotations

import asyncio
import json
import resource
import shlex
import shutil
import socket
import subprocess
import time

import asyncssh
import pytest

from actors.adapters.ssh.probe import health_script
from sandbox.ssh import fleet as ssh_fleet
from sandbox.ssh.commands import (
    DF_COMMAND,
    DF_MOUNTS_COMMAND,
    DOCKER_DOWN_MESSAGE,
    DOCKER_PS_COMMAND,
    DOCKER_VERSION_COMMAND,
    ECHO_COMMAND,
    PROBE_COMMANDS,
    TRUE_COMMAND,
    run_command,
    run_line,
)
from sandbox.ssh.fleet import SshFleet
from sandbox.ssh.hoststate import Container, HostState, SshMode

DF_HEADER = "Filesystem     1024-blocks      Used Available Capacity Mounted on"
DOCKER_PS_KEYS = {
    "Command",
    "CreatedAt",
    "ID",
    "Image",
    "Labels",
    "LocalVolumes",
    "Mounts",
    "Names",
    "Networks",
    "Ports",
    "RunningFor",
    "Size",
    "State",
    "Status",
}


@pytest.fixture(scope="module")
def fleet():
    with SshFleet() as fleet:
        yield fleet


async def _session(fleet, host, commands, *, client_key=None, known_hosts=None, timeout=5.0):
    async with asyncssh.connect(
        host.address,
        host.port,
        username="root",
        config=None,
        agent_path=None,
        known_hosts=known_hosts if known_hosts is not None else str(fleet.known_hosts_path),
        client_keys=[client_key or str(fleet.client_key_path)],
        connect_timeout=timeout,
    ) as conn:
        return [await conn.run(command, check=False, timeout=timeout) for command in commands]


def ssh(fleet, host, *commands, **options) -> list[asyncssh.SSHCompletedProcess]:
    """One connection, one exec channel per command, like the probe."""
    return asyncio.run(_session(fleet, host, commands, **options))


def capacities(df_output: str) -> dict[str, int]:
    """Mount point -> Capacity, the way a probe would read ``df -P``."""
    lines = df_output.splitlines()
    assert lines[0] == DF_HEADER
    return {fields[5]: int(fields[4].rstrip("%")) for fields in (line.split(None, 5) for line in lines[1:])}


def containers(ps_output: str) -> dict[str, dict]:
    return {row["Names"]: row for row in map(json.loads, ps_output.splitlines())}


def test_a_healthy_host_answers_every_probe_command_with_a_verified_host_key(fleet):
    host = fleet.add_host()
    df, version, ps, true, echo = ssh(fleet, host, *PROBE_COMMANDS)

    assert capacities(df.stdout) == {"/": 40}
    assert df.stdout.splitlines()[1] == "/dev/vda1        524288000 199229440 298844160      40% /"
    assert (version.exit_status, version.stdout) == (0, '"24.0.7"\n')
    [web] = map(json.loads, ps.stdout.splitlines())
    assert set(web) == DOCKER_PS_KEYS
    assert (web["Names"], web["State"], web["Status"]) == ("web", "running", "Up 3 hours (healthy)")
    assert len(web["ID"]) == 64  # --no-trunc
    assert (true.exit_status, true.stdout, echo.stdout) == (0, "", "ok\n")
    assert all(result.stderr == "" for result in (df, version, ps, true, echo))


def test_client_key_file_known_hosts_and_pinned_key_are_usable(fleet):
    host = fleet.add_host()
    assert fleet.client_key_path.stat().st_mode & 0o777 == 0o600
    assert host.known_hosts_line in fleet.known_hosts_path.read_text().splitlines()
    assert host.public_key.startswith("ssh-ed25519 ") and len(host.public_key.split()) == 2

    pinned = asyncssh.import_known_hosts(f"[{host.address}]:{host.port} {host.public_key}\n")
    [echo] = ssh(fleet, host, ECHO_COMMAND, known_hosts=pinned)
    assert echo.stdout == "ok\n"


def test_a_nearly_full_disk_shows_in_df(fleet):
    host = fleet.add_host(state=HostState.disk_nearly_full(97))
    [df, df_root] = ssh(fleet, host, DF_COMMAND, f"{DF_MOUNTS_COMMAND} /")
    assert capacities(df.stdout) == capacities(df_root.stdout) == {"/": 97}


def test_df_reports_each_mount_asked_for_in_order(fleet):
    host = fleet.add_host(state=HostState(disks={"/": 35, "/var/lib/docker": 91, "/data": 12}))
    every, some, missing = ssh(
        fleet, host, DF_COMMAND, f"{DF_MOUNTS_COMMAND} /data /var/lib/docker /", f"{DF_MOUNTS_COMMAND} / relative/path"
    )
    assert capacities(every.stdout) == {"/": 35, "/var/lib/docker": 91, "/data": 12}
    assert [line.split()[5] for line in some.stdout.splitlines()[1:]] == ["/data", "/var/lib/docker", "/"]
    # Like GNU df: the table for what it found, an error for the rest, exit status 1.
    assert capacities(missing.stdout) == {"/": 35}
    assert (missing.stderr, missing.exit_status) == ("df: relative/path: No such file or directory\n", 1)


def test_commands_are_parsed_not_matched_verbatim():
    state = HostState(disks={"/": 35, "/var": 60})
    assert capacities(run_command("df -P -k / /var/log", state).stdout) == {"/": 35, "/var": 60}
    assert run_command("df  -Pk  /var", state).stdout == run_command(f"{DF_MOUNTS_COMMAND} /var", state).stdout
    assert (
        run_command(shlex.join(["docker", "ps", "-a", "--no-trunc", "--format={{json .}}"]), state).stdout
        == run_command(DOCKER_PS_COMMAND, state, now=time.time()).stdout
    )
    assert run_command('docker info -f "{{json .ServerVersion}}"', state).stdout == '"24.0.7"\n'
    assert run_command("df -P /var", state).stdout == run_command("df -P -k /var", state).stdout


def test_docker_down_fails_both_docker_commands_like_the_cli(fleet):
    host = fleet.add_host(state=HostState.docker_down())
    version, ps, df = ssh(fleet, host, DOCKER_VERSION_COMMAND, DOCKER_PS_COMMAND, DF_COMMAND)
    for result in (version, ps):
        assert (result.exit_status, result.stdout, result.stderr) == (1, "", DOCKER_DOWN_MESSAGE + "\n")
    assert DOCKER_DOWN_MESSAGE.startswith("Cannot connect to the Docker daemon at unix:///var/run/docker.sock.")
    assert df.exit_status == 0


def test_restarting_unhealthy_and_exited_containers_read_like_docker_ps(fleet):
    state = HostState(
        containers=[
            Container("web", since_s=3 * 3600),
            Container("api", health="unhealthy", since_s=150),
            Container("worker", state="restarting", exit_code=1, since_s=5),
            Container("cron", state="exited", exit_code=137, health=None, since_s=2 * 3600),
            Container("boot", health="starting", since_s=30),
            Container("proxy", health=None, since_s=90),
        ]
    )
    host = fleet.add_host(state=state)
    [ps] = ssh(fleet, host, DOCKER_PS_COMMAND)
    rows = containers(ps.stdout)
    assert {name: row["Status"] for name, row in rows.items()} == {
        "web": "Up 3 hours (healthy)",
        "api": "Up 2 minutes (unhealthy)",
        "worker": "Restarting (1) 5 seconds ago",
        "cron": "Exited (137) 2 hours ago",
        "boot": "Up 30 seconds (health: starting)",
        "proxy": "Up About a minute",
    }
    assert rows["worker"]["State"] == "restarting" and rows["cron"]["State"] == "exited"
    assert all(set(row) == DOCKER_PS_KEYS for row in rows.values())
    # Without --all, docker ps leaves out stopped containers.
    [running] = ssh(fleet, host, "docker ps --no-trunc --format '{{json .}}'")
    assert set(containers(running.stdout)) == {"web", "api", "worker", "boot", "proxy"}


def test_an_unknown_command_is_not_found_and_never_runs(fleet, tmp_path):
    host = fleet.add_host()
    marker = tmp_path / "ran"
    unknown, touch, quoted = ssh(fleet, host, "systemctl restart docker", f"touch {marker}", "echo 'oops")
    assert (unknown.exit_status, unknown.stderr) == (127, "sh: 1: systemctl: not found\n")
    assert touch.exit_status == 127 and not marker.exists()
    assert quoted.exit_status == 2 and "Syntax error" in quoted.stderr


def test_an_unreachable_host_refuses_connections_until_it_comes_back(fleet):
    host = fleet.add_host(state=HostState(mode=SshMode.UNREACHABLE))
    with pytest.raises(ConnectionRefusedError):
        ssh(fleet, host, TRUE_COMMAND)
    assert not host.listening and host.counters.connections == 0

    fleet.set_mode(host.address, SshMode.NORMAL)
    assert ssh(fleet, host, ECHO_COMMAND)[0].stdout == "ok\n"
    fleet.set_mode(host.address, SshMode.UNREACHABLE)
    with pytest.raises(ConnectionRefusedError):
        ssh(fleet, host, TRUE_COMMAND)


def test_a_slow_host_exceeds_a_short_client_timeout_but_answers_a_patient_one(fleet):
    host = fleet.add_host(state=HostState(mode=SshMode.SLOW, delay_s=1.0))
    with pytest.raises(asyncio.TimeoutError):
        ssh(fleet, host, ECHO_COMMAND, timeout=0.3)

    started = time.monotonic()
    [echo] = ssh(fleet, host, ECHO_COMMAND, timeout=5)
    assert echo.stdout == "ok\n" and time.monotonic() - started >= 1.0

    fleet.set_state(host.address, HostState(mode=SshMode.SLOW, delay_s=2.0, delay_handshake=True))
    commands_before = host.counters.commands_run
    with pytest.raises(asyncio.TimeoutError):  # now the connect itself (authentication) times out
        ssh(fleet, host, TRUE_COMMAND, timeout=0.5)
    assert host.counters.commands_run == commands_before  # no command ever reached the host


def test_a_wrong_host_key_fails_verification_against_known_hosts_and_the_pin(fleet):
    host = fleet.add_host(state=HostState(mode=SshMode.WRONG_HOST_KEY))
    pinned = asyncssh.import_known_hosts(f"[{host.address}]:{host.port} {host.public_key}\n")
    for known_hosts in (str(fleet.known_hosts_path), pinned):
        with pytest.raises(asyncssh.HostKeyNotVerifiable):
            ssh(fleet, host, TRUE_COMMAND, known_hosts=known_hosts)
    assert host.counters.connections == 2 and host.counters.commands_run == 0

    fleet.set_mode(host.address, SshMode.NORMAL)
    assert ssh(fleet, host, ECHO_COMMAND)[0].stdout == "ok\n"


def test_a_client_key_the_fleet_does_not_know_is_refused_until_authorised(fleet, tmp_path):
    host = fleet.add_host()
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    with pytest.raises(asyncssh.PermissionDenied):
        ssh(fleet, host, TRUE_COMMAND, client_key=stranger)
    assert host.counters.auth_failures == 1 and host.counters.commands_run == 0

    fleet.authorize_client_key(stranger.export_public_key().decode())
    assert ssh(fleet, host, ECHO_COMMAND, client_key=stranger)[0].stdout == "ok\n"


def test_state_changes_at_runtime_show_in_the_next_answers(fleet):
    host = fleet.add_host()
    assert capacities(ssh(fleet, host, DF_COMMAND)[0].stdout) == {"/": 40}

    fleet.set_state(host.address, HostState.disk_nearly_full(99))
    assert capacities(ssh(fleet, host, DF_COMMAND)[0].stdout) == {"/": 99}

    host.state.docker_running = False  # data fields may also be changed in place
    assert ssh(fleet, host, DOCKER_VERSION_COMMAND)[0].exit_status == 1

    host.state.mode = SshMode.UNREACHABLE  # a mode changed in place takes effect at sync()
    fleet.sync([host.address])
    with pytest.raises(ConnectionRefusedError):
        ssh(fleet, host, TRUE_COMMAND)


def test_hosts_can_be_added_and_removed_while_running(fleet):
    host = fleet.add_host(address="127.1.200.7")
    assert host.address == "127.1.200.7" and ssh(fleet, host, TRUE_COMMAND)[0].exit_status == 0

    fleet.remove_host(host.address)
    assert host.address not in fleet.hosts
    assert host.known_hosts_line not in fleet.known_hosts_path.read_text()
    with pytest.raises(ConnectionRefusedError):
        ssh(fleet, host, TRUE_COMMAND)
    with pytest.raises(ValueError, match="already in the fleet"):
        fleet.add_host(address=next(iter(fleet.hosts)))


@pytest.mark.slow
def test_three_hundred_hosts_answer_concurrently_each_with_its_own_key(fleet):
    hosts = fleet.add_hosts(300, make_state=lambda: HostState(disks={"/": 50}))
    known_hosts = asyncssh.read_known_hosts(str(fleet.known_hosts_path))  # parsed once for all connects

    async def probe_all():
        return await asyncio.gather(
            *(_session(fleet, host, [DF_COMMAND, ECHO_COMMAND], known_hosts=known_hosts, timeout=60) for host in hosts)
        )

    results = asyncio.run(probe_all())
    assert [echo.stdout for _, echo in results] == ["ok\n"] * 300
    assert all(capacities(df.stdout) == {"/": 50} for df, _ in results)
    assert len({host.public_key for host in hosts}) == 300
    assert all((h.counters.connections, h.counters.commands_run) == (1, 2) for h in hosts)


def test_counters_count_connections_auth_failures_and_commands(fleet):
    host = fleet.add_host()
    ssh(fleet, host, DF_COMMAND, DF_COMMAND, ECHO_COMMAND)
    ssh(fleet, host, "reboot")
    with pytest.raises(asyncssh.PermissionDenied):
        ssh(fleet, host, TRUE_COMMAND, client_key=asyncssh.generate_private_key("ssh-ed25519"))

    counters = host.counters
    assert (counters.connections, counters.auth_failures, counters.commands_run) == (3, 1, 4)
    assert counters.commands == {DF_COMMAND: 2, ECHO_COMMAND: 1, "reboot": 1}
    assert fleet.totals().connections >= 3

    fleet.reset_counters()
    assert host.counters.connections == 0 and fleet.totals().commands_run == 0


@pytest.mark.parametrize("address", ["10.0.0.1", "192.168.1.5", "127.0.0.1", "::1", "example.com"])
def test_only_loopback_addresses_other_than_localhost_are_accepted(fleet, address):
    with pytest.raises(ValueError, match="loopback|reserved"):
        fleet.add_host(address=address)


def test_a_too_low_open_files_limit_is_raised_or_reported_clearly(monkeypatch):
    raised = []
    monkeypatch.setattr(resource, "getrlimit", lambda _: (1024, 4096))
    monkeypatch.setattr(resource, "setrlimit", lambda _, limits: raised.append(limits))
    ssh_fleet._ensure_open_files(2000)
    assert raised == [(4096, 4096)]
    with pytest.raises(RuntimeError, match=r"10000 SSH fleet hosts need about 11024 open files .* hard limit is 4096"):
        ssh_fleet._ensure_open_files(10_000)


def test_stopping_the_fleet_closes_every_listener_and_its_files():
    fleet = SshFleet().start()
    host = fleet.add_host()
    assert ssh(fleet, host, TRUE_COMMAND)[0].exit_status == 0
    fleet.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host.address, host.port), timeout=2)
    assert not fleet.directory.exists()


# --- the one-line script of the probe: ; $? 2>&1 -----------------------------------------------


def test_the_probe_script_runs_as_one_exec_line(fleet):
    host = fleet.add_host(state=HostState(disks={"/": 40, "/var/lib/docker": 96}))
    [script] = ssh(fleet, host, health_script(("/", "/var/lib/docker", "/nope")))
    assert script.exit_status == 0 and script.stderr == ""  # /nope is on / in the sandbox
    lines = script.stdout.splitlines()
    assert lines[0] == DF_HEADER and lines[4] == "HEALTHCHECK-7d3f91c2 df 0"  # three rows: /nope is on /
    assert lines[5:7] == ['"24.0.7"', "HEALTHCHECK-7d3f91c2 info 0"]
    assert json.loads(lines[7])["Names"] == "web" and lines[8] == "HEALTHCHECK-7d3f91c2 ps 0"
    assert lines[9:13] == [
        "0.15 0.10 0.05 1/123 4567",
        "HEALTHCHECK-7d3f91c2 load 0",
        "864000.00 1728000.00",
        "HEALTHCHECK-7d3f91c2 up 0",
    ]
    assert lines[13].startswith("MemTotal:") and lines[-1] == "HEALTHCHECK-7d3f91c2 mem 0"
    assert dict(host.counters.commands) == {health_script(("/", "/var/lib/docker", "/nope")): 1}
    fleet.set_state(host.address, HostState(docker_running=False))
    [down] = ssh(fleet, host, health_script(("/",)))
    assert down.stdout.splitlines()[3:7] == [
        DOCKER_DOWN_MESSAGE,
        "HEALTHCHECK-7d3f91c2 info 1",
        DOCKER_DOWN_MESSAGE,
        "HEALTHCHECK-7d3f91c2 ps 1",
    ]


def test_sequences_status_and_stderr_merge_follow_the_shell():
    state = HostState(disks={"/data": 40})  # /missing is on no filesystem
    run = lambda line: run_line(line, state, now=0.0)  # noqa: E731
    assert run("df -P -k /missing; echo M $?").stdout == "M 1\n"
    assert run("df -P -k /missing; echo M $?").stderr == "df: /missing: No such file or directory\n"
    merged = run("df -P -k /missing 2>&1; echo M $?")
    assert (merged.stdout, merged.stderr) == ("df: /missing: No such file or directory\nM 1\n", "")
    assert run("frob; echo $?; true; echo $?").stdout == "127\n0\n"
    assert run("echo '$?' \"$?\" \\$? '2>&1' 'a;b'").stdout == "$? 0 $? 2>&1 a;b\n"
    assert run("echo a;").stdout == "a\n"
    # anything beyond ; $? and a trailing 2>&1 stays what a single command always was
    assert run("docker ps 2>/dev/null").exit_status == 127
    assert run("echo a | frob") == run_command("echo a | frob", state)
    assert run("echo $(id); echo x").stdout == "$(id)\nx\n"  # nothing is ever executed
    for bad, token in (("echo a;; echo b", ";;"), ("; echo a", ";"), ("echo a; ; echo b", ";")):
        result = run(bad)
        assert (result.stdout, result.stderr, result.exit_status) == (
            "",
            f'sh: 1: Syntax error: "{token}" unexpected\n',
            2,
        ), bad
    assert run("echo 'a; echo b").stderr == "sh: 1: Syntax error: Unterminated quoted string\n"
    assert run_line(DF_COMMAND, state) == run_command(DF_COMMAND, state)  # a plain command: unchanged


@pytest.mark.parametrize(
    "line",
    [
        "echo a; frob; echo M $?",
        "frob 2>&1; echo \"$?\" '$?' \\$?",
        "true; echo $?;",
        "echo a;; echo b",
        "; echo a",
        "echo a; ; echo b",
        "echo 'x;y' \"2>&1\"; echo $?",
    ],
)
def test_the_sandbox_shell_answers_like_dash(line):
    dash = shutil.which("dash")
    assert dash, "dash (Debian's /bin/sh, the shell the sandbox emulates) must be installed for this comparison"
    real = subprocess.run(
        ["sh", "-c", line], executable=dash, capture_output=True, text=True, env={"PATH": "/nonexistent"}
    )
    ours = run_line(line, HostState())
    assert (ours.stdout, ours.stderr, ours.exit_status) == (real.stdout, real.stderr, real.returncode)
