"""rag_summarizer end to end: tick -> worker -> actor -> GitHub, embeddings and platform stand-ins on
loopback, configured the production way (from the environment). What is checked is what an
operator sees: the documents, chunks and summaries in the platform's store, the run records, and
what a cycle cost (GitHub points, content requests, embedding calls, platform writes)."""

from __future__ import annotations

import pytest

from actors.tasks import TASKS
from actors.tasks.deps import Dependencies
from actors.tasks.rag_summarizer import SPEC
from actors.tasks.rag_summarizer.chunking import Limits, chunk_document
from actors.tasks.rag_summarizer.settings import RagSettings
from contracts import RunOutcome, TaskName
from contracts.platform import ProjectCreate, ProjectStatus, ProjectUpdate
from sandbox.embeddings.app import embeddings_app
from sandbox.github.app import github_app
from sandbox.github.payloads import git_tree
from sandbox.http import ServedApp
from sandbox.platform.api import create_app
from sandbox.world import World

from tests.support import make_tick, running_worker, runs, send, wait_until

TASK = TaskName.RAG_SUMMARIZER
TOKEN = "ghp_ragtoken00000000000000000000000000000"
KEY = "rag-internal-key-0000"
EMBEDDINGS_KEY = "sk-rag-embeddings-key-0000"
DOCS = RagSettings().documents
LIMITS = Limits(200, 40)  # RAG_CHUNK_CHARS, RAG_CHUNK_OVERLAP_CHARS below


class Stack:
    def __init__(self, world: World, github, platform, embeddings, client, deps: Dependencies):
        self.world, self.github, self.platform, self.embeddings = world, github, platform, embeddings
        self.client, self.deps, self.slot = client, deps, 1000

    def cost(self) -> dict[str, int]:
        requests = self.github.counters.requests
        return {"points": self.github.points_used(),
                "contents": requests["GET /repos/{owner}/{repo}/contents/{path:path}"],
                "embedding_calls": self.embeddings.counters.requests["POST /v1/embeddings"],
                "writes": sum(n for route, n in self.platform.counters.requests.items()
                              if not route.startswith("GET") and "/search/" not in route)}

    def cycle(self):
        """One tick; (its final run record, what it cost)."""
        before = self.cost()
        self.slot += 1
        send(self.client, make_tick(TASK, slot=self.slot))
        record = wait_until(lambda: next((r for r in runs(self.client, TASK)
                                          if r.slot == self.slot and not r.will_retry), None), timeout=60)
        return record, {k: v - before[k] for k, v in self.cost().items()}

    def documents(self, repo) -> dict[str, dict]:
        project_id = self.project_id(repo)
        return {d["path"]: d for d in self.platform.store.list_documents(project_id, include_chunks=True)}

    def project_id(self, repo) -> int:
        return next(p["id"] for p in self.platform.store.list_projects() if p["github_repo_id"] == repo.id)

    def expected(self, repo) -> dict[str, str]:
        """What the platform should hold for a repository: document path -> blob sha."""
        tree = git_tree(repo.files)
        return {p: tree.find_file(p).sha for p in repo.files if DOCS.wanted(p)}

    def assert_converged(self, model: str, dimension: int) -> None:
        """Every active project's documents as its repository has them; no row of another shape."""
        for project in self.platform.store.list_projects():
            repo = self.world.repos[project["github_repo_id"]]
            stored = {p: d for p, d in self.documents(repo).items()}
            if project["status"] in ("archived", "missing"):
                assert stored == {}, project["full_name"]
                continue
            assert {p: d["content_hash"] for p, d in stored.items()} == self.expected(repo), project["full_name"]
            for path, document in stored.items():
                assert (document["model"], document["dimension"]) == (model, dimension)
                data = repo.files[path]
                chunks = chunk_document(path, data.encode() if isinstance(data, str) else data, LIMITS)
                assert [(c["index"], c["text"], c["heading"]) for c in document["chunks"]] == [
                    (c.index, c.text, c.heading) for c in chunks], "0 invalid rows"
                assert all(len(c["embedding"]) == dimension for c in document["chunks"])
            summary = self.platform.store.get_summary(project["id"])
            assert summary is not None and summary["text"], project["full_name"]


@pytest.fixture
def stack(client, redis_url, monkeypatch):
    world = World.generate(seed=12, repos=12, servers=0)
    github, platform = github_app(world, TOKEN), create_app(api_key=KEY)
    embeddings = embeddings_app(api_key=EMBEDDINGS_KEY, max_inputs=16)
    for repo in world.org_repos():
        platform.store.create_project(ProjectCreate(
            name=repo.name, full_name=f"{world.org}/{repo.name}", github_repo_id=repo.id, html_url="https://x.test",
            default_branch=repo.default_branch, status=ProjectStatus.ARCHIVED if repo.archived else ProjectStatus.ACTIVE))
    with ServedApp(github) as gh, ServedApp(platform) as api, ServedApp(embeddings) as emb:
        for name, value in {"API_BASE_URL": api.url, "INTERNAL_API_KEY": KEY, "GITHUB_API_URL": gh.url,
                            "GITHUB_ORG": world.org, "GITHUB_TOKEN": TOKEN, "GITHUB_MAX_ATTEMPTS": "2",
                            "EMBEDDINGS_URL": f"{emb.url}/v1", "EMBEDDINGS_API_KEY": EMBEDDINGS_KEY,
                            "EMBEDDINGS_BATCH_SIZE": "16", "EMBEDDINGS_MAX_ATTEMPTS": "2",
                            "PLATFORM_MAX_ATTEMPTS": "2", "RAG_CHUNK_CHARS": "200",
                            "RAG_CHUNK_OVERLAP_CHARS": "40"}.items():
            monkeypatch.setenv(name, value)
        for name in ("GITHUB_APP_ID", "SUMMARY_URL", "EMBEDDINGS_DIMENSIONS"):
            monkeypatch.delenv(name, raising=False)
        yield Stack(world, github, platform, embeddings, client, Dependencies(redis_url, client))


