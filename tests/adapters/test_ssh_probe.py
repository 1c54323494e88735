"""The SSH probe against the sandbox fleet: host keys, constant commands, timeouts, bounds."""

from __future__ import annotations

import asyncio
import time

import asyncssh
import pytest
from pydantic import ValidationError

from actors.adapters.ssh import probe as ssh_probe
from actors.adapters.ssh.probe import ProbeConfig, SshProbe, health_script
from contracts.health import CheckTarget, DockerState, FindingKind
from sandbox.ssh.fleet import SshFleet
from sandbox.ssh.hoststate import Container, HostState, SshMode

CONSTANT_COMMANDS = {health_script(("/",))}  # one exec channel: df, docker info, docker ps, /proc


@pytest.fixture(scope="module")
def fleet():
    with SshFleet() as fleet:
        yield fleet


def probe_for(fleet, known_hosts=True, **options) -> SshProbe:
    return SshProbe(
        ProbeConfig(
            private_key_path=fleet.client_key_path,
            known_hosts_path=fleet.known_hosts_path if known_hosts else None,
            **options,
        )
    )


def target_for(host, **fields) -> CheckTarget:
    return CheckTarget(handle="vps-1", host=host.address, ssh_port=host.port, **fields)


def known_hosts_file(path, *lines: str):
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


def check(probe, target, until=None):
    return asyncio.run(probe.check(target, until))


def kinds(result):
    return [f.kind for f in result.findings]


def test_a_healthy_host_in_one_connection_running_only_the_constant_commands(fleet):
    host = fleet.add_host()
    result = check(probe_for(fleet), target_for(host))
    assert result.connected and result.findings == []
    assert [(d.mount, d.capacity_pct) for d in result.disks] == [("/", 40)]
    assert (result.docker, result.docker_version, result.containers_total) == (DockerState.RUNNING, "24.0.7", 1)
    assert result.containers_running == 1
    assert (result.load.m1, result.load.m5, result.load.m15, result.uptime_s) == (0.15, 0.10, 0.05, 864000.0)
    assert (result.memory.total_kb, result.memory.used_pct) == (4_028_000, 30)
    assert host.counters.connections == 1
    assert dict(host.counters.commands) == dict.fromkeys(CONSTANT_COMMANDS, 1)


def test_the_metrics_the_platform_keeps_are_read_in_the_same_session(fleet):
    host = fleet.add_host(
        state=HostState(
            load=(3.5, 2.25, 1.0),
            uptime_s=42.5,
            mem_used_pct=91,
            containers=[Container("a"), Container("b", state="exited")],
        )
    )
    result = check(probe_for(fleet), target_for(host))
    assert (result.load.m1, result.load.m5, result.load.m15) == (3.5, 2.25, 1.0) and result.uptime_s == 42.5
    assert result.memory.used_pct == 91 and (result.containers_running, result.containers_total) == (1, 2)
    assert host.counters.connections == 1 and host.counters.commands_run == 1


def test_no_server_field_ever_reaches_a_command(fleet):
    host = fleet.add_host()
    hostile = target_for(host, ssh_user="root; reboot $(id) `id` '\" *")
    result = check(probe_for(fleet), hostile)
    # the sandbox accepts any user name: what it ran are the constants, and only them
    assert result.connected and set(host.counters.commands) == CONSTANT_COMMANDS
    with pytest.raises(ValidationError, match="control character"):  # refused before it is ever a target
        target_for(host, ssh_user="root\nx")


def test_known_hosts_are_parsed_once_and_again_only_when_the_file_changes(fleet, tmp_path, monkeypatch):
    monkeypatch.setattr(ssh_probe, "KNOWN_HOSTS_RECHECK_S", 0.0)
    first, later = fleet.add_host(), fleet.add_host()
    path = known_hosts_file(tmp_path / "known_hosts", first.known_hosts_line)
    probe = SshProbe(ProbeConfig(private_key_path=fleet.client_key_path, known_hosts_path=path))
    parsed = probe.known_hosts
    assert check(probe, target_for(first)).connected and probe.known_hosts is parsed, "unchanged: not parsed again"
    assert kinds(check(probe, target_for(later))) == [FindingKind.HOST_KEY_UNKNOWN]
    known_hosts_file(path, first.known_hosts_line, later.known_hosts_line)  # an operator adds a host: no restart
    assert check(probe, target_for(later)).connected
    path.unlink()  # unreadable now: what was trusted stays trusted, nothing more
    assert check(probe, target_for(first)).connected


