"""The demo's changing world (sandbox/story.py): each step does what it says to the world and to
the SSH fleet that serves it, and the story starts over after the last step."""

from __future__ import annotations

import io

from sandbox.running import Sandbox
from sandbox.ssh.hoststate import HostState, SshMode
from sandbox.story import STEPS, Story
from sandbox.world import World


def test_each_step_changes_the_world_and_the_fleet_follows():
    world = World.generate(seed=3, repos=4, servers=3, host_states={})
    with Sandbox(world) as sandbox:
        out = io.StringIO()
        story = Story(world, sandbox.sync_fleet, interval_s=3600, out=out)
        names = {r.name for r in world.org_repos()}

        story.step()  # a repository is added
        added = {r.name for r in world.org_repos()} - names
        assert len(added) == 1

        story.step()  # a repository is deleted
        assert len(world.org_repos()) == len(names) and not names <= {r.name for r in world.org_repos()}

        servers = set(world.servers)
        story.step()  # a server is ordered: it exists at the provider and its SSH host listens
        (new,) = set(world.servers) - servers
        assert world.servers[new].ssh_host in sandbox.fleet.hosts

        story.step()  # a monitored server goes down
        down = story.memory["down"]
        assert sandbox.fleet.host(world.servers[down].ssh_host).state.mode is SshMode.UNREACHABLE

        story.step()  # and comes back
        assert sandbox.fleet.host(world.servers[down].ssh_host).state.mode is SshMode.NORMAL

        lines = out.getvalue().splitlines()
        assert [line.removeprefix("# story: ").rsplit(": ", 1)[0] for line in lines] == [s.says for s in STEPS]
        assert lines[0].endswith(added.pop())

        assert story.step().startswith(f"# story: {STEPS[0].says}")  # it starts over


def test_with_no_healthy_server_the_down_step_says_so_and_the_next_touches_nothing():
    world = World.generate(seed=3, repos=1, servers=1, host_states={})
    only = next(iter(world.servers))
    world.set_host_state(only, HostState(mode=SshMode.UNREACHABLE))
    story = Story(world, lambda: None, interval_s=3600, out=io.StringIO())
    story.played = 3
    assert story.step().endswith("none healthy")
    assert story.step().endswith("none down")
