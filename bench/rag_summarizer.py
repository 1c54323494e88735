"""rag_summarizer benchmark: what an indexing cycle costs for 200 projects, beside the naive way,
then how fast the local model embeds and how well it retrieves, beside BM25, in the same run.

Both sides run in this process, each against its own copy of the same sandbox world (200
repositories, a README and 2-4 docs pages each), its own GitHub stand-in and platform API on
loopback, and the same local embedder (WordLlama, bundled; every call counted):
- ours: the real task function (``run_rag_summarizer``: conditional trees, pure plan, only changed
  documents fetched, embedded and written), its Redis on ``REDIS_URL`` if set, else an embedded
  redis-server (only this run's keys are touched, and removed afterwards);
- naive: every cycle, every project's tree and every document's content, every chunk embedded,
  every document and summary written back.

Phases: cold (empty index), steady (nothing changed), 5 documents changed in 5 projects.
Then: chunks embedded per second by the local model; recall@3 on the labelled questions of
``sandbox.labelled_docs`` for the local model, BM25 (Okapi, k1=1.2, b=0.75, written here) and the
sandbox's hashed bag of words.

    .venv/bin/python bench/rag_summarizer.py [--repos 200]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import redis
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from actors.adapters.embeddings.extractive import ExtractiveSummarizer  # noqa: E402
from actors.adapters.embeddings.interface import Embedded  # noqa: E402
from actors.adapters.embeddings.local import LocalEmbedder  # noqa: E402
from actors.adapters.github.client import GitHubClient, GitHubSettings  # noqa: E402
from actors.adapters.platform.client import PlatformClient  # noqa: E402
from actors.tasks.deps import Dependencies  # noqa: E402
from actors.tasks.rag_summarizer.chunking import chunk_document  # noqa: E402
from actors.tasks.rag_summarizer.plan import summary_hash  # noqa: E402
from actors.tasks.rag_summarizer.settings import RagSettings  # noqa: E402
from actors.tasks.rag_summarizer.task import run_rag_summarizer  # noqa: E402
from actors.adapters.github.files import Blob  # noqa: E402
from contracts.github import ContentFile, GitTree  # noqa: E402
from contracts.platform import DocumentChunk, DocumentUpsert, ProjectCreate, SummaryUpsert  # noqa: E402
from sandbox.embeddings.app import embed as hashed_bag_of_words  # noqa: E402
from sandbox.github.app import github_app  # noqa: E402
from sandbox.http import ServedApp  # noqa: E402
from sandbox.labelled_docs import PROJECTS, QUERIES  # noqa: E402
from sandbox.platform.api import create_app  # noqa: E402
from sandbox.world import World  # noqa: E402
from kit import bench_redis, machine  # noqa: E402  (bench/kit.py)
from scheduler.logs import configure_logging  # noqa: E402

TOKEN = "ghp_benchtoken000000000000000000000000000"
KEY = "bench-internal-key"
CONTENTS = "GET /repos/{owner}/{repo}/contents/{path:path}"
DOCS = RagSettings().documents


class CountingEmbedder:
    """The local model, counting calls and texts (chunks and summary sentences alike)."""

    def __init__(self, model: LocalEmbedder):
        self.inner, self.model, self.calls, self.texts = model, model.model, 0, 0

    async def dimension(self) -> int:
        return await self.inner.dimension()

    async def embed(self, texts) -> Embedded:
        self.calls += 1
        self.texts += len(texts)
        return await self.inner.embed(texts)


class Side:
    def __init__(self, name: str, repos: int, org: str, model: LocalEmbedder):
        self.name = name
        self.world = World.generate(seed=42, repos=repos, servers=0, org=org)
        self.github = github_app(self.world, TOKEN, rate_limit=1_000_000)  # never the limit here: we count
        self.platform = create_app(api_key=KEY)
        for repo in self.world.org_repos():
            self.platform.store.create_project(ProjectCreate(
                name=repo.name, full_name=f"{org}/{repo.name}", github_repo_id=repo.id, html_url="https://x.test",
                default_branch=repo.default_branch, status="archived" if repo.archived else "active"))
        self.served = [ServedApp(self.github).start(), ServedApp(self.platform).start()]
        self.github_url, self.platform_url = self.served[0].url, self.served[1].url
        self.embedder = CountingEmbedder(model)

    def snapshot(self) -> dict[str, int]:
        return {"requests": self.github.counters.total(), "points": self.github.points_used(),
                "contents": self.github.counters.requests[CONTENTS], "calls": self.embedder.calls,
                "writes": sum(n for route, n in self.platform.counters.requests.items() if not route.startswith("GET"))}

    def change_five_documents(self) -> None:
        live = sorted((r for r in self.world.org_repos() if not r.archived), key=lambda r: r.id)
        for repo in live[::len(live) // 5][:5]:
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


def ours_cycle(deps: Dependencies) -> dict:
    run = BenchRun(deps)

    async def one():
        try:
            await run_rag_summarizer(run)
        finally:
            await deps.aclose()

    asyncio.run(one())
    return dict(run.counters)


async def naive_cycle(side: Side) -> int:
    """Everything, every cycle; returns the chunks it embedded."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/vnd.github+json"}
    summarizer = ExtractiveSummarizer(side.embedder)
    embedded = 0
    async with httpx.AsyncClient(base_url=side.github_url, headers=headers, timeout=30) as gh, \
            PlatformClient(side.platform_url, SecretStr(KEY)) as platform:
        for project in await platform.list_projects(status=["discovered", "active"]):
            tree = GitTree.model_validate((await gh.get(
                f"/repos/{project.full_name}/git/trees/{project.default_branch}?recursive=1")).json())
            blobs = [e for e in tree.blobs() if DOCS.wanted(e.path)]
            documents = []
            for entry in blobs:
                file = ContentFile.model_validate((await gh.get(
                    f"/repos/{project.full_name}/contents/{entry.path}?ref={project.default_branch}")).json())
                documents.append((entry.path, file.sha, chunk_document(entry.path, file.decoded())))
            texts = [c.embedding_text() for _, _, chunks in documents for c in chunks]
            vectors = iter((await side.embedder.embed(texts)).vectors)
            embedded += len(texts)
            for path, sha, chunks in documents:
                await platform.put_document(project.id, DocumentUpsert(
                    path=path, content_hash=sha, model=side.embedder.model, dimension=256,
                    chunks=[DocumentChunk(index=c.index, text=c.text, heading=c.heading, embedding=next(vectors))
                            for c in chunks]))
            text = await summarizer.summarize(project.full_name, [(p, "\n\n".join(c.text for c in cs))
                                                                  for p, _, cs in documents])
            await platform.put_summary(project.id, SummaryUpsert(
                text=text, source_hash=summary_hash([Blob(p, s, 0) for p, s, _ in documents], summarizer.model),
                model=summarizer.model))
    return embedded


