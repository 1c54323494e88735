"""The probe's parsers on real output of df, docker info and docker ps, and on hostile output."""

from __future__ import annotations

import json

import pytest

from actors.adapters.ssh.parse import MAX_LINE, excerpt, parse_df, parse_docker_info, parse_docker_ps
from contracts.health import DockerState, FindingKind
from sandbox.ssh.commands import DOCKER_DOWN_MESSAGE, DOCKER_PS_COMMAND, DOCKER_VERSION_COMMAND, run_command
from sandbox.ssh.hoststate import Container, HostState

# GNU coreutils 9.1 on an Ubuntu host, byte for byte (columns as wide as their widest cell).
DF_REAL = """\
Filesystem     1024-blocks      Used Available Capacity Mounted on
/dev/vda1        524288000 199229440 298844160      40% /
/dev/vdb1        524288000 473169920  24903680      95% /var/lib/docker
"""
# `df -P` without paths in a container: pseudo filesystems, a name with spaces.
DF_ALL = """\
Filesystem              1024-blocks     Used Available Capacity Mounted on
overlay                   264212084 23762108  82628804      23% /
tmpfs                         65536        0     65536       0% /dev
proc                              0        0         0        - /proc
map auto_home                     0        0         0        - /System/Volumes/Data/home
/dev/vdb1                 524288000 473169920 24903680      96% /srv/my data
"""
# BusyBox df -P (Alpine): the same POSIX header, narrower columns.
DF_BUSYBOX = """\
Filesystem           1024-blocks    Used Available Capacity Mounted on
overlay                  8191416   6930872    825616  89% /
"""
# The docker CLI 24 with the daemon stopped, as captured on a host: `""` on stdout, exit 1.
DOCKER_INFO_DOWN = ('""\n', DOCKER_DOWN_MESSAGE + "\n", 1)
PS_HEALTHY = (
    '{"Command":"\\"/docker-entrypoint.sh\\"","CreatedAt":"2024-05-01 09:12:44 +0000 UTC",'
    '"ID":"4f1c","Image":"app:latest","Labels":"com.docker.compose.project=app","LocalVolumes":"0",'
    '"Mounts":"","Names":"web","Networks":"bridge","Ports":"","RunningFor":"3 hours ago","Size":"0B",'
    '"State":"running","Status":"Up 3 hours (healthy)"}'
)


def kinds(findings) -> list[FindingKind]:
    return [f.kind for f in findings]


# --------------------------------------------------------------------------- df


def test_df_real_output_gives_each_requested_mount():
    result = parse_df(DF_REAL, "", 0, ["/", "/var/lib/docker"])
    assert [(d.mount, d.capacity_pct) for d in result.disks] == [("/", 40), ("/var/lib/docker", 95)]
    assert result.disks[1].available_kb == 24903680 and result.findings == []


def test_df_maps_a_path_to_the_filesystem_holding_it_and_skips_pseudo_filesystems():
    result = parse_df(DF_ALL, "", 0, ["/", "/srv/my data/uploads", "/var/lib/docker"])
    assert [(d.mount, d.capacity_pct) for d in result.disks] == [("/", 23), ("/srv/my data", 96)]
    assert result.findings == []  # /var/lib/docker lives on / here


def test_df_busybox_and_a_path_df_could_not_find():
    stdout, stderr = DF_BUSYBOX, "df: /data: No such file or directory\n"
    result = parse_df(stdout, stderr, 1, ["/", "/data"])
    assert [(d.mount, d.capacity_pct) for d in result.disks] == [("/", 89)]
    assert kinds(result.findings) == [FindingKind.MOUNT_MISSING] and result.findings[0].subject == "/data"


@pytest.mark.parametrize("percent", [0, 40, 85, 95, 97, 100])
def test_df_as_the_sandbox_prints_it_for_every_fill_level(percent):
    answer = run_command("df -P -k /", HostState.disk_nearly_full(percent))
    result = parse_df(answer.stdout, answer.stderr, answer.exit_status, ["/"])
    assert [d.capacity_pct for d in result.disks] == [percent] and result.findings == []


