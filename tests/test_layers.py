"""The import layers of ARCHITECTURE.md (pyproject.toml [tool.importlinter]) hold, and a
violation fails them: the check is shown to bite, not only to pass."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support import ROOT

PACKAGES = ("contracts", "process", "scheduler", "ticker", "actors", "sandbox")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    # lint-imports puts its working directory first on sys.path, so it analyses the tree
    # under `root`, not the installed one. A wide terminal keeps contract names on one line.
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )


def contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def test_the_tree_keeps_every_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ", 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract", "chain"),
    [
        (
            "contracts/names.py",
            "import actors.runtime",
            "Layers (ARCHITECTURE.md)",
            "contracts.names -> actors.runtime",
        ),
        (
            "contracts/names.py",
            "import actors.runtime",
            "contracts imports nothing of ours",
            "contracts.names -> actors.runtime",
        ),
        (
            "actors/adapters/github/auth.py",
            "import actors.adapters.platform.client",
            "Adapters never import each other",
            "actors.adapters.github.auth -> actors.adapters.platform.client",
        ),
        ("ticker/emit.py", "import actors", "The ticker never imports actors", "ticker.emit -> actors"),
        (
            "actors/tasks/github_sync/plan.py",
            "import actors.tasks.server_sync.plan",
            "Tasks never import each other",
            "actors.tasks.github_sync.plan -> actors.tasks.server_sync.plan",
        ),
    ],
)
def test_a_violation_breaks_its_contract(tmp_path, module, line, contract, chain):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{line}  # a deliberate violation\n")

    result = lint_imports(tmp_path)

    assert result.returncode != 0
    assert f"{contract} BROKEN" in result.stdout, result.stdout
    assert chain in result.stdout, result.stdout


def test_the_layers_name_packages_and_every_package_sits_in_one():
    """A layer is a package (or a package's subpackages side by side), never a hand-kept list of
    modules; every package of ours but the sandbox, which production never imports, is checked."""
    layers = next(c for c in contracts() if c["type"] == "layers")["layers"]
    listed = {name.strip() for layer in layers for name in layer.split("|")}
    assert not any(":" in layer for layer in layers)
    for name in listed:
        path = ROOT.joinpath(*name.split("."))
        assert (path / "__init__.py").exists() or path.with_suffix(".py").exists(), name
    on_disk = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"sandbox", "tests", "bench"}
    roots = {name.split(".")[0] for name in listed}
    assert on_disk - roots == set()


def test_every_task_package_is_independent():
    """The contract names the tasks by a wildcard, so a new task package is covered with no edit;
    what it lets every task import is only the shared modules beside them, never a package."""
    contract = next(c for c in contracts() if c["name"] == "Tasks never import each other")
    assert contract["modules"] == ["actors.tasks.*"]
    for ignored in contract["ignore_imports"]:
        source, target = (side.strip() for side in ignored.split("->"))
        assert source == "actors.tasks.**", ignored
        shared = ROOT.joinpath(*target.split(".")).with_suffix(".py")
        assert shared.is_file() and not shared.with_suffix("").is_dir(), f"{target} is not a shared module"
