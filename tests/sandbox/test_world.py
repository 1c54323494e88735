"""The sandbox world: the same seed builds the same world, at full size, and mutations do what they say."""

from __future__ import annotations

import ipaddress
import tracemalloc

import pytest

from sandbox.ssh.hoststate import HostState, SshMode
from sandbox.world import MAX_REPOS, MAX_SERVERS, World

NOT_ROUTED = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "198.18.0.0/15")]
STATES = {"disk_full": 0.05, "docker_down": 0.05, "unreachable": 0.05, "slow": 0.05, "wrong_host_key": 0.05}


@pytest.fixture(scope="module")
def full_world() -> World:
    return World.generate(seed=2026, repos=MAX_REPOS, servers=MAX_SERVERS, host_states=STATES)


def test_same_seed_same_world_other_seed_other_world():
    one, two = World.generate(seed=3, repos=40, servers=40), World.generate(seed=3, repos=40, servers=40)
    assert one.repos == two.repos and one.servers == two.servers
    other = World.generate(seed=4, repos=40, servers=40)
    assert [r.name for r in other.org_repos()] != [r.name for r in one.org_repos()]
    assert [r.files for r in other.org_repos()] != [r.files for r in one.org_repos()]


def test_full_size_world_has_unique_ids_names_and_addresses(full_world):
    repos, servers = full_world.org_repos(), full_world.server_list()
    assert len(repos) == MAX_REPOS and len(servers) == MAX_SERVERS
    assert len({r.id for r in repos}) == MAX_REPOS and len({r.name.lower() for r in repos}) == MAX_REPOS
    assert len({s.server_id for s in servers}) == MAX_SERVERS
    assert len({s.public_ip for s in servers}) == MAX_SERVERS
    assert len({(s.ssh_host, s.ssh_port) for s in servers}) == MAX_SERVERS


def test_reported_ips_are_never_routable_and_ssh_hosts_are_loopback_but_not_127_0_0_1(full_world):
    for server in full_world.server_list():
        public = ipaddress.ip_address(server.public_ip)
        assert any(public in net for net in NOT_ROUTED), server.public_ip
        ssh = ipaddress.ip_address(server.ssh_host)
        assert ssh.is_loopback and server.ssh_host != "127.0.0.1"
        assert 0 < server.ssh_port < 65536


def test_the_full_world_fits_in_modest_memory():
    tracemalloc.start()
    try:
        World.generate(seed=9, repos=MAX_REPOS, servers=MAX_SERVERS)
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert current < 64 * 1024 * 1024


def test_sizes_beyond_the_limits_are_refused():
    with pytest.raises(ValueError):
        World.generate(repos=MAX_REPOS + 1)
    with pytest.raises(ValueError):
        World.generate(servers=MAX_SERVERS + 1)
    with pytest.raises(ValueError, match="unknown host states"):
        World.generate(servers=1, host_states={"on_fire": 0.5})


def test_repos_carry_metadata_a_readme_and_markdown_docs(full_world):
    repos = full_world.org_repos()
    assert {r.visibility for r in repos} == {"public", "private", "internal"}
    assert {r.default_branch for r in repos} == {"main", "master"}
    assert any(r.description is None for r in repos) and any(r.archived for r in repos)
    for repo in repos[:50]:
        assert repo.readme.startswith(f"# {repo.name}\n")
        assert 2 <= len(repo.docs) <= 4 and all(p.endswith(".md") for p in repo.docs)
        assert repo.created_at < repo.pushed_at and repo.owner == full_world.org


def test_host_states_are_mostly_healthy_with_the_sprinkles_asked_for(full_world):
    modes = [s.host.mode for s in full_world.server_list()]
    unreachable = modes.count(SshMode.UNREACHABLE)
    assert 300 < unreachable < 700  # 5 % of 10,000
    assert modes.count(SshMode.NORMAL) > 7000
    full = [s for s in full_world.server_list() if s.host.disks.get("/", 0) >= 95]
    down = [s for s in full_world.server_list() if not s.host.docker_running]
    assert 300 < len(full) < 700 and 300 < len(down) < 700
    assert all(s.host.mode is SshMode.NORMAL for s in World.generate(seed=1, servers=200).server_list())


def test_rename_keeps_the_id_and_remembers_the_old_name():
    world = World.generate(seed=1, repos=5, servers=0)
    repo = world.org_repos()[0]
    old, before = repo.name, world.now
    world.rename_repo(old, "fresh-name")
    assert world.repo("FRESH-NAME").id == repo.id and world.renamed_to(old) is repo
    assert repo.updated_at > before
    with pytest.raises(KeyError):
        world.repo(old)
    with pytest.raises(ValueError, match="already has"):
        world.rename_repo(world.org_repos()[1].name, "fresh-name")


def test_delete_transfer_and_restore_keep_the_id():
    world = World.generate(seed=1, repos=5, servers=0)
    first, second = world.org_repos()[:2]
    world.delete_repo(first.id)
    world.transfer_repo(second.name, "elsewhere")
    assert {r.id for r in world.org_repos()}.isdisjoint({first.id, second.id})
    assert second.owner == "elsewhere"
    world.restore_repo(first.name)
    world.restore_repo(second.id)
    assert {first.id, second.id} <= {r.id for r in world.org_repos()}
    with pytest.raises(KeyError):
        world.restore_repo(first.id)  # already back


def test_edits_move_the_right_timestamps():
    world = World.generate(seed=1, repos=3, servers=0)
    repo = world.org_repos()[0]
    pushed = repo.pushed_at
    world.edit_description(repo.id, "new words")
    assert repo.description == "new words" and repo.pushed_at == pushed
    world.edit_readme(repo.id, "# New\n")
    assert repo.readme == "# New\n" and repo.pushed_at > pushed
    world.edit_readme(repo.id, None)
    assert repo.readme is None
    world.archive_repo(repo.id)
    assert repo.archived


def test_server_mutations():
    world = World.generate(seed=1, repos=0, servers=3)
    server = world.server_list()[0]
    world.fill_disk(server.server_id, 97)
    assert server.host.disks["/"] == 97 and server.disk_used_mb == server.disk_mb * 97 // 100
    world.set_host_state(server.server_id, mode=SshMode.SLOW, delay_s=2.0)
    assert world.server(server.server_id).host.mode is SshMode.SLOW
    assert world.server(server.server_id).host.disks["/"] == 97  # other fields kept
    world.set_host_state(server.server_id, HostState.docker_down())
    assert not world.server(server.server_id).host.docker_running
    added = world.add_server(label="extra")
    assert added.label == "extra" and added.ssh_host not in {s.ssh_host for s in world.server_list()[:3]}
    world.remove_server(server.server_id)
    assert server.server_id not in world.servers and len(world.server_list()) == 3


def test_mutation_sequences_are_deterministic():
    def run() -> World:
        world = World.generate(seed=8, repos=10, servers=10)
        world.add_repo()
        world.rename_repo(world.org_repos()[2].id, "renamed")
        world.add_server()
        return world

    one, two = run(), run()
    assert one.repos == two.repos and one.servers == two.servers and one.now == two.now
