"""The whole sandbox world, served on loopback: what tests, benchmarks and the demo start.

with Sandbox(World.generate(seed=1, repos=30, servers=10)) as sandbox:
    sandbox.env()   # API_BASE_URL, GITHUB_API_URL, SSH_KNOWN_HOSTS, … for the scheduler
"""

from __future__ import annotations

import secrets
from pathlib import Path

from contracts.platform import LABEL_PROVIDER, LABEL_PROVIDER_ID, LABEL_SSH_PORT, ServerStatus, server_handle
from sandbox.embeddings.app import embeddings_app
from sandbox.github.app import github_app
from sandbox.http import ServedApp
from sandbox.platform.api import create_app
from sandbox.ssh.fleet import SshFleet
from sandbox.time4vps.app import time4vps_app
from sandbox.world import World

#: the platform's owner user in the sandbox (``PLATFORM_OWNER_TELEGRAM_ID``): new projects are theirs
OWNER_TELEGRAM_ID = 900000001


class Sandbox:
    """Platform API, GitHub org, Time4VPS account, embeddings endpoint and SSH fleet of a World."""

    def __init__(
        self, world: World, *, db_path: str = ":memory:", ssh_port: int = 0, directory: str | Path | None = None
    ):
        self.world = world
        # Fresh credentials per sandbox: the scheduler must be told them, as in production.
        self.api_key = f"sandbox-key-{secrets.token_hex(8)}"
        self.github_token = f"ghp_sandbox{secrets.token_hex(16)}"
        self.time4vps_username = "sandbox@example.test"
        self.time4vps_password = f"t4v-{secrets.token_hex(8)}"
        self.rag_ingest_secret = f"rag-{secrets.token_hex(16)}"
        self.platform = create_app(db_path=db_path, api_key=self.api_key, rag_ingest_secret=self.rag_ingest_secret)
        self.owner_telegram_id = OWNER_TELEGRAM_ID
        if self.platform.store.find_user_by_telegram(OWNER_TELEGRAM_ID) is None:
            self.platform.store.create_user(OWNER_TELEGRAM_ID, username="owner", is_admin=True)
        self.github = github_app(world, self.github_token)
        self.time4vps = time4vps_app(world, self.time4vps_username, self.time4vps_password)
        self.embeddings = embeddings_app()
        self.fleet = SshFleet(directory, port=ssh_port)
        self._served: dict[str, ServedApp] = {}

    def start(self) -> Sandbox:
        for name, app in (
            ("embeddings", self.embeddings),
            ("platform", self.platform),
            ("github", self.github),
            ("time4vps", self.time4vps),
        ):
            self._served[name] = ServedApp(app).start()
            if name == "embeddings":  # the platform's RAG embeds through it, as the real one does
                self.platform.rag.embeddings_url = f"{self.url('embeddings')}/v1"
        for server in self.world.servers.values():
            self.fleet.add_host(server.ssh_host, server.host)
            server.ssh_port = self.fleet.port
        self.fleet.start()
        return self

    def sync_fleet(self) -> None:
        """Make the SSH fleet follow the world after it changed between cycles: hosts of new
        servers start listening, removed servers' hosts go away, changed states take effect."""
        wanted = {s.ssh_host: s for s in self.world.servers.values()}
        for address in set(self.fleet.hosts) - set(wanted):
            self.fleet.remove_host(address)
        for address, server in wanted.items():
            if address not in self.fleet.hosts:
                self.fleet.add_host(address, server.host)
            elif self.fleet.host(address).state is not server.host:
                self.fleet.set_state(address, server.host)
            server.ssh_port = self.fleet.port
        self.fleet.sync()

    def url(self, name: str) -> str:
        return self._served[name].url

    def seed_platform_servers(self, status: ServerStatus = ServerStatus.READY) -> int:
        """Server records for every world server, as server_sync and provisioning leave them:
        managed, ``ready``, reachable at the fleet host on the fleet's port (``labels.ssh_port``).
        The platform has no column for host keys: the fleet's are in ``SSH_KNOWN_HOSTS``."""
        records = [
            {
                "handle": server_handle(s.server_id),
                "host": s.ssh_host,
                "public_ip": s.public_ip,
                "ssh_user": "root",
                "is_managed": True,
                "status": status.value,
                "capacity_cpu": s.cpu_cores,
                "capacity_ram_mb": s.ram_mb,
                "capacity_disk_mb": s.disk_mb,
                "os_template": s.os or None,
                "labels": {
                    LABEL_PROVIDER: "time4vps",
                    LABEL_PROVIDER_ID: str(s.server_id),
                    LABEL_SSH_PORT: self.fleet.port,
                },
            }
            for s in self.world.servers.values()
        ]
        return len(self.platform.store.bulk_insert_servers(records))

    def env(self) -> dict[str, str]:
        """What points the scheduler at this sandbox."""
        return {
            "API_BASE_URL": self.url("platform"),
            "INTERNAL_API_KEY": self.api_key,
            "GITHUB_API_URL": self.url("github"),
            "GITHUB_ORG": self.world.org,
            "PLATFORM_OWNER_TELEGRAM_ID": str(self.owner_telegram_id),
            "GITHUB_TOKEN": self.github_token,
            "TIME4VPS_API_URL": f"{self.url('time4vps')}/api",
            "TIME4VPS_USERNAME": self.time4vps_username,
            "TIME4VPS_PASSWORD": self.time4vps_password,
            "SSH_PRIVATE_KEY_PATH": str(self.fleet.client_key_path),
            "SSH_KNOWN_HOSTS": str(self.fleet.known_hosts_path),
            "RAG_INGEST_SECRET": self.rag_ingest_secret,
            # where the platform stand-in embeds (the scheduler does not embed: shown for checks by hand)
            "EMBEDDINGS_URL": f"{self.url('embeddings')}/v1",
        }

    def stop(self) -> None:
        for served in self._served.values():
            served.stop()
        self._served.clear()
        self.fleet.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