def test_a_key_other_than_the_known_one_refuses_the_connection_before_any_command(fleet, tmp_path):
    host, other = fleet.add_host(), fleet.add_host()
    path = known_hosts_file(tmp_path / "known_hosts", f"[{host.address}]:{host.port} {other.public_key}")
    probe = SshProbe(ProbeConfig(private_key_path=fleet.client_key_path, known_hosts_path=path))
    result = check(probe, target_for(host))
    assert not result.connected and kinds(result) == [FindingKind.HOST_KEY_MISMATCH]
    assert host.host_key.get_fingerprint() in result.findings[0].message
    assert "in SSH_KNOWN_HOSTS" in result.findings[0].message
    assert host.counters.commands_run == 0 and host.counters.auth_failures == 0


def test_an_impostor_is_refused(fleet):
    host = fleet.add_host(state=HostState(mode=SshMode.WRONG_HOST_KEY))
    listed = check(probe_for(fleet), target_for(host))
    assert kinds(listed) == [FindingKind.HOST_KEY_MISMATCH]
    assert "in SSH_KNOWN_HOSTS" in listed.findings[0].message
    assert host.counters.commands_run == 0


def test_no_trusted_key_at_all_is_not_a_silent_accept(fleet, tmp_path):
    host = fleet.add_host()
    unknown = check(probe_for(fleet, known_hosts=False), target_for(host))
    assert kinds(unknown) == [FindingKind.HOST_KEY_UNKNOWN] and host.counters.connections == 0
    stranger = fleet.add_host()
    path = known_hosts_file(tmp_path / "known_hosts", host.known_hosts_line)
    probe = SshProbe(ProbeConfig(private_key_path=fleet.client_key_path, known_hosts_path=path))
    result = check(probe, target_for(stranger))
    assert kinds(result) == [FindingKind.HOST_KEY_UNKNOWN] and stranger.counters.commands_run == 0


def test_refused_login_and_refused_connection(fleet, tmp_path):
    stranger_key = tmp_path / "id_other"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(stranger_key)
    host = fleet.add_host()
    probe = SshProbe(ProbeConfig(private_key_path=stranger_key, known_hosts_path=fleet.known_hosts_path))
    assert kinds(check(probe, target_for(host))) == [FindingKind.AUTH_FAILED]
    down = fleet.add_host(state=HostState(mode=SshMode.UNREACHABLE))
    assert kinds(check(probe_for(fleet), target_for(down))) == [FindingKind.CONNECT_REFUSED]


def test_connect_and_command_timeouts(fleet):
    stalls = fleet.add_host(state=HostState(mode=SshMode.SLOW, delay_s=2.0, delay_handshake=True))
    slow = fleet.add_host(state=HostState(mode=SshMode.SLOW, delay_s=2.0))
    probe = probe_for(fleet, connect_timeout_s=0.5, command_timeout_s=0.5)
    assert kinds(check(probe, target_for(stalls))) == [FindingKind.CONNECT_TIMEOUT]
    timed_out = check(probe, target_for(slow))
    assert timed_out.connected and set(kinds(timed_out)) == {FindingKind.COMMAND_TIMEOUT}
    assert {f.subject for f in timed_out.findings} == {"df", "docker info", "docker ps", "loadavg", "uptime", "meminfo"}
    answered = check(probe_for(fleet, command_timeout_s=5), target_for(slow))
    assert answered.connected and answered.findings == [] and answered.disks


def test_a_check_the_deadline_would_interrupt_is_cut_not_failed(fleet):
    slow = fleet.add_host(state=HostState(mode=SshMode.SLOW, delay_s=3.0))
    probe = probe_for(fleet, command_timeout_s=10)
    assert check(probe, target_for(slow), until=time.monotonic() + 1.0) is None
    healthy = fleet.add_host()
    assert check(probe, target_for(healthy), until=time.monotonic() + 0.1) is None
    assert healthy.counters.connections == 0


def test_output_beyond_the_cap_is_a_finding(fleet):
    host = fleet.add_host()
    result = check(probe_for(fleet, max_stdout_bytes=200), target_for(host))
    assert result.connected and set(kinds(result)) == {FindingKind.OUTPUT_TOO_LARGE}
    assert [f.subject for f in result.findings] == ["docker ps", "loadavg", "uptime", "meminfo"] and result.disks


def test_configured_mounts_are_checked_with_one_df(fleet):
    host = fleet.add_host(state=HostState(disks={"/": 40, "/var/lib/docker": 96}))
    result = check(probe_for(fleet, mounts=("/", "/var/lib/docker", "/data")), target_for(host))
    assert [(d.mount, d.capacity_pct) for d in result.disks] == [("/", 40), ("/var/lib/docker", 96)]
    [script] = host.counters.commands  # /data is on / there
    assert script == health_script(("/", "/var/lib/docker", "/data"))
    assert script.startswith("df -P -k / /var/lib/docker /data; ")
    assert result.findings == []
    for bad in ("relative", "/x; rm -rf /", "/a/../etc", "/$(id)", "/with space"):
        with pytest.raises(ValueError):
            ProbeConfig(private_key_path=fleet.client_key_path, mounts=("/", bad))


