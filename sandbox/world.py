"""The sandbox world: one GitHub organisation's repositories and one Time4VPS account's servers.

``World.generate(seed=…, repos=N, servers=M)`` builds the same world for the same arguments.
The stand-ins (``sandbox.github.app``, ``sandbox.time4vps.app``, the SSH fleet) serve views of it, and
tests change it between cycles through the mutation methods below. Every mutation advances the
world's clock by one minute, so timestamps move forward and stay deterministic.

Reads and writes hold ``World.lock``: the stand-ins serve from another thread.
"""

from __future__ import annotations

import copy
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

from sandbox.ssh.hoststate import Container, HostState, SshMode

MAX_REPOS = 1_000
MAX_SERVERS = 10_000
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

_ADJECTIVES = (
    "amber",
    "brisk",
    "calm",
    "deft",
    "eager",
    "fair",
    "gentle",
    "hardy",
    "keen",
    "lucid",
    "mellow",
    "nimble",
    "proud",
    "quiet",
    "rapid",
    "solid",
    "tidy",
    "vivid",
    "witty",
    "young",
)
_NOUNS = (
    "harbor",
    "falcon",
    "meadow",
    "beacon",
    "canyon",
    "delta",
    "ember",
    "fjord",
    "grove",
    "island",
    "lagoon",
    "mesa",
    "nebula",
    "orchard",
    "prairie",
    "quarry",
    "reef",
    "summit",
    "tundra",
    "valley",
)
#: A repository's subject; its words run through its texts, so repos on one subject read alike.
_DOMAINS = {
    "billing": ("invoice", "payment", "subscription", "refund", "currency", "ledger"),
    "auth": ("login", "token", "session", "password", "oauth", "permission"),
    "search": ("index", "query", "ranking", "tokenizer", "shard", "relevance"),
    "media": ("image", "thumbnail", "upload", "transcode", "storage", "cdn"),
    "messaging": ("queue", "consumer", "broker", "retry", "delivery", "topic"),
    "analytics": ("event", "dashboard", "metric", "funnel", "cohort", "report"),
}
_DOC_PAGES = (
    "architecture",
    "deployment",
    "configuration",
    "api",
    "troubleshooting",
    "guides/setup",
    "guides/upgrading",
)
_OSES = ("ubuntu-22.04-x86_64", "ubuntu-24.04-x86_64", "debian-12-x86_64", "almalinux-9-x86_64")
_PLANS = ((1, 2048, 20480), (2, 4096, 40960), (4, 8192, 81920), (8, 16384, 163840))  # cores, RAM MB, disk MB
#: Reported public addresses: TEST-NET-1/2/3 (RFC 5737) first, then 198.18.0.0/15 (RFC 2544), which is
#: not routed on the internet either; the three /24 documentation nets hold only 762 hosts.
_DOC_NETS = ("192.0.2", "198.51.100", "203.0.113")


@dataclass(slots=True)
class Repo:
    id: int
    name: str
    owner: str  # the organisation's login, or the new owner after a transfer
    description: str | None
    default_branch: str
    visibility: str  # public | private | internal
    archived: bool
    disabled: bool
    created_at: datetime
    updated_at: datetime
    pushed_at: datetime
    language: str | None
    topics: list[str]
    #: path -> text (or bytes: a binary or non-UTF-8 file): ``README.md`` at the root (may be absent),
    #: Markdown under ``docs/``, one source file
    files: dict[str, str | bytes]
    deleted: bool = False

    @property
    def private(self) -> bool:
        return self.visibility != "public"

    @property
    def readme(self) -> str | None:
        return self.files.get("README.md")

    @property
    def docs(self) -> dict[str, str]:
        return {path: text for path, text in self.files.items() if path.startswith("docs/")}


@dataclass(slots=True)
class Server:
    server_id: int
    domain: str
    label: str
    public_ip: str  # what Time4VPS reports; never routable
    ssh_host: str  # where the sandbox SSH server for this host listens: 127.a.b.c, never 127.0.0.1
    ssh_port: int
    type: str
    os: str
    cpu_cores: int
    cpu_frequency: int  # MHz
    ram_mb: int
    disk_mb: int
    bandwidth_gb: int
    package_id: int
    date_created: date
    synch_date: datetime
    host: HostState
    status: str = "Active"  # Time4VPS lists only active servers

    @property
    def disk_used_mb(self) -> int:
        return self.disk_mb * self.host.disks.get("/", 0) // 100

    @property
    def ram_used_mb(self) -> int:
        return self.ram_mb // 4 if self.host.docker_running else self.ram_mb // 10


