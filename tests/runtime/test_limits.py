"""The open-file limit (process.limits): raised to the hard limit, and the pool capped under it."""

from __future__ import annotations

import resource
import subprocess
import sys


def test_a_worker_process_raises_its_soft_limit_to_the_hard_one_and_says_so(tmp_path):
    code = (
        "import resource;"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]));"
        "from process.limits import raise_open_files; f = raise_open_files();"
        "print(f.before, f.soft, f.hard, f.raised, resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    expected_hard = str(1 << 31) if hard == resource.RLIM_INFINITY else str(hard)
    assert out[0] == "256" and out[1] == out[2] == expected_hard and out[3] == "True"


def test_the_pool_keeps_no_more_connections_than_the_limit_leaves(tmp_path):
    key = tmp_path / "id"
    key.write_text("x")
    code = (
        "import resource, sys;"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (1000, resource.getrlimit(resource.RLIMIT_NOFILE)[1]));"
        "from actors.adapters.ssh.settings import SshSettings;"
        "print(*(SshSettings(ssh_private_key_path=sys.argv[1], health_ssh_pool_max=n).probe_config().pool.max_open"
        " for n in (10000, 100, 0)))"
    )
    run = subprocess.run([sys.executable, "-c", code, str(key)], capture_output=True, text=True, check=True)
    *logged, figures = run.stdout.strip().splitlines()
    assert figures.split() == ["488", "100", "0"]  # 1,000 less the 512 kept spare; 0 keeps none
    assert sum("ssh pool capped by the open-file limit" in line for line in logged + run.stderr.splitlines()) == 1