def test_concurrency_is_bounded_per_process(fleet):
    hosts = fleet.add_hosts(8, make_state=lambda: HostState(mode=SshMode.SLOW, delay_s=0.2))
    probe = probe_for(fleet, concurrency=3)
    inner, in_flight, peak = probe._session, 0, 0

    async def counting(*args):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await inner(*args)
        finally:
            in_flight -= 1

    probe._session = counting

    async def all_at_once():
        return await asyncio.gather(*(probe.check(target_for(h)) for h in hosts))

    assert all(r.connected for r in asyncio.run(all_at_once()))
    assert peak == 3


def test_a_check_that_hangs_anywhere_is_bounded(fleet, monkeypatch):
    monkeypatch.setattr(ssh_probe, "CLOSE_GRACE_S", 0.1)
    probe = probe_for(fleet, connect_timeout_s=0.5, command_timeout_s=0.5)

    async def frozen(*args):  # e.g. a host that never confirms a channel close
        await asyncio.sleep(3600)  # the hang under test, cut by the probe's bound: nothing waits on it

    probe._session = frozen
    started = time.monotonic()
    result = check(probe, target_for(fleet.add_host()))
    assert time.monotonic() - started < 2
    assert not result.connected and kinds(result) == [FindingKind.COMMAND_TIMEOUT]
    assert check(probe, target_for(fleet.add_host()), until=time.monotonic() + 0.8) is None, "the deadline's: cut"


# --- the one script's output, as the probe reads it (no SSH: the split and the parsers) --------

from actors.adapters.ssh.parse import SCRIPT_MARKER as M  # noqa: E402
from actors.adapters.ssh.probe import Output  # noqa: E402
from sandbox.ssh.commands import run_line  # noqa: E402


@pytest.fixture(scope="module")
def offline_probe(tmp_path_factory):
    key = tmp_path_factory.mktemp("key") / "id"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(key)
    return SshProbe(ProbeConfig(private_key_path=key, mounts=("/", "/data")))


def read(probe, output: Output, timeout: float = 15.0):
    findings, outputs = probe._split(output, timeout)
    return probe._result(target_for_offline(), True, findings, outputs)


def target_for_offline() -> CheckTarget:
    return CheckTarget(handle="vps-1", host="127.1.0.1", ssh_port=22)


def sandbox_output(probe, state: HostState) -> Output:
    answer = run_line(probe.script, state, host_id="h", now=time.time())
    return Output(answer.stdout, answer.stderr, answer.exit_status)


def test_the_script_output_reads_like_its_six_commands(offline_probe):
    ok = read(offline_probe, sandbox_output(offline_probe, HostState(disks={"/": 40, "/data": 90})))
    assert ok.findings == [] and [(d.mount, d.capacity_pct) for d in ok.disks] == [("/", 40), ("/data", 90)]
    assert (ok.docker, ok.docker_version, ok.containers_total) == (DockerState.RUNNING, "24.0.7", 1)
    down = read(offline_probe, sandbox_output(offline_probe, HostState(docker_running=False)))
    assert down.docker is DockerState.DOWN and down.findings == [] and down.disks
    missing = read(offline_probe, sandbox_output(offline_probe, HostState(disks={"/data": 40})))
    assert [(f.kind, f.subject) for f in missing.findings] == [(FindingKind.MOUNT_MISSING, "/")]
    not_installed = Output(
        f"{DF_ONE}{M} df 0\nsh: 1: docker: not found\n{M} info 127\nsh: 1: docker: not found\n{M} ps 127\n{PROC}", "", 0
    )
    assert read(offline_probe, not_installed).docker is DockerState.NOT_INSTALLED
    denied = "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock"
    no_access = read(
        offline_probe, Output(f"{DF_ONE}{M} df 0\n{denied}\n{M} info 1\n{denied}\n{M} ps 1\n{PROC}", "", 0)
    )
    assert [f.kind for f in no_access.findings] == [FindingKind.DOCKER_DENIED] and no_access.disks