def test_df_with_only_errors_reports_each_missing_path():
    result = parse_df("", "df: /data: No such file or directory\n", 1, ["/data"])
    assert result.disks == [] and kinds(result.findings) == [FindingKind.MOUNT_MISSING]


def test_df_not_installed_and_silent_df_are_findings():
    missing = parse_df("", "sh: 1: df: not found\n", 127, ["/"])
    assert kinds(missing.findings) == [FindingKind.COMMAND_FAILED]
    assert "not installed" in missing.findings[0].message
    silent = parse_df("", "", 0, ["/"])
    assert kinds(silent.findings) == [FindingKind.UNPARSABLE_OUTPUT]


@pytest.mark.parametrize(
    "row",
    [
        "/dev/vda1        524288000 -199229440 298844160      40% /",  # a negative number
        "/dev/vda1        524288000 199229440      40% /",  # a column missing
        "/dev/vda1        524288000 199229440 298844160      140% /",  # over 100 %
        "/dev/vda1        524288000 999999999 298844160      40% /",  # used more than the size
        "/dev/vda1        524288000 199229440 298844160      40% relative/mount",
        "/dev/vda1        5e8 199229440 298844160      40% /",
        "\x1b[31m/dev/vda1\x1b[0m 524288000 199229440 298844160 \x1b[1m40%\x1b[0m /",  # ANSI
        "/dev/vda1        524288000 199229440 298844160 99999999999999999999% /",
    ],
)
def test_df_a_single_bad_row_makes_the_table_unreadable_not_half_read(row):
    stdout = DF_REAL.splitlines()[0] + "\n" + row + "\n"
    result = parse_df(stdout, "", 0, ["/"])
    assert result.disks == [] and kinds(result.findings) == [FindingKind.UNPARSABLE_OUTPUT]
    assert all(c.isprintable() for c in result.findings[0].message)


@pytest.mark.parametrize(
    "stdout",
    [
        "Dateisystem    1K-Blöcke  Benutzt Verfügbar Verw% Eingehängt auf\n/dev/vda1 1 1 0 100% /\n",
        "\x00\x01\x02\xff garbage \x00\n" * 3,
        "x" * (MAX_LINE + 1) + "\n",
        DF_REAL.splitlines()[0] + "\n" + "/dev/vda1 " + " " * 100_000 + "1 1 0 1% /\n",
        "\n" * 20_000 + "Filesystem",
        "<html><body>502 Bad Gateway</body></html>",
    ],
)
def test_df_garbage_headers_binary_and_huge_lines_are_findings(stdout):
    result = parse_df(stdout, "", 0, ["/"])
    assert result.disks == []
    assert kinds(result.findings) == [FindingKind.UNPARSABLE_OUTPUT]
    assert len(result.findings[0].message) <= 500 and all(c.isprintable() for c in result.findings[0].message)


# --------------------------------------------------------------------------- docker info


def test_docker_info_running_as_the_cli_prints_it():
    answer = run_command(DOCKER_VERSION_COMMAND, HostState())
    info = parse_docker_info(answer.stdout, answer.stderr, answer.exit_status)
    assert (info.state, info.version, info.findings) == (DockerState.RUNNING, "24.0.7", [])


def test_docker_info_daemon_down_as_the_sandbox_and_as_a_real_cli_24_print_it():
    answer = run_command(DOCKER_VERSION_COMMAND, HostState.docker_down())
    assert parse_docker_info(answer.stdout, answer.stderr, answer.exit_status).state is DockerState.DOWN
    assert parse_docker_info(*DOCKER_INFO_DOWN).state is DockerState.DOWN
    assert parse_docker_info('""\n', "", 0).state is DockerState.DOWN  # no server version: no daemon


