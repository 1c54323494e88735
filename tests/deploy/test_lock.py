"""The locks: requirements.txt (the runtime, what Heroku's buildpack installs) and
requirements-dev.txt (test, bench and lock extras), both from ``./dev lock``, agree with
pyproject.toml and with each other, and the running environment is what they say. (`.ci/run`
installs requirements.txt alone and imports every module.)"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

import pytest
from packaging.utils import canonicalize_name

from tests.deploy.locks import parse_lock, problems
from tests.support import ROOT

PYPROJECT = (ROOT / "pyproject.toml").read_text()
RUNTIME = (ROOT / "requirements.txt").read_text()
DEV = (ROOT / "requirements-dev.txt").read_text()


def test_the_locks_agree_with_pyproject_and_each_other():
    assert problems(PYPROJECT, RUNTIME, DEV) == [], "run ./dev lock"


def _pinned(text: str, name: str) -> str:
    return str(parse_lock(text)[name].version)


def _bump_lower_bound(text: str, name: str, bound: str) -> str:
    altered = re.sub(rf'"{name}>=[^",]+', f'"{name}>={bound}', text, count=1)
    assert altered != text
    return altered


# Each alteration is one way a lock goes stale; the check must name the package it concerns.
ALTERATIONS = {
    "a lower bound above the runtime pin": (
        lambda p, r, d: (_bump_lower_bound(p, "cryptography", "999"), r, d),
        "cryptography",
    ),
    "a lower bound above a test pin": (lambda p, r, d: (_bump_lower_bound(p, "pytest", "999"), r, d), "pytest"),
    "a bench dependency bounded above the pin": (
        lambda p, r, d: (p.replace('"apscheduler>=3.11.3,<4"', '"apscheduler>=3.11.3,<3.11.3"'), r, d),
        "apscheduler",
    ),
    "a new runtime dependency, not locked": (
        lambda p, r, d: (p.replace('"numpy>=2.4",', '"numpy>=2.4",\n    "rich>=13",'), r, d),
        "rich",
    ),
    "a dependency dropped from pyproject, still locked": (
        lambda p, r, d: (p.replace('"periodiq>=0.14.0",', ""), r, d),
        "periodiq",
    ),
    "the dev lock at another version than the runtime lock": (
        lambda p, r, d: (p, r, d.replace(f"\nstructlog=={_pinned(d, 'structlog')} ", "\nstructlog==1.0 ")),
        "structlog",
    ),
    "a runtime pin missing from the dev lock": (
        lambda p, r, d: (p, r, re.sub(r"\ntoml==[^\n]*(\n {4}[^\n]*)*", "", d)),
        "toml",
    ),
    "a pin without its hashes": (
        lambda p, r, d: (p, re.sub(r"(\nidna==\S+) \\\n(    --hash=\S+ \\\n)*    --hash=\S+\n", r"\1\n", r), d),
        "idna",
    ),
}


@pytest.mark.parametrize("alteration", ALTERATIONS)
def test_the_check_fails_on_each_kind_of_stale_lock(alteration):
    alter, name = ALTERATIONS[alteration]
    altered = alter(PYPROJECT, RUNTIME, DEV)
    assert altered != (PYPROJECT, RUNTIME, DEV), "the alteration changed nothing"
    found = problems(*altered)
    assert found and all(line.startswith(f"{name}:") for line in found), found


def test_the_environment_running_the_suite_is_the_locks():
    """./dev installs the locks, hashes checked; a venv installed otherwise (an unpinned
    ``pip install -e '.[test]'``) or before the locks changed fails here, naming what differs."""
    differ = []
    for pin in parse_lock(DEV).values():
        try:
            installed = metadata.version(pin.name)
        except metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != str(pin.version):
            differ.append(f"{pin.name}: {installed}, the lock says {pin.version}")
    assert differ == [], "run ./dev test, which installs the locks"


def test_the_locks_come_from_pypi_and_say_how_they_are_made():
    for text in (RUNTIME, DEV):
        assert "--find-links" not in text and "--extra-index-url" not in text and "file://" not in text
        assert "#    ./dev lock\n" in text, "the lock says how to regenerate it"
        assert "torch" not in {canonicalize_name(name) for name in parse_lock(text)}
    # the test extras (pytest, fakeredis, the sandbox's web framework) are not deployed
    assert not {"pytest", "fakeredis", "fastapi", "honcho", "pip-tools", "ansible-core"} & set(parse_lock(RUNTIME))


def test_python_version_file_names_the_supported_python():
    assert (ROOT / ".python-version").read_text().strip() == "3.11"
    assert tomllib.loads(PYPROJECT)["project"]["requires-python"] == ">=3.11"