class World:
    def __init__(self, org: str = "sandbox-org", org_id: int = 90_000_001, seed: int = 0):
        self.org = org
        self.org_id = org_id
        self.seed = seed
        self.now = START
        self.repos: dict[int, Repo] = {}  # every repo ever created, by id, including gone ones
        self.servers: dict[int, Server] = {}  # current servers, by Time4VPS id
        self.former_names: dict[str, int] = {}  # lower-cased old name -> repo id (GitHub redirects these)
        self.lock = threading.RLock()
        self._rng = random.Random(f"world:{seed}")
        self._next_repo_id = 700_000_000 + seed % 1000 * 1000
        self._next_server_id = 740_000 + seed % 100 * 100
        self._hosts_allocated = 0

    @classmethod
    def generate(
        cls,
        seed: int = 0,
        repos: int = 50,
        servers: int = 20,
        *,
        org: str = "sandbox-org",
        host_states: Mapping[str, float] | None = None,
        without_readme: float = 0.0,
    ) -> World:
        """A world of ``repos`` repositories and ``servers`` servers, the same for the same arguments.

        ``host_states`` sprinkles non-healthy hosts by share, e.g. ``{"disk_full": 0.02, "docker_down":
        0.01, "unreachable": 0.01, "slow": 0.01, "wrong_host_key": 0.005}``; the rest are healthy.
        ``without_readme`` is the share of repositories that have no README.
        """
        if not 0 <= repos <= MAX_REPOS or not 0 <= servers <= MAX_SERVERS:
            raise ValueError(f"at most {MAX_REPOS} repos and {MAX_SERVERS} servers")
        unknown = set(host_states or {}) - set(_STATE_MAKERS)
        if unknown:
            raise ValueError(f"unknown host states {sorted(unknown)}; known: {sorted(_STATE_MAKERS)}")
        world = cls(org=org, seed=seed)
        for index in range(repos):
            created = START - timedelta(days=repos - index + 2, minutes=world._rng.randrange(600))
            world._create_repo(created, with_readme=world._rng.random() >= without_readme)
        for _ in range(servers):
            state = _pick_state(world._rng, host_states or {})
            world._create_server(state, created=START.date() - timedelta(days=world._rng.randrange(30, 900)))
        return world

    # ---- reading -------------------------------------------------------------------------------

    def org_repos(self) -> list[Repo]:
        """The organisation's repositories as they stand (a snapshot list)."""
        with self.lock:
            return [r for r in self.repos.values() if r.owner == self.org and not r.deleted]

    def repo(self, name_or_id: str | int) -> Repo:
        """An organisation repository by current name (case-insensitive) or id."""
        with self.lock:
            for repo in self.org_repos():
                if repo.id == name_or_id or (isinstance(name_or_id, str) and repo.name.lower() == name_or_id.lower()):
                    return repo
        raise KeyError(f"no repository {name_or_id!r} in {self.org}")

    def renamed_to(self, old_name: str) -> Repo | None:
        """The org repository an old name now redirects to, if any."""
        with self.lock:
            repo = self.repos.get(self.former_names.get(old_name.lower(), -1))
            return repo if repo and repo.owner == self.org and not repo.deleted else None

    def server(self, server_id: int) -> Server:
        with self.lock:
            return self.servers[server_id]

    def server_list(self) -> list[Server]:
        with self.lock:
            return list(self.servers.values())

    # ---- repository mutations --------------------------------------------------------------------

    def add_repo(self, name: str | None = None, **fields) -> Repo:
        with self.lock:
            repo = self._create_repo(self._tick(), name=name)
            for key, value in fields.items():
                setattr(repo, key, value)
            return repo

    def rename_repo(self, repo: str | int, new_name: str) -> Repo:
        with self.lock:
            target = self.repo(repo)
            self._claim_name(new_name, allow_id=target.id)
            self.former_names[target.name.lower()] = target.id
            target.name = new_name
            target.updated_at = self._tick()
            return target

    def archive_repo(self, repo: str | int, archived: bool = True) -> Repo:
        return self._update(repo, archived=archived)

    def disable_repo(self, repo: str | int, disabled: bool = True) -> Repo:
        return self._update(repo, disabled=disabled)

    def set_visibility(self, repo: str | int, visibility: str) -> Repo:
        return self._update(repo, visibility=visibility)

    def edit_description(self, repo: str | int, description: str | None) -> Repo:
        return self._update(repo, description=description)

    def edit_readme(self, repo: str | int, text: str | None) -> Repo:
        """Replace the README (``None`` deletes it); a push, so ``pushed_at`` moves too."""
        return self.edit_file(repo, "README.md", text)

    def edit_file(self, repo: str | int, path: str, text: str | bytes | None) -> Repo:
        with self.lock:
            target = self.repo(repo)
            if text is None:
                target.files.pop(path, None)
            else:
                target.files[path] = text
            target.pushed_at = target.updated_at = self._tick()
            return target

    def delete_repo(self, repo: str | int) -> Repo:
        return self._update(repo, deleted=True)

    def transfer_repo(self, repo: str | int, new_owner: str = "someone-else") -> Repo:
        """The repository leaves the organisation (same id, another owner)."""
        return self._update(repo, owner=new_owner)

    def restore_repo(self, repo: str | int) -> Repo:
        """Bring back a deleted or transferred repository, same id, into the organisation."""
        with self.lock:
            gone = [r for r in self.repos.values() if r.deleted or r.owner != self.org]
            target = next(
                (r for r in gone if r.id == repo or (isinstance(repo, str) and r.name.lower() == repo.lower())), None
            )
            if target is None:
                raise KeyError(f"no deleted or transferred repository {repo!r}")
            self._claim_name(target.name, allow_id=target.id)
            target.deleted, target.owner, target.updated_at = False, self.org, self._tick()
            return target

    # ---- server mutations ------------------------------------------------------------------------

    def add_server(self, host: HostState | None = None, **fields) -> Server:
        with self.lock:
            server = self._create_server(host or _healthy(self._rng), created=self._tick().date())
            for key, value in fields.items():
                setattr(server, key, value)
            return server

    def remove_server(self, server_id: int) -> Server:
        with self.lock:
            self._tick()
            return self.servers.pop(server_id)

    def set_server_status(self, server_id: int, status: str) -> Server:
        with self.lock:
            server = self.servers[server_id]
            server.status, server.synch_date = status, self._tick()
            return server

    def resize_server(self, server_id: int, *, cpu_cores: int, ram_mb: int, disk_mb: int) -> Server:
        """A plan change at the provider: the details change, and so does the list's ``synch_date``."""
        with self.lock:
            server = self.servers[server_id]
            server.cpu_cores, server.ram_mb, server.disk_mb, server.synch_date = (
                cpu_cores,
                ram_mb,
                disk_mb,
                self._tick(),
            )
            return server

    def change_server_ip(self, server_id: int, public_ip: str) -> Server:
        """The provider gives the server another primary address (list and details both show it)."""
        with self.lock:
            server = self.servers[server_id]
            server.public_ip, server.synch_date = public_ip, self._tick()
            return server

    def fill_disk(self, server_id: int, percent: int, mount: str = "/") -> Server:
        with self.lock:
            server = self.servers[server_id]
            server.host.disks[mount] = percent
            server.synch_date = self._tick()
            return server

    def set_host_state(self, server_id: int, state: HostState | None = None, **changes) -> Server:
        """Replace the host's state, or change some of its fields: ``set_host_state(id, mode=SshMode.SLOW)``."""
        with self.lock:
            server = self.servers[server_id]
            server.host = replace(copy.deepcopy(state) if state else server.host, **changes)
            self._tick()
            return server

    # ---- building --------------------------------------------------------------------------------

    def _tick(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now

    def _update(self, repo: str | int, **fields) -> Repo:
        with self.lock:
            target = self.repo(repo)
            for key, value in fields.items():
                setattr(target, key, value)
            target.updated_at = self._tick()
            return target

    def _claim_name(self, name: str, allow_id: int) -> None:
        if any(r.name.lower() == name.lower() and r.id != allow_id for r in self.org_repos()):
            raise ValueError(f"{self.org} already has a repository named {name!r}")
        self.former_names.pop(name.lower(), None)  # a live repo takes precedence over a redirect

    def _create_repo(self, created: datetime, name: str | None = None, with_readme: bool = True) -> Repo:
        rng = self._rng
        repo_id = self._next_repo_id
        self._next_repo_id += rng.randrange(1, 5000)
        domain = rng.choice(sorted(_DOMAINS))
        name = name or self._fresh_name(rng, domain)
        self._claim_name(name, allow_id=repo_id)
        description = None if rng.random() < 0.1 else f"The {domain} {rng.choice(_NOUNS)} service."
        repo = Repo(
            id=repo_id,
            name=name,
            owner=self.org,
            description=description,
            default_branch="main" if rng.random() < 0.9 else "master",
            visibility=rng.choices(("public", "private", "internal"), (5, 4, 1))[0],
            archived=rng.random() < 0.03,
            disabled=False,
            created_at=created,
            updated_at=created + timedelta(hours=rng.randrange(1, 48)),
            pushed_at=created + timedelta(hours=rng.randrange(1, 48)),
            language=rng.choice(("Python", "Go", "TypeScript", None)),
            topics=[domain],
            files=_repo_files(random.Random(f"{self.seed}:{repo_id}"), name, domain, description, with_readme),
        )
        self.repos[repo_id] = repo
        return repo

    def _fresh_name(self, rng: random.Random, domain: str) -> str:
        taken = {r.name.lower() for r in self.org_repos()} | set(self.former_names)
        base = f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}-{domain}"
        name, suffix = base, 2
        while name in taken:
            name, suffix = f"{base}-{suffix}", suffix + 1
        return name

    def _create_server(self, host: HostState, created: date) -> Server:
        rng = self._rng
        index = self._hosts_allocated
        self._hosts_allocated += 1
        server_id = self._next_server_id
        self._next_server_id += rng.randrange(1, 40)
        cores, ram, disk = rng.choice(_PLANS)
        role = rng.choice(("web", "db", "worker", "cache", "edge"))
        server = Server(
            server_id=server_id,
            domain=f"vps{server_id}.sandbox.test",
            label=f"{role}-{index + 1:04d}",
            public_ip=_public_ip(index),
            ssh_host=_ssh_host(index),
            ssh_port=2222,
            type="KVM",
            os=rng.choice(_OSES),
            cpu_cores=cores,
            cpu_frequency=rng.choice((2400, 2900, 3300)),
            ram_mb=ram,
            disk_mb=disk,
            bandwidth_gb=cores * 2000,
            package_id=300 + _PLANS.index((cores, ram, disk)),
            date_created=created,
            synch_date=self.now,
            host=host,
        )
        self.servers[server_id] = server
        return server


