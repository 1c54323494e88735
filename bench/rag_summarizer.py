"""rag_summarizer benchmark: what a cycle costs for 200 projects on the platform's RAG API, beside
the naive way, in the same run.

Both sides run in this process, each against its own copy of the same sandbox world (200
repositories, a README and 2-4 docs pages each), its own GitHub stand-in and platform stand-in on
loopback; the platform stand-ins chunk and embed what they are sent through one embeddings
stand-in (WordLlama, bundled), as the real platform does with its own model:
- ours: the real task function (``run_rag_summarizer``: conditional trees, pure plan, only changed
  documents read and sent), its Redis on ``REDIS_URL`` if set, else an embedded redis-server (only
  this run's keys are touched, and removed afterwards);
- naive: every cycle, every project's tree and every document's content read, and every document
  sent to the ingest (the platform skips an unchanged ``content_hash``, so it embeds no more than
  ours: the cost is GitHub's points and the ingest requests).

Phases: cold (empty index), steady (nothing changed), 5 documents changed in 5 projects.

    .venv/bin/python bench/rag_summarizer.py [--repos 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import redis
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kit import bench_redis, machine  # noqa: E402  (bench/kit.py)

from actors.adapters.github.client import GitHubClient  # noqa: E402
from actors.adapters.github.settings import GitHubSettings  # noqa: E402
from actors.adapters.platform.client import PlatformClient  # noqa: E402
from actors.tasks.deps import Dependencies  # noqa: E402
from actors.tasks.rag_summarizer.apply import document  # noqa: E402
from actors.tasks.rag_summarizer.plan import ProjectPlan  # noqa: E402
from actors.tasks.rag_summarizer.settings import RagSummarizerSettings  # noqa: E402
from actors.tasks.rag_summarizer.task import run_rag_summarizer  # noqa: E402
from actors.tasks.rag_summarizer.text import decode  # noqa: E402
from contracts.github import ContentFile, GitTree  # noqa: E402
from contracts.platform import RagIngest  # noqa: E402
from process.logs import configure_logging  # noqa: E402
from process.settings import Settings
from sandbox.embeddings.app import embeddings_app  # noqa: E402
from sandbox.github.app import github_app  # noqa: E402
from sandbox.http import ServedApp  # noqa: E402
from sandbox.platform.api import create_app  # noqa: E402
from sandbox.world import World  # noqa: E402

TOKEN = "ghp_benchtoken000000000000000000000000000"
KEY = "bench-internal-key"
SECRET = "bench-rag-ingest-secret"
CONTENTS = "GET /repos/{owner}/{repo}/contents/{path:path}"
INGEST = "POST /api/rag/ingest"
DOCS = RagSummarizerSettings().documents


class Side:
    def __init__(self, name: str, repos: int, org: str, embeddings_url: str, embeddings):
        self.name, self.org, self.embeddings = name, org, embeddings
        self.world = World.generate(seed=42, repos=repos, servers=0, org=org)
        self.github = github_app(self.world, TOKEN, rate_limit=1_000_000)  # never the limit here: we count
        self.platform = create_app(api_key=KEY, rag_ingest_secret=SECRET, embeddings_url=embeddings_url)
        store = self.platform.store
        self.owner = store.create_user(900000001, username="owner")["id"]
        self.projects = []  # (project id, full name, git url)
        for repo in self.world.org_repos():
            project = store.create_project(
                title=repo.name,
                owner_id=self.owner,
                initiating_run_id="bench",
                status="archived" if repo.archived else "active",
            )
            git_url = f"https://github.com/{org}/{repo.name}.git"
            store.create_repository(project_id=project["id"], name=repo.name, git_url=git_url, provider_repo_id=repo.id)
            if not repo.archived:
                self.projects.append((project["id"], f"{org}/{repo.name}", git_url))
        self.served = [ServedApp(self.github).start(), ServedApp(self.platform).start()]
        self.github_url, self.platform_url = self.served[0].url, self.served[1].url
        self.indexed = 0

    def snapshot(self) -> dict[str, int]:
        return {
            "requests": self.github.counters.total(),
            "points": self.github.points_used(),
            "contents": self.github.counters.requests[CONTENTS],
            "ingests": self.platform.counters.requests[INGEST],
            "indexed": self.indexed,
        }

    def change_five_documents(self) -> None:
        live = sorted((r for r in self.world.org_repos() if not r.archived), key=lambda r: r.id)
        for repo in live[:: len(live) // 5][:5]:
            path = sorted(p for p in repo.files if p.startswith("docs/"))[0]
            self.world.edit_file(repo.id, path, repo.files[path] + "\n## Changed\n\nThis page was edited.\n")

    def stop(self) -> None:
        for served in self.served:
            served.stop()


class BenchRun:
    """What the task function needs of its run: dependencies, a fence (no contender here), counters."""

    def __init__(self, deps: Dependencies):
        self.deps, self.counters = deps, Counter()

    async def fence(self) -> None:
        pass

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n


def ours_cycle(side: Side, deps: Dependencies) -> dict:
    run = BenchRun(deps)

    async def one():
        try:
            await run_rag_summarizer(run)
        finally:
            await deps.aclose()

    asyncio.run(one())
    side.indexed += run.counters["documents_indexed"]
    return dict(run.counters)


async def naive_cycle(side: Side) -> None:
    """Every tree, every content, every document sent, every cycle."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/vnd.github+json"}
    async with (
        httpx.AsyncClient(base_url=side.github_url, headers=headers, timeout=30) as gh,
        PlatformClient(side.platform_url, SecretStr(KEY), rag_ingest_secret=SecretStr(SECRET)) as platform,
    ):
        for project_id, full_name, git_url in side.projects:
            tree = GitTree.model_validate((await gh.get(f"/repos/{full_name}/git/trees/HEAD?recursive=1")).json())
            plan = ProjectPlan(project_id, side.owner, full_name, git_url)
            for entry in (e for e in tree.blobs() if DOCS.wanted(e.path)):
                file = ContentFile.model_validate((await gh.get(f"/repos/{full_name}/contents/{entry.path}")).json())
                answer = await platform.ingest(
                    RagIngest(
                        project_id=project_id,
                        user_id=side.owner,
                        documents=[document(plan, entry.path, decode(file.decoded()) or "")],
                    )
                )
                side.indexed += answer.documents_indexed


