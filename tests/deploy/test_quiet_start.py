"""No process opens with asyncssh's DSA deprecation warnings (cryptography >= 51), and the filter
that silences them (process/noise.py, pyproject.toml for pytest) takes nothing else.

The locked cryptography does not warn, so these tests make it warn as cryptography 51 does: a
``sitecustomize`` on PYTHONPATH turns every access to a DSA name of
``cryptography.hazmat.primitives.asymmetric.dsa`` into that warning (same category, message and
stacklevel). The first test shows the emulation reaching stderr through a bare ``import asyncssh``;
each entry is then run with its filter and, where it imports asyncssh, once more with the filter
made a no-op, to show it is that line that keeps stderr clean. `.ci/run` runs the worker and the
``scheduler`` command under the newest cryptography itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.slow  # each test starts the processes' entries, some twice

WARNING = "CryptographyDeprecationWarning: DSA is deprecated"

EMULATION = textwrap.dedent("""
    import os
    import sys
    import types
    import warnings

    from cryptography.hazmat.primitives.asymmetric import dsa
    from cryptography.utils import CryptographyDeprecationWarning


    class _DeprecatedDSA(types.ModuleType):
        def __getattribute__(self, name):
            # cryptography 51 warns callers outside itself (its own modules use the Rust types)
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if (name.startswith("DSA") or name == "generate_private_key") and not caller.startswith("cryptography"):
                warnings.warn("DSA is deprecated and support will be removed in a future release. "
                              "Use a more modern signature algorithm.", CryptographyDeprecationWarning, stacklevel=2)
            return super().__getattribute__(name)


    dsa.__class__ = _DeprecatedDSA

    if os.environ.get("EMULATION_FILTER_OFF"):
        import process.noise

        process.noise.quiet_asyncssh_dsa = lambda: None
""")


@pytest.fixture(scope="module")
def emulation(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cryptography51")
    (folder / "sitecustomize.py").write_text(EMULATION)
    return folder


def run(emulation, argv, env=None, filter_off=False):
    base = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": f"{emulation}{os.pathsep}{ROOT}",
    }
    if filter_off:
        base["EMULATION_FILTER_OFF"] = "1"
    return subprocess.run(
        [sys.executable, *argv], env={**base, **(env or {})}, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_the_emulation_warns_as_cryptography_51_does(emulation):
    err = run(emulation, ["-c", "import asyncssh"]).stderr
    assert err.count(WARNING) == 5, err
    assert "asyncssh/crypto/misc.py:32:" in err and "asyncssh/crypto/dsa.py:38:" in err


# (argv, environment, what stderr starts with, whether the entry imports asyncssh)
ENTRIES = {
    "worker": (["-m", "actors"], {"HEALTH_BATCH_SIZE": "lots"}, "worker: configuration refused", True),
    "ticker": (["-m", "ticker"], {}, "ticker: configuration refused", False),
    "web": (["-m", "scheduler.web"], {}, "web: REDIS_URL is not set", False),
    "scheduler config check": (["-m", "scheduler.cli", "config", "check"], {}, "", True),
    "sandbox": (["-m", "sandbox", "--help"], {}, "", True),
    "sandbox ssh fleet": (["-m", "sandbox.ssh.serve", "--help"], {}, "", True),
}


@pytest.mark.parametrize("entry", ENTRIES)
def test_no_entry_prints_the_warnings_and_a_refused_configuration_comes_first(emulation, entry):
    argv, env, first, _ = ENTRIES[entry]
    result = run(emulation, argv, env)
    assert "Warning" not in result.stderr, result.stderr
    assert result.stderr.startswith(first) if first else result.stderr == ""
    if first:
        assert result.returncode == 78


@pytest.mark.parametrize("entry", [name for name, spec in ENTRIES.items() if spec[3]])
def test_without_its_filter_the_same_entry_would_print_them_first(emulation, entry):
    argv, env, _, _ = ENTRIES[entry]
    err = run(emulation, argv, env, filter_off=True).stderr
    assert WARNING in err.splitlines()[0], err
    assert err.count(WARNING) == 5


def test_the_filter_takes_only_asyncssh_dsa_warnings(emulation):
    script = textwrap.dedent("""
        import warnings
        from cryptography.utils import CryptographyDeprecationWarning
        from process.noise import quiet_asyncssh_dsa
        quiet_asyncssh_dsa()
        import asyncssh  # five DSA warnings, silenced
        warnings.warn_explicit("DSA is deprecated: from elsewhere", CryptographyDeprecationWarning, "x.py", 1,
                               module="actors.adapters.ssh.probe")
        warnings.warn_explicit("something else is deprecated", CryptographyDeprecationWarning, "misc.py", 1,
                               module="asyncssh.crypto.misc")
        warnings.warn_explicit("DSA is deprecated", UserWarning, "misc.py", 2, module="asyncssh.crypto.misc")
        warnings.warn_explicit("DSA is deprecated", CryptographyDeprecationWarning, "x.py", 3,
                               module="asyncssh.crypto.dsa_other")
    """)
    err = run(emulation, ["-c", script]).stderr
    assert "asyncssh/crypto/" not in err  # the five of the import
    for shown in (
        "x.py:1: CryptographyDeprecationWarning",
        "misc.py:1: CryptographyDeprecationWarning",
        "misc.py:2: UserWarning",
        "x.py:3: CryptographyDeprecationWarning",
    ):
        assert shown in err, err
    assert err.count("Warning: ") == 4, err


def test_pytest_has_the_same_filter(emulation, tmp_path):
    (tmp_path / "test_imports.py").write_text("def test_imports():\n    import asyncssh\n")
    argv = [
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-c",
        str(ROOT / "pyproject.toml"),
        "--rootdir",
        str(tmp_path),
        str(tmp_path / "test_imports.py"),
    ]
    quiet = run(emulation, argv)
    assert "1 passed" in quiet.stdout and "DSA is deprecated" not in quiet.stdout + quiet.stderr, quiet.stdout
    loud = run(emulation, [*argv, "-o", "filterwarnings="])
    assert "1 passed" in loud.stdout and loud.stdout.count("DSA is deprecated") >= 1, loud.stdout