def measure(side: Side, cycle) -> dict:
    before, started = side.snapshot(), time.perf_counter()
    chunks = cycle()
    after = side.snapshot()
    return {**{k: after[k] - before[k] for k in after}, "chunks": chunks, "seconds": time.perf_counter() - started}


# ---- the local model: throughput and retrieval beside BM25 ---------------------------------------------

def throughput(model: LocalEmbedder, side: Side) -> tuple[int, float]:
    texts = [c.embedding_text() for repo in side.world.org_repos() for path, data in repo.files.items()
             if DOCS.wanted(path) for c in chunk_document(path, data.encode())]
    model.embed_now(texts[:10])  # loaded and warm
    started = time.perf_counter()
    for _ in range(3):
        model.embed_now(texts)
    return len(texts), 3 * len(texts) / (time.perf_counter() - started)


_WORD = re.compile(r"\w+")


def bm25_scores(query: str, documents: list[str], k1: float = 1.2, b: float = 0.75) -> list[float]:
    tokenised = [_WORD.findall(d.lower()) for d in documents]
    average = sum(map(len, tokenised)) / len(tokenised)
    frequency = Counter(term for terms in tokenised for term in set(terms))
    scores = []
    for terms in tokenised:
        counts = Counter(terms)
        score = 0.0
        for term in set(_WORD.findall(query.lower())):
            if counts[term]:
                idf = math.log(1 + (len(documents) - frequency[term] + 0.5) / (frequency[term] + 0.5))
                score += idf * counts[term] * (k1 + 1) / (counts[term] + k1 * (1 - b + b * len(terms) / average))
        scores.append(score)
    return scores