def measure(side: Side, cycle) -> dict:
    before, calls, started = side.snapshot(), side.embeddings.counters.batches[:], time.perf_counter()
    cycle()
    after = side.snapshot()
    figures = {k: after[k] - before[k] for k in after}
    figures["emb_calls"] = len(side.embeddings.counters.batches) - len(calls)
    figures["seconds"] = time.perf_counter() - started
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, default=200)
    args = parser.parse_args()
    configure_logging("console", "ERROR")
    os.environ.pop("SUMMARY_URL", None)
    print(f"rag_summarizer benchmark: {machine()}", flush=True)
    with bench_redis() as (url, client, redis_kind):
        rows, documents = measure_all(args.repos, url, client)
    report(rows, args.repos, documents, redis_kind)


def measure_all(repos: int, url: str, client: redis.Redis):
    org = f"bench-rag-{os.getpid()}"
    rows = []
    embeddings = {name: embeddings_app() for name in ("ours", "naive")}
    served = {name: ServedApp(app).start() for name, app in embeddings.items()}
    ours = Side("ours", repos, org, f"{served['ours'].url}/v1", embeddings["ours"])
    naive = Side("naive", repos, org, f"{served['naive'].url}/v1", embeddings["naive"])
    settings = GitHubSettings(github_api_url=ours.github_url, github_org=org, github_token=SecretStr(TOKEN))
    deps = Dependencies(
        Settings(redis_url=url),
        client,
        github=GitHubClient(settings),
        platform=PlatformClient(ours.platform_url, SecretStr(KEY), rag_ingest_secret=SecretStr(SECRET)),
    )
    try:
        for phase in ("cold", "steady", "5 documents changed"):
            if phase.startswith("5"):
                ours.change_five_documents()
                naive.change_five_documents()
            counters: dict = {}
            mine = measure(ours, lambda counters=counters: counters.update(ours_cycle(ours, deps)))
            peer = measure(naive, lambda: asyncio.run(naive_cycle(naive)))
            rows.append((phase, mine, peer, counters))

        def held(side: Side) -> set[tuple]:
            return {(r["source_id"], r["source_hash"], r["chunk_count"]) for r in side.platform.store.rag_documents()}

        assert held(ours) == held(naive), "both ways must end with the same documents"
        documents = len(held(ours))
    finally:
        ours.stop()
        naive.stop()
        for s in served.values():
            s.stop()
        for pattern in (f"scheduler:github:*{org}*", "scheduler:rag:sent:*"):
            for key in client.scan_iter(match=pattern):
                client.delete(key)
    return rows, documents


def report(rows, repos: int, documents: int, redis_kind: str) -> None:
    print(
        f"rag_summarizer, {repos} projects, {documents} documents; the platform stand-in chunks and embeds "
        f"(WordLlama 512 via the embeddings stand-in); Redis: {redis_kind}; all on loopback\n"
    )
    columns = ("GitHub req", "points", "contents", "ingests", "docs indexed", "emb calls", "time s")
    keys = ("requests", "points", "contents", "ingests", "indexed", "emb_calls", "seconds")
    print(f"| phase | side | {' | '.join(columns)} |")
    print("|" + "---|" * (len(columns) + 2))
    for phase, mine, peer, _ in rows:
        for side, figures in (("ours", mine), ("naive", peer)):
            cells = [f"{figures[k]:.2f}" if k == "seconds" else str(figures[k]) for k in keys]
            print(f"| {phase} | {side} | {' | '.join(cells)} |")
    print("\n(docs indexed: documents the platform chunked and embedded; emb calls: its embedding requests)")
    print(
        "ours, run counters: "
        + "; ".join(f"{phase}: " + ", ".join(f"{k}={v}" for k, v in sorted(c.items()) if v) for phase, _, _, c in rows)
    )


if __name__ == "__main__":
    main()