@pytest.mark.parametrize(
    "stderr, status",
    [
        ("sh: 1: docker: not found\n", 127),
        ("bash: line 1: docker: command not found\n", 127),
        ("zsh:1: command not found: docker\n", 127),
    ],
)
def test_docker_not_installed_in_each_shell(stderr, status):
    assert parse_docker_info("", stderr, status).state is DockerState.NOT_INSTALLED
    assert parse_docker_ps("", stderr, status).state is DockerState.NOT_INSTALLED


def test_docker_permission_denied_is_its_own_finding():
    stderr = (
        "permission denied while trying to connect to the Docker daemon socket at "
        'unix:///var/run/docker.sock: Get "http://%2Fvar%2Frun%2Fdocker.sock/v1.24/info"\n'
    )
    info = parse_docker_info("", stderr, 1)
    assert info.state is DockerState.UNKNOWN and kinds(info.findings) == [FindingKind.DOCKER_DENIED]


@pytest.mark.parametrize(
    "stdout",
    [
        "24.0.7\n",
        '{"version": "24"}\n',
        '"24.0.7"\n"25.0.0"\n',
        '"\x1b[2J"\n',
        '"' + "9" * 100 + '"\n',
        "",
        "\xff\xfe\n",
        "-1\n",
    ],
)
def test_docker_info_output_that_is_not_one_version_string_is_unparsable(stdout):
    info = parse_docker_info(stdout, "", 0)
    assert info.state is DockerState.UNKNOWN and kinds(info.findings) == [FindingKind.UNPARSABLE_OUTPUT]


def test_docker_info_other_failures_keep_the_message_short_and_printable():
    info = parse_docker_info("", "Error: \x1b[31mboom\x1b[0m " + "x" * 5000, 2)
    assert kinds(info.findings) == [FindingKind.COMMAND_FAILED]
    assert "exit status 2" in info.findings[0].message and "\x1b" not in info.findings[0].message
    assert len(info.findings[0].message) <= 500


# --------------------------------------------------------------------------- docker ps


def test_docker_ps_as_the_sandbox_prints_it_reports_unhealthy_restarting_and_dead_only():
    state = HostState(
        containers=[
            Container("web"),
            Container("api", health="unhealthy"),
            Container("job", state="restarting", exit_code=1),
            Container("old", state="exited", exit_code=0),
            Container("zombie", state="dead"),
            Container("cron", health=None),
            Container("warm", health="starting"),
        ]
    )
    answer = run_command(DOCKER_PS_COMMAND, state)
    ps = parse_docker_ps(answer.stdout, answer.stderr, answer.exit_status)
    assert ps.state is DockerState.RUNNING and ps.total == 7 and ps.findings == []
    assert [(c.name, c.state, c.status) for c in ps.issues] == [
        ("api", "running", "Up 3 hours (unhealthy)"),
        ("job", "restarting", "Restarting (1) 3 hours ago"),
        ("zombie", "dead", "Dead"),
    ]


def test_docker_ps_with_no_containers_and_with_the_daemon_down():
    assert parse_docker_ps("", "", 0).total == 0
    answer = run_command(DOCKER_PS_COMMAND, HostState.docker_down())
    assert parse_docker_ps(answer.stdout, answer.stderr, answer.exit_status).state is DockerState.DOWN


def test_docker_ps_before_20_10_has_no_state_column():
    row = json.loads(PS_HEALTHY)
    del row["State"]
    row["Status"] = "Restarting (137) 2 seconds ago"
    ps = parse_docker_ps(json.dumps(row) + "\n", "", 0)
    assert [(c.name, c.state) for c in ps.issues] == [("web", "restarting")]


def test_docker_ps_skips_and_reports_bad_lines_but_keeps_the_good_ones():
    unhealthy = PS_HEALTHY.replace('"web"', '"api"').replace("(healthy)", "(unhealthy)")
    hostile = json.dumps({"Names": "\x1b]0;pwned\x07evil\nname", "State": "restarting", "Status": "Restarting (1)"})
    lines = [
        PS_HEALTHY,
        "not json",
        '["a list"]',
        '{"Names": 7, "Status": "Up"}',
        '{"Names": "x", "State": "bogus", "Status": "Up"}',
        "\x00\x01binary",
        unhealthy,
        hostile,
    ]
    ps = parse_docker_ps("\n".join(lines) + "\n", "", 0)
    assert ps.total == 3
    assert [c.name for c in ps.issues][:1] == ["api"]
    assert all(c.isprintable() for c in ps.issues[1].name)
    assert kinds(ps.findings) == [FindingKind.UNPARSABLE_OUTPUT] and "5 unreadable" in ps.findings[0].message