def test_docker_warnings_on_stderr_do_not_spoil_its_answer(offline_probe):
    warning = "WARNING: No swap limit support\n"  # what `docker info` prints on many hosts, on stderr
    ps_line = (
        '{"Command":"\\"/start\\"","ID":"ab","Image":"app","Names":"web","State":"running",'
        '"Status":"Up 3 hours (healthy)"}\n'
    )
    output = Output(f'{DF_ONE}{M} df 0\n{warning}"24.0.7"\n{M} info 0\n{warning}{ps_line}{M} ps 0\n{PROC}', "", 0)
    result = read(offline_probe, output)
    assert result.findings == []
    assert (result.docker, result.docker_version, result.containers_total) == (DockerState.RUNNING, "24.0.7", 1)


DF_ONE = (
    "Filesystem     1024-blocks      Used Available Capacity Mounted on\n"
    "/dev/vda1        524288000 199229440 298844160      40% /\n"
)
PROC = (
    f"0.15 0.10 0.05 1/123 4567\n{M} load 0\n864000.00 1728000.00\n{M} up 0\n"
    f"MemTotal:        4028000 kB\nMemAvailable:    2819600 kB\n{M} mem 0\n"
)


def test_a_host_without_proc_is_an_incomplete_check_not_a_crash(offline_probe):
    gone = "cat: /proc/loadavg: No such file or directory\n"
    result = read(
        offline_probe,
        Output(
            f'{DF_ONE}{M} df 0\n"24.0.7"\n{M} info 0\n{M} ps 0\n{gone}{M} load 1\n'
            f"up 12\n{M} up 0\nMemTotal: 10 kB\nMemAvailable: 99 kB\n{M} mem 0\n",
            "",
            0,
        ),
    )
    assert result.load is None and result.uptime_s is None and result.memory is None and result.disks
    assert [(f.kind, f.subject) for f in result.findings] == [
        (FindingKind.COMMAND_FAILED, "cat /proc/loadavg"),
        (FindingKind.UNPARSABLE_OUTPUT, "cat /proc/uptime"),
        (FindingKind.UNPARSABLE_OUTPUT, "cat /proc/meminfo"),
    ]


def test_what_arrived_before_a_timeout_or_the_cap_still_counts(offline_probe):
    partial = Output(f'{DF_ONE}{M} df 0\n"24.', "", None, timed_out=True)
    result = read(offline_probe, partial, timeout=2)
    assert [d.mount for d in result.disks] == ["/"] and result.docker is DockerState.UNKNOWN
    assert [(f.kind, f.subject) for f in result.findings] == [
        (FindingKind.COMMAND_TIMEOUT, "docker info"),
        (FindingKind.COMMAND_TIMEOUT, "docker ps"),
        (FindingKind.COMMAND_TIMEOUT, "loadavg"),
        (FindingKind.COMMAND_TIMEOUT, "uptime"),
        (FindingKind.COMMAND_TIMEOUT, "meminfo"),
    ]
    assert "did not answer within 2 s" in result.findings[0].message
    capped = Output(f'{DF_ONE}{M} df 0\n"24.0.7"\n{M} info 0\n{{"Names":', "", None, too_large=True)
    result = read(offline_probe, capped)
    assert result.docker is DockerState.RUNNING and [(f.kind, f.subject) for f in result.findings] == [
        (FindingKind.OUTPUT_TOO_LARGE, "docker ps"),
        (FindingKind.OUTPUT_TOO_LARGE, "loadavg"),
        (FindingKind.OUTPUT_TOO_LARGE, "uptime"),
        (FindingKind.OUTPUT_TOO_LARGE, "meminfo"),
    ]


def test_hostile_or_foreign_script_output_is_a_finding(offline_probe):
    forged = Output(f'{DF_ONE}{M} df 0\n{M} info 0\n"24.0.7"\n{M} info 1\n{M} ps 0\n', "", 0)
    result = read(offline_probe, forged)
    assert not result.disks and result.docker is DockerState.UNKNOWN
    assert [f.kind for f in result.findings] == [FindingKind.UNPARSABLE_OUTPUT]
    fish = Output("", "fish: $? is not the exit status. In fish, please use $status.\n", 127)
    result = read(offline_probe, fish)
    assert [(f.kind, f.subject) for f in result.findings] == [
        (FindingKind.UNPARSABLE_OUTPUT, "df"),
        (FindingKind.UNPARSABLE_OUTPUT, "docker info"),
        (FindingKind.UNPARSABLE_OUTPUT, "docker ps"),
        (FindingKind.UNPARSABLE_OUTPUT, "loadavg"),
        (FindingKind.UNPARSABLE_OUTPUT, "uptime"),
        (FindingKind.UNPARSABLE_OUTPUT, "meminfo"),
    ]
    assert "exit status 127" in result.findings[0].message and "fish" in result.findings[0].message