def test_the_task_is_registered():
    assert TASKS[TASK] is SPEC


def test_only_what_changed_is_fetched_embedded_and_written(stack, settings, rendered_logs):
    world = stack.world
    live = sorted((r for r in world.org_repos() if not r.archived), key=lambda r: r.id)
    with running_worker(stack.client, [SPEC], settings, deps=stack.deps):
        cold, cost = stack.cycle()
        assert cold.outcome is RunOutcome.SUCCEEDED, cold.error
        documents = sum(len(stack.expected(r)) for r in live)
        assert cold.counters["documents_indexed"] == documents and cold.counters["summaries"] == len(live)
        assert cost["contents"] == documents and cost["writes"] == documents + len(live)
        stack.assert_converged("text-embedding-3-small", 256)

        steady, cost = stack.cycle()
        assert cost == {"points": 0, "contents": 0, "embedding_calls": 0, "writes": 0}, "a steady world costs nothing"
        assert steady.counters["not_modified"] == len(live) and not steady.counters.get("chunks_embedded")

        edited = live[0]
        path = sorted(p for p in edited.files if p.startswith("docs/"))[0]
        text = edited.files[path] + "\n## Alerts\n\nIt also sends Telegram alerts when a payment fails.\n"
        world.edit_file(edited.id, path, text)
        changed, cost = stack.cycle()
        chunks = len(chunk_document(path, text.encode(), LIMITS))
        assert (cost["contents"], cost["writes"], cost["points"]) == (1, 2, 2), "the tree, the file; one put + summary"
        assert changed.counters["chunks_embedded"] == chunks and changed.counters["documents_indexed"] == 1
        assert "Telegram" in " ".join(c["text"] for c in stack.documents(edited)[path]["chunks"])

        world.edit_file(edited.id, path, None)
        removed, cost = stack.cycle()
        assert path not in stack.documents(edited) and removed.counters["documents_deleted"] == 1
        assert (cost["contents"], cost["writes"]) == (0, 2), "a delete and the summary"
        assert removed.counters.get("chunks_embedded", 0) == 0 and cost["embedding_calls"] == 1, \
            "no chunk embedded; one call for the extractive summary's sentences"

        archived = live[1]
        stack.platform.store.update_project(stack.project_id(archived), ProjectUpdate(status=ProjectStatus.ARCHIVED))
        gone, cost = stack.cycle()
        assert stack.documents(archived) == {} and gone.counters["documents_deleted"] == len(stack.expected(archived))
        assert cost["points"] == 0 and cost["contents"] == 0

        final, cost = stack.cycle()
        assert final.outcome is RunOutcome.SUCCEEDED and cost == {"points": 0, "contents": 0, "embedding_calls": 0,
                                                                   "writes": 0}
        stack.assert_converged("text-embedding-3-small", 256)
    text = rendered_logs()
    assert TOKEN not in text and KEY not in text and EMBEDDINGS_KEY not in text, "no secret in any log line"


def test_twenty_percent_faults_for_three_cycles_then_converged_within_two(stack, settings):
    """Faults on GitHub, the embeddings endpoint and the platform API while the world changes;
    once they stop, two cycles bring everything back, and not one invalid row was ever stored.
    (Shaped for a shared chaos harness: ``faulty`` switches the faults, ``stack`` runs and checks.)"""
    services = (stack.github, stack.embeddings, stack.platform)

    def faulty(rate: float) -> None:
        for app in services:
            app.faults.update(error_rate=rate)

    world = stack.world
    live = sorted((r for r in world.org_repos() if not r.archived), key=lambda r: r.id)
    with running_worker(stack.client, [SPEC], settings, deps=stack.deps):
        faulty(0.2)
        for n in range(3):
            repo = live[n]
            world.edit_file(repo.id, "docs/chaos.md", f"# Chaos {n}\n\nWritten during faults, cycle {n}.\n")
            if n == 1:
                world.edit_file(repo.id, "README.md", None)
            stack.cycle()
        assert sum(app.counters.faults["5xx"] for app in services) > 0, "faults were injected"
        faulty(0.0)
        for _ in range(2):
            record, _ = stack.cycle()
        assert record.outcome is RunOutcome.SUCCEEDED, record.error
        stack.assert_converged("text-embedding-3-small", 256)
        _, cost = stack.cycle()
        assert cost == {"points": 0, "contents": 0, "embedding_calls": 0, "writes": 0}