def test_docker_ps_huge_line_is_refused_before_json_parsing():
    ps = parse_docker_ps('{"Names": "' + "a" * 1_000_000 + '"}\n', "", 0)
    assert ps.total == 0 and kinds(ps.findings) == [FindingKind.UNPARSABLE_OUTPUT]


def test_excerpt_makes_untrusted_text_short_and_printable():
    assert excerpt("a\x1b[31mb\nc\x00", 50) == "a?[31mb | c?"
    assert len(excerpt("x" * 1000, 20)) == 20


# --- the probe's one script: its output split on the end markers ----------------------------

from actors.adapters.ssh.parse import SCRIPT_MARKER, split_script_output  # noqa: E402

NAMES = ("df", "info", "ps")
M = SCRIPT_MARKER


def script_output(df=DF_REAL, info='"24.0.7"\n', ps=PS_HEALTHY + "\n", statuses=(0, 0, 0)) -> str:
    return f"{df}{M} df {statuses[0]}\n{info}{M} info {statuses[1]}\n{ps}{M} ps {statuses[2]}\n"


def test_script_output_splits_into_each_commands_output_and_status():
    split = split_script_output(script_output(statuses=(0, 1, 0)), NAMES)
    assert split.findings == [] and split.missing == []
    assert split.parts == {"df": (DF_REAL, 0), "info": ('"24.0.7"\n', 1), "ps": (PS_HEALTHY + "\n", 0)}
    empty = split_script_output(script_output(ps=""), NAMES)
    assert empty.parts["ps"] == ("", 0) and empty.findings == []


def test_a_marker_inside_a_commands_output_makes_the_whole_output_unreadable():
    # docker's merged stderr printing what looks like the next marker: no part can be trusted
    forged = script_output(info=f'"24.0.7"\n{M} info 0\n', statuses=(0, 1, 0))
    split = split_script_output(forged, NAMES)
    assert split.parts == {} and split.missing == list(NAMES)
    assert [f.kind for f in split.findings] == [FindingKind.UNPARSABLE_OUTPUT]
    assert "unexpected marker line" in split.findings[0].message
    for bad in (f"{M} df 0 extra", f"{M} nope 0", f"{M} df 999", f"{M} df -1", f"{M}df 0", f"{M} ps 0"):
        split = split_script_output(f"{bad}\n" + script_output(), NAMES)
        assert split.parts == {} and [f.kind for f in split.findings] == [FindingKind.UNPARSABLE_OUTPUT], bad
    twice = split_script_output(script_output() + f"{M} ps 0\n", NAMES)
    assert twice.parts == {} and twice.findings


def test_the_marker_text_inside_a_line_is_content():
    row = PS_HEALTHY.replace("Up 3 hours (healthy)", f"{M} ps 0")
    split = split_script_output(script_output(ps=row + "\n"), NAMES)
    assert split.findings == [] and split.parts["ps"] == (row + "\n", 0)
    assert parse_docker_ps(row + "\n", "", 0).total == 1


def test_missing_markers_and_truncated_output():
    nothing = split_script_output("fish: Unsupported use of '$?'. In fish, please use $status.\n", NAMES)
    assert nothing.parts == {} and nothing.missing == list(NAMES) and nothing.findings == []
    full = script_output()
    cut = full[: full.index(PS_HEALTHY) + 40]  # e.g. a timeout or the size cap in the middle of docker ps
    split = split_script_output(cut, NAMES)
    assert list(split.parts) == ["df", "info"] and split.missing == ["ps"] and split.findings == []
    half_marker = full[: full.index(f"{M} info") + 10]
    assert list(split_script_output(half_marker, NAMES).parts) == ["df"]
    # a command whose output lacks its final newline runs into its marker, which is then missing
    unterminated = split_script_output(script_output(info='"24.0.7"'), NAMES)
    assert unterminated.parts == {} and unterminated.findings
    assert split_script_output("", NAMES).missing == list(NAMES)


