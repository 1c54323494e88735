"""The composed sandbox: every stand-in reachable with the credentials it hands out."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import asyncssh
import httpx

from sandbox.running import Sandbox
from sandbox.ssh.hoststate import SshMode
from sandbox.world import World
from tests.support import ROOT


def test_the_sandbox_serves_every_stand_in_with_the_env_it_prints():
    world = World.generate(seed=3, repos=12, servers=4)
    with Sandbox(world) as sandbox:
        assert sandbox.seed_platform_servers() == 4
        env = sandbox.env()
        servers = httpx.get(f"{env['API_BASE_URL']}/api/servers/", headers={"X-Internal-Key": env["INTERNAL_API_KEY"]})
        assert servers.status_code == 200 and len(servers.json()) == 4
        repos = httpx.get(
            f"{env['GITHUB_API_URL']}/orgs/{env['GITHUB_ORG']}/repos",
            headers={"Authorization": f"Bearer {env['GITHUB_TOKEN']}"},
        )
        assert repos.status_code == 200 and len(repos.json()) == 12
        t4v = httpx.get(f"{env['TIME4VPS_API_URL']}/server", auth=(env["TIME4VPS_USERNAME"], env["TIME4VPS_PASSWORD"]))
        assert t4v.status_code == 200 and len(t4v.json()) == 4
        emb = httpx.post(f"{env['EMBEDDINGS_URL']}/embeddings", json={"input": "hello", "model": "m"})
        assert emb.status_code == 200
        record = servers.json()[0]

        async def probe():
            known = asyncssh.read_known_hosts(env["SSH_KNOWN_HOSTS"])
            async with asyncssh.connect(
                record["host"],
                record["labels"]["ssh_port"],
                username="root",
                known_hosts=known,
                client_keys=[env["SSH_PRIVATE_KEY_PATH"]],
                agent_path=None,
                config=None,
            ) as conn:
                return (await conn.run("echo ok")).stdout

        assert asyncio.run(probe()) == "ok\n"
        for url in (env["API_BASE_URL"], env["GITHUB_API_URL"], env["TIME4VPS_API_URL"], env["EMBEDDINGS_URL"]):
            assert url.startswith("http://127.")


def test_python_m_sandbox_prints_export_lines_and_keeps_running():
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--repos", "5", "--servers", "3"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = [process.stdout.readline().strip() for _ in range(12)]
        assert all(line.startswith("export ") for line in lines)
        env = dict(line.removeprefix("export ").split("=", 1) for line in lines)
        assert {
            "API_BASE_URL",
            "GITHUB_TOKEN",
            "SSH_KNOWN_HOSTS",
            "RAG_INGEST_SECRET",
            "PLATFORM_OWNER_TELEGRAM_ID",
        } <= set(env)
        assert process.poll() is None, "it keeps serving"
        api = httpx.get(f"{env['API_BASE_URL']}/api/servers/", headers={"X-Internal-Key": env["INTERNAL_API_KEY"]})
        assert len(api.json()) == 3
    finally:
        process.terminate()
        process.wait(10)


def test_the_fleet_follows_the_world_between_cycles():
    world = World.generate(seed=4, repos=1, servers=3)
    with Sandbox(world) as sandbox:
        first, second, third = list(world.servers.values())
        world.remove_server(first.server_id)
        added = world.add_server()
        world.set_host_state(second.server_id, mode=SshMode.UNREACHABLE)
        world.fill_disk(third.server_id, 97)
        sandbox.sync_fleet()
        known = asyncssh.read_known_hosts(sandbox.env()["SSH_KNOWN_HOSTS"])

        async def df(host):
            async with asyncssh.connect(
                host,
                sandbox.fleet.port,
                username="root",
                known_hosts=known,
                client_keys=[str(sandbox.fleet.client_key_path)],
                agent_path=None,
                config=None,
                connect_timeout=5,
            ) as conn:
                return (await conn.run("df -P")).stdout

        assert "97%" in asyncio.run(df(third.ssh_host))
        assert "%" in asyncio.run(df(added.ssh_host))
        for gone in (first.ssh_host, second.ssh_host):
            try:
                asyncio.run(df(gone))
            except (OSError, asyncssh.Error) as exc:
                assert isinstance(exc, ConnectionRefusedError | asyncssh.HostKeyNotVerifiable), exc
            else:
                raise AssertionError(f"{gone} still answers")


def test_python_m_sandbox_docs_serves_each_folder_as_a_repository_with_its_files(tmp_path):
    (tmp_path / "alerts-service" / "docs").mkdir(parents=True)
    (tmp_path / "alerts-service" / "README.md").write_text("# Alerts\nSends Telegram alerts.\n")
    (tmp_path / "alerts-service" / "docs" / "setup.md").write_text("## Setup\nSet the bot token.\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--repos", "0", "--servers", "0", "--docs", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = [process.stdout.readline().strip() for _ in range(12)]
        env = dict(line.removeprefix("export ").split("=", 1) for line in lines)
        github = {"Authorization": f"Bearer {env['GITHUB_TOKEN']}"}
        repos = httpx.get(f"{env['GITHUB_API_URL']}/orgs/{env['GITHUB_ORG']}/repos", headers=github).json()
        assert [r["name"] for r in repos] == ["alerts-service"]
        tree = httpx.get(
            f"{env['GITHUB_API_URL']}/repos/{env['GITHUB_ORG']}/alerts-service/git/trees/{repos[0]['default_branch']}",
            params={"recursive": "1"},
            headers=github,
        ).json()
        assert {e["path"] for e in tree["tree"] if e["type"] == "blob"} == {"README.md", "docs/setup.md"}
    finally:
        process.terminate()
