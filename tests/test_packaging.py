"""What the code reads at run time besides Python is packaged: a wheel (and a non-editable
install) carries every Lua script that ``process.lua.load_script`` reads."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch

import pytest

from process.lua import load_script
from tests.support import ROOT

PRODUCTION = ("contracts", "process", "scheduler", "ticker", "actors")


def test_every_lua_script_is_package_data():
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    scripts = [path for package in PRODUCTION for path in (ROOT / package).rglob("*.lua")]
    assert scripts
    for path in scripts:
        relative = path.relative_to(ROOT)
        assert any(
            relative.is_relative_to(package.replace(".", "/"))
            and any(fnmatch(str(relative.relative_to(package.replace(".", "/"))), glob) for glob in globs)
            for package, globs in package_data.items()
        ), f"{relative} is not in [tool.setuptools.package-data]"


@pytest.mark.parametrize(
    ("package", "name"),
    [
        ("actors.runtime", "acquire"),
        ("actors.runtime", "compare_and_expire"),
        ("actors.runtime", "compare_and_delete"),
        ("actors.runtime", "holds"),
        ("ticker", "check_types"),
        ("ticker", "claim_and_enqueue"),
        ("ticker", "claim_release_and_enqueue"),
        ("ticker", "enqueue"),
        ("ticker", "open_epoch"),
        ("actors.adapters.provisioner", "publish"),
    ],
)
def test_each_script_loads_once(package, name):
    assert load_script(package, name) is load_script(package, name)
    assert "redis.call" in load_script(package, name)