def test_output_after_the_last_marker_is_a_finding_and_the_parts_are_kept():
    split = split_script_output(script_output() + "logout\n", NAMES)
    assert list(split.parts) == list(NAMES)
    assert [f.kind for f in split.findings] == [FindingKind.UNPARSABLE_OUTPUT]
    assert "logout" in split.findings[0].message
    partial = split_script_output(script_output() + "no newline", NAMES)
    assert list(partial.parts) == list(NAMES) and partial.findings


def test_huge_script_output_is_refused_before_splitting():
    split = split_script_output("x\n" * (3 * 10_000 + 1), NAMES)
    assert split.parts == {} and [f.kind for f in split.findings] == [FindingKind.UNPARSABLE_OUTPUT]


# --- /proc: load, uptime, memory -------------------------------------------------------------------

from actors.adapters.ssh.parse import parse_loadavg, parse_meminfo, parse_uptime  # noqa: E402

REAL_MEMINFO = (
    "MemTotal:        8029324 kB\nMemFree:          352316 kB\nMemAvailable:    5123412 kB\n"
    "Buffers:          287764 kB\nCached:          4512180 kB\nHugePages_Total:       0\n"
    "Hugepagesize:       2048 kB\n"
)


def test_proc_files_as_linux_prints_them():
    assert parse_loadavg("0.00 0.01 0.05 1/123 4567\n", 0).load.model_dump() == {"m1": 0.0, "m5": 0.01, "m15": 0.05}
    assert parse_uptime("350735.47 234388.90\n", 0).uptime_s == 350735.47
    memory = parse_meminfo(REAL_MEMINFO, 0).memory
    assert (memory.total_kb, memory.available_kb, memory.used_pct) == (8029324, 5123412, 37)
    old_kernel = parse_meminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 100 kB\nCached: 200 kB\n", 0).memory
    assert old_kernel.available_kb == 400, "before 3.14: MemFree + Buffers + Cached"


@pytest.mark.parametrize(
    "parser, text",
    [
        (parse_loadavg, "0.15 0.10\n"),
        (parse_loadavg, "-1.00 0.10 0.05 1/1 1\n"),
        (parse_loadavg, "a b c d e\n"),
        (parse_loadavg, "0.15 0.10 0.05 1/123 4567\n0.15 0.10 0.05 1/123 4567\n"),
        (parse_loadavg, ""),
        (parse_uptime, "forever\n"),
        (parse_uptime, "1e9 1\n"),
        (parse_uptime, "12.5\n"),
        (parse_meminfo, "MemTotal: 10 kB\n"),
        (parse_meminfo, "MemTotal: 10 kB\nMemAvailable: 11 kB\n"),
        (parse_meminfo, "MemTotal: x kB\nMemAvailable: 1 kB\n"),
        (parse_meminfo, "\x1b[31mMemTotal: 10 kB\n"),
        (parse_meminfo, "MemTotal: 0 kB\nMemAvailable: 0 kB\n"),
        (parse_meminfo, "MemTotal: 1 kB\n" + "x" * 9000),
    ],
)
def test_unreadable_proc_output_is_a_finding_not_a_value(parser, text):
    result = parser(text, 0)
    assert (result.load, result.uptime_s, result.memory) == (None, None, None)
    assert [f.kind for f in result.findings] == [FindingKind.UNPARSABLE_OUTPUT]


def test_a_failing_cat_is_a_failed_command():
    result = parse_loadavg("cat: /proc/loadavg: No such file or directory\n", 1)
    assert [f.kind for f in result.findings] == [FindingKind.COMMAND_FAILED] and result.load is None
