"""Reading the two locks and judging them against pyproject.toml (tests/deploy/test_lock.py).

``requirements.txt`` is the runtime (what Heroku installs); ``requirements-dev.txt`` the test,
bench and lock extras and the build requirements, resolved with the runtime lock as constraints.
Both come from ``./dev lock`` (pip-compile); :func:`problems` lists every way they and
pyproject.toml disagree, as sentences naming the package, or nothing.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

#: what pip-compile writes after "via" for a package pyproject.toml names (the self-reference of
#: the test extra, scheduler[sandbox], is plain "scheduler")
FROM_PYPROJECT = re.compile(r"^scheduler( \(pyproject\.toml(::build-system\.requires)?\))?$")
CONSTRAINT = "-c requirements.txt"


@dataclass
class Pin:
    name: str
    version: Version
    hashes: frozenset[str]
    via: list[str] = field(default_factory=list)


def parse_lock(text: str) -> dict[str, Pin]:
    """Every ``name==version`` of a pip-compile lock, with its hashes and its "via" reasons."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    in_via = False
    for line in text.splitlines():
        if match := re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", line):
            current = Pin(canonicalize_name(match[1]), Version(match[2]), frozenset())
            pins[current.name] = current
            in_via = False
        elif current is None:
            continue
        elif digest := re.findall(r"--hash=(sha256:[0-9a-f]{64})", line):
            current.hashes |= set(digest)
        elif match := re.match(r"^\s+# via ?(.*)$", line):
            in_via = True
            if match[1]:
                current.via.append(match[1].strip())
        elif in_via and (match := re.match(r"^\s+#   (.+)$", line)):
            current.via.append(match[1].strip())
        elif not line.startswith(" "):
            current, in_via = None, False
    return pins


def declared(pyproject: dict) -> tuple[list[Requirement], list[Requirement]]:
    """(the runtime's requirements, the dev lock's own: the extras but the project itself, and
    the build requirements, which ./dev installs from the lock to build the project offline)."""
    project = pyproject["project"]
    runtime = [Requirement(text) for text in project["dependencies"]]
    extras = [Requirement(text) for texts in project.get("optional-dependencies", {}).values() for text in texts]
    build = [Requirement(text) for text in pyproject.get("build-system", {}).get("requires", [])]
    own = canonicalize_name(project["name"])
    return runtime, [r for r in extras + build if canonicalize_name(r.name) != own]


def _admitted(requirements: list[Requirement], pins: dict[str, Pin], lock: str) -> list[str]:
    found = []
    for requirement in requirements:
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        pin = pins.get(canonicalize_name(requirement.name))
        if pin is None:
            found.append(f"{requirement.name}: named in pyproject.toml, not pinned in {lock}")
        elif not requirement.specifier.contains(pin.version, prereleases=True):
            found.append(
                f"{requirement.name}: pinned at {pin.version} in {lock}, "
                f"which pyproject.toml's {requirement.specifier} does not admit"
            )
    return found


def _unneeded(pins: dict[str, Pin], roots: set[str], lock: str) -> list[str]:
    """Pins nothing in pyproject.toml leads to: neither named there nor needed, package by package
    along the "via" lines, by something that is."""
    reached = {name for name in roots if name in pins}
    frontier = list(reached)
    while frontier:
        parent = frontier.pop()
        for pin in pins.values():
            if pin.name not in reached and parent in {
                canonicalize_name(v) for v in pin.via if not FROM_PYPROJECT.match(v)
            }:
                reached.add(pin.name)
                frontier.append(pin.name)
    return [f"{name}: pinned in {lock}, but nothing in pyproject.toml needs it" for name in sorted(set(pins) - reached)]


def problems(pyproject_text: str, runtime_text: str, dev_text: str) -> list[str]:
    pyproject = tomllib.loads(pyproject_text)
    runtime_reqs, dev_reqs = declared(pyproject)
    runtime, dev = parse_lock(runtime_text), parse_lock(dev_text)
    found = []
    for lock, pins in (("requirements.txt", runtime), ("requirements-dev.txt", dev)):
        found += [f"{pin.name}: pinned in {lock} without a hash" for pin in pins.values() if not pin.hashes]
    found += _admitted(runtime_reqs, runtime, "requirements.txt")
    found += _admitted(runtime_reqs + dev_reqs, dev, "requirements-dev.txt")
    for pin in runtime.values():
        other = dev.get(pin.name)
        if other is None:
            found.append(f"{pin.name}: in requirements.txt, missing from requirements-dev.txt")
        elif (other.version, other.hashes) != (pin.version, pin.hashes):
            found.append(
                f"{pin.name}: {pin.version} in requirements.txt, {other.version} (or other hashes) "
                "in requirements-dev.txt"
            )
    found += _unneeded(runtime, {canonicalize_name(r.name) for r in runtime_reqs}, "requirements.txt")
    found += _unneeded(dev, {canonicalize_name(r.name) for r in runtime_reqs + dev_reqs}, "requirements-dev.txt")
    return found
