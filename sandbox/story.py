"""A world that changes while the demo runs, so every task has something to do on the page.

``Story`` walks through ``STEPS``, one every ``interval_s`` seconds, on a daemon thread, and says
each on stderr (``# story: …``): a repository is added (github_sync creates its project), one is
deleted (it goes missing, then archived), a server is ordered (server_sync records it
``pending_setup`` and it is announced on ``provisioner:queue``), a monitored server goes down (an
incident opens) and comes back (it is resolved). Then it starts over.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sandbox.ssh.hoststate import SshMode
from sandbox.world import World


@dataclass(frozen=True)
class Step:
    says: str
    act: Callable[[World, dict], str]  # returns what it touched, for the line it prints
    touches_fleet: bool = False


def _add_repo(world: World, _memory: dict) -> str:
    return world.add_repo().name


def _delete_repo(world: World, _memory: dict) -> str:
    live = [r for r in world.org_repos() if not r.deleted]
    return world.delete_repo(live[0].id).name if live else "none left"


def _order_server(world: World, _memory: dict) -> str:
    return str(world.add_server().server_id)


def _server_down(world: World, memory: dict) -> str:
    # the server that started the story healthy: monitored, so its checks notice
    candidates = [s for s in world.server_list() if s.host.mode is SshMode.NORMAL]
    if not candidates:
        return "none healthy"
    memory["down"] = candidates[0].server_id
    world.set_host_state(candidates[0].server_id, mode=SshMode.UNREACHABLE)
    return str(candidates[0].server_id)


def _server_back(world: World, memory: dict) -> str:
    server_id = memory.pop("down", None)
    if server_id is None or server_id not in world.servers:
        return "none down"
    world.set_host_state(server_id, mode=SshMode.NORMAL)
    return str(server_id)


STEPS: tuple[Step, ...] = (
    Step("a repository is added (github_sync makes it a draft project)", _add_repo),
    Step("a repository is deleted (missing, then archived)", _delete_repo),
    Step(
        "a server is ordered (server_sync records it pending_setup and announces it)", _order_server, touches_fleet=True
    ),
    Step("a monitored server goes down (an incident opens)", _server_down, touches_fleet=True),
    Step("the server is back (the incident is resolved)", _server_back, touches_fleet=True),
)


class Story:
    """Plays ``STEPS`` on ``world`` in a loop; ``sync_fleet`` makes the SSH fleet follow the world."""

    def __init__(self, world: World, sync_fleet: Callable[[], None], interval_s: float, out=None):
        self.world, self.sync_fleet, self.interval_s = world, sync_fleet, interval_s
        self.out = out if out is not None else sys.stderr
        self.memory: dict = {}
        self.played = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-story", daemon=True)

    def step(self) -> str:
        """Play the next step now; the line it says."""
        step = STEPS[self.played % len(STEPS)]
        touched = step.act(self.world, self.memory)
        if step.touches_fleet:
            self.sync_fleet()
        self.played += 1
        line = f"# story: {step.says}: {touched}"
        print(line, file=self.out, flush=True)
        return line

    def start(self) -> Story:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.step()