def _public_ip(index: int) -> str:
    if index < 254 * len(_DOC_NETS):
        return f"{_DOC_NETS[index // 254]}.{index % 254 + 1}"
    offset = index - 254 * len(_DOC_NETS)  # 198.18.0.0/15, skipping .0 and .255 in each /24
    return f"198.{18 + offset // (256 * 254)}.{offset // 254 % 256}.{offset % 254 + 1}"


def _ssh_host(index: int) -> str:
    return f"127.{1 + index // (256 * 254)}.{index // 254 % 256}.{index % 254 + 1}"


def _healthy(rng: random.Random) -> HostState:
    return HostState(disks={"/": rng.randrange(15, 70)}, containers=[Container("web"), Container("worker")])


_STATE_MAKERS = {
    "disk_full": lambda rng: HostState.disk_nearly_full(rng.randrange(95, 100)),
    "docker_down": lambda rng: HostState.docker_down(),
    "unreachable": lambda rng: HostState(mode=SshMode.UNREACHABLE),
    "slow": lambda rng: HostState(mode=SshMode.SLOW, delay_s=5.0),
    "wrong_host_key": lambda rng: HostState(mode=SshMode.WRONG_HOST_KEY),
}


def _pick_state(rng: random.Random, shares: Mapping[str, float]) -> HostState:
    roll = rng.random()
    for name in sorted(shares):
        if roll < shares[name]:
            return _STATE_MAKERS[name](rng)
        roll -= shares[name]
    return _healthy(rng)


def _repo_files(
    rng: random.Random, name: str, domain: str, description: str | None, with_readme: bool
) -> dict[str, str]:
    words = _DOMAINS[domain]

    def paragraph() -> str:
        picks = rng.sample(words, 4)
        return (
            f"This service handles {picks[0]} and {picks[1]} for the platform. "
            f"Each {picks[2]} is validated before the {picks[3]} is stored."
        )

    files: dict[str, str] = {}
    if with_readme:
        files["README.md"] = (
            f"# {name}\n\n{description or 'No description yet.'}\n\n## Overview\n\n{paragraph()}\n\n"
            f"## Getting started\n\n```bash\nmake run\n```\n\n## Configuration\n\n{paragraph()}\n"
        )
    for page in sorted(rng.sample(_DOC_PAGES, rng.randrange(2, 5))):
        title = page.rsplit("/", 1)[-1].capitalize()
        files[f"docs/{page}.md"] = f"# {title}\n\n{paragraph()}\n\n{paragraph()}\n"
    files["src/main.py"] = f'"""{name}: {domain} service."""\n\n\ndef main() -> None:\n    print("{name}")\n'
    return files