def recall_at_3(model: LocalEmbedder) -> dict[str, float]:
    rows = [(repo, c.embedding_text()) for repo, files in PROJECTS.items() for path, text in files.items()
            for c in chunk_document(path, text.encode())]
    texts = [text for _, text in rows]
    local = model.embed_now(texts)
    hashed = [hashed_bag_of_words(t) for t in texts]

    def dot(a, b):
        return sum(x * y for x, y in zip(a, b))

    rankers = {
        "local model (WordLlama 256)": lambda q: [dot(model.embed_now([q])[0], v) for v in local],
        "BM25 (lexical)": lambda q: bm25_scores(q, texts),
        "hashed bag of words (sandbox)": lambda q: [dot(hashed_bag_of_words(q), v) for v in hashed],
    }
    found = {}
    for name, score in rankers.items():
        hits = 0
        for question, project in QUERIES:
            scores = score(question)
            top = [rows[i][0] for i in sorted(range(len(rows)), key=lambda i: -scores[i])[:3]]
            hits += project in top
        found[name] = hits / len(QUERIES)
    return found


# ---- the run ---------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repos", type=int, default=200)
    args = parser.parse_args()
    configure_logging("console", "ERROR")
    for name in ("EMBEDDINGS_URL", "SUMMARY_URL"):
        os.environ.pop(name, None)
    print(f"rag_summarizer benchmark: {machine()}", flush=True)
    with bench_redis() as (url, client, redis_kind):
        rows, documents, speed, recall = measure_all(args.repos, url, client)
    report(rows, args.repos, documents, speed, recall, redis_kind)


def measure_all(repos: int, url: str, client: redis.Redis):
    """Cold, steady and changed cycles for both sides; then the local model's speed and recall."""
    org = f"bench-rag-{os.getpid()}"
    model = LocalEmbedder()
    model.embed_now(["loaded before anything is timed"])
    ours, naive = Side("ours", repos, org, model), Side("naive", repos, org, model)
    settings = GitHubSettings(github_api_url=ours.github_url, github_org=org, github_token=SecretStr(TOKEN))
    deps = Dependencies(url, client, github=GitHubClient(settings),
                        platform=PlatformClient(ours.platform_url, SecretStr(KEY)), embedder=ours.embedder)
    rows = []
    try:
        for phase in ("cold", "steady", "5 documents changed"):
            if phase.startswith("5"):
                ours.change_five_documents()
                naive.change_five_documents()
            counters: dict = {}

            def mine_cycle():
                counters.update(ours_cycle(deps))
                return counters.get("chunks_embedded", 0)

            mine = measure(ours, mine_cycle)
            peer = measure(naive, lambda: asyncio.run(naive_cycle(naive)))
            rows.append((phase, mine, peer, counters))
        documents = sum(len(ours.platform.store.list_documents(p["id"])) for p in ours.platform.store.list_projects())
        twin = sum(len(naive.platform.store.list_documents(p["id"])) for p in naive.platform.store.list_projects())
        assert documents == twin, "both ways must end with the same documents"
        speed = throughput(model, ours)
        recall = recall_at_3(model)
    finally:
        ours.stop()
        naive.stop()
        for key in client.scan_iter(match=f"scheduler:github:*{org}*"):
            client.delete(key)
    return rows, documents, speed, recall


def report(rows, repos: int, documents: int, speed, recall, redis_kind: str) -> None:
    print(f"rag_summarizer, {repos} projects, {documents} documents; local embedder (WordLlama 256, bundled); "
          f"Redis: {redis_kind}; GitHub stand-in and platform API on loopback\n")
    columns = ("GitHub req", "points", "contents", "emb calls", "chunks", "writes", "time s")
    keys = ("requests", "points", "contents", "calls", "chunks", "writes", "seconds")
    print(f"| phase | side | {' | '.join(columns)} |")
    print("|" + "---|" * (len(columns) + 2))
    for phase, mine, peer, _ in rows:
        for side, figures in (("ours", mine), ("naive", peer)):
            cells = [f"{figures[k]:.2f}" if k == "seconds" else str(figures[k]) for k in keys]
            print(f"| {phase} | {side} | {' | '.join(cells)} |")
    print("\n(emb calls: every call to the embedder, the extractive summary's sentences included; "
          "chunks: chunks embedded)")
    print("ours, run counters: " + "; ".join(f"{phase}: " + ", ".join(f"{k}={v}" for k, v in sorted(c.items()) if v)
                                             for phase, _, _, c in rows))
    count, rate = speed
    print(f"\nlocal model: {count} chunks embedded 3 times, {rate:,.0f} chunks/s on this machine (one process)")
    print(f"\nrecall@3, {len(QUERIES)} labelled questions over {len(PROJECTS)} projects:")
    for name, value in recall.items():
        print(f"  {name:<32} {value:.2f}")


if __name__ == "__main__":
    main()
