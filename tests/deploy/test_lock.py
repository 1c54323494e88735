"""The lock Heroku's buildpack installs: every runtime dependency of pyproject.toml pinned with
hashes, and the Python version file. (`.ci/run` installs it alone and imports every module.)"""

from __future__ import annotations

import re
import tomllib

from tests.support import ROOT


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_requirements_txt_pins_every_runtime_dependency_with_hashes():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    text = (ROOT / "requirements.txt").read_text()
    pinned = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\$", text, re.M))
    pinned = {name.lower().replace("_", "-"): version for name, version in pinned.items()}
    missing = {_name(r) for r in project["dependencies"]} - set(pinned)
    assert missing == set(), f"run ./dev lock: {missing} not in requirements.txt"
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n\n", 1)[-1].strip())
    assert all("--hash=sha256:" in block for block in blocks if "==" in block), "every pin carries its hashes"
    assert "--find-links" not in text and "--extra-index-url" not in text and "file://" not in text
    assert "./dev lock" in text, "the lock says how to regenerate it"
    # the test extras (pytest, fakeredis, the sandbox's web framework) are not deployed
    assert not {"pytest", "fakeredis", "fastapi", "honcho"} & set(pinned)


def test_python_version_file_names_the_supported_python():
    assert (ROOT / ".python-version").read_text().strip() == "3.11"
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"] == ">=3.11"
