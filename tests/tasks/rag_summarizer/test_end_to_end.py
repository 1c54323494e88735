"""rag_summarizer end to end: tick -> worker -> actor -> GitHub and platform stand-ins on loopback
(the platform's RAG embedding through the WordLlama embeddings stand-in), configured the
production way (from the environment). What is checked is what an operator sees: the platform's
RAG documents and what search finds, the run records, and what a cycle cost (GitHub points,
content requests, ingests, embedding calls made by the platform)."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from actors.adapters.platform.client import PlatformClient
from actors.tasks import TASKS
from actors.tasks.rag_summarizer import SPEC
from actors.tasks.rag_summarizer.settings import RagSummarizerSettings
from actors.tasks.rag_summarizer.text import decode
from contracts import RunOutcome, TaskName
from contracts.platform import RagQuery, content_hash
from sandbox.embeddings.app import embeddings_app
from sandbox.github.app import github_app
from sandbox.http import ServedApp
from sandbox.platform.api import create_app
from sandbox.world import World
from tests.stack import Stack
from tests.support import running_worker

TASK = TaskName.RAG_SUMMARIZER
TOKEN = "ghp_ragtoken00000000000000000000000000000"
KEY = "rag-internal-key-0000"
RAG_SECRET = "rag-ingest-secret-0000-e2e"
DOCS = RagSummarizerSettings().documents
INGEST = "POST /api/rag/ingest"


#: a cycle's cost: GitHub points and content requests, ingests, embedding calls the platform made
MEASURES = {
    "points": lambda stack: stack.github.points_used(),
    "contents": lambda stack: stack.github.counters.requests["GET /repos/{owner}/{repo}/contents/{path:path}"],
    "ingests": lambda stack: stack.platform.counters.requests[INGEST],
    "embedding_calls": lambda stack: stack.embeddings.counters.requests["POST /v1/embeddings"],
}


def full_name(stack: Stack, repo) -> str:
    return f"{stack.world.org}/{repo.name}"


def project_id(stack: Stack, repo) -> str:
    return stack.repositories()[repo.id]["project_id"]


def expected(stack: Stack, repo) -> dict[str, str]:
    """What search should find of a repository: source id -> content hash of its text."""
    out = {}
    for path, data in repo.files.items():
        if DOCS.wanted(path):
            text = decode(data.encode() if isinstance(data, str) else data) or ""
            out[f"{full_name(stack, repo)}:{path}"] = content_hash(text)
    return out


def held(stack: Stack, repo) -> dict[str, dict]:
    return {row["source_id"]: row for row in stack.platform.store.rag_documents(project_id(stack, repo))}


def assert_converged(stack: Stack) -> None:
    """Every live project's documents as its repository has them, every other document
    emptied (no chunk: not found), and no row of another project or owner."""
    for repo in stack.world.org_repos():
        rows = held(stack, repo)
        if repo.archived:
            assert all(row["chunk_count"] == 0 for row in rows.values()), repo.name
            continue
        wanted = expected(stack, repo)
        for source_id, digest in wanted.items():
            assert rows[source_id]["source_hash"] == digest, source_id
            assert rows[source_id]["user_id"] == stack.owner and rows[source_id]["scope"] == "project"
        for source_id, row in rows.items():
            if source_id not in wanted:
                assert (row["chunk_count"], row["body"]) == (0, ""), f"{source_id} should be emptied"


def search(stack: Stack, text: str) -> list[str]:
    async def ask():
        async with PlatformClient(stack.api_url, SecretStr(KEY)) as api:
            found = []
            for project in stack.projects():
                answer = await api.query(
                    RagQuery(query=text, project_id=project, user_id=stack.owner, min_similarity=0.2)
                )
                found += [(hit.score, hit.source_id) for hit in answer.results]
            return [source_id for _, source_id in sorted(found, reverse=True)]

    return asyncio.run(ask())


@pytest.fixture
def stack(client, redis_url, monkeypatch):
    world = World.generate(seed=12, repos=12, servers=0)
    github = github_app(world, TOKEN)
    embeddings = embeddings_app()
    with ServedApp(github) as gh, ServedApp(embeddings) as emb:
        platform = create_app(api_key=KEY, rag_ingest_secret=RAG_SECRET, embeddings_url=f"{emb.url}/v1")
        with ServedApp(platform) as api:
            owner = platform.store.create_user(900000001, username="owner")["id"]
            for repo in world.org_repos():
                project = platform.store.create_project(
                    title=repo.name,
                    owner_id=owner,
                    initiating_run_id="e2e",
                    status="archived" if repo.archived else "active",
                )
                platform.store.create_repository(
                    project_id=project["id"],
                    name=repo.name,
                    provider_repo_id=repo.id,
                    git_url=f"https://github.com/{world.org}/{repo.name}.git",
                )
            for name, value in {
                "API_BASE_URL": api.url,
                "INTERNAL_API_KEY": KEY,
                "RAG_INGEST_SECRET": RAG_SECRET,
                "GITHUB_API_URL": gh.url,
                "GITHUB_ORG": world.org,
                "GITHUB_TOKEN": TOKEN,
                "GITHUB_MAX_ATTEMPTS": "2",
                "PLATFORM_MAX_ATTEMPTS": "2",
            }.items():
                monkeypatch.setenv(name, value)
            for name in ("GITHUB_APP_ID", "SUMMARY_URL"):
                monkeypatch.delenv(name, raising=False)
            yield Stack(
                TASK,
                world,
                client,
                redis_url,
                platform=platform,
                api_url=api.url,
                github=github,
                embeddings=embeddings,
                owner=owner,
                measures=MEASURES,
            )


def test_the_task_is_registered():
    assert TASKS[TASK] is SPEC


@pytest.mark.slow
def test_only_what_changed_is_read_and_sent_and_search_finds_it_by_meaning(stack, settings, rendered_logs):
    world = stack.world
    live = sorted((r for r in world.org_repos() if not r.archived), key=lambda r: r.id)
    with running_worker(stack.client, [SPEC], settings, deps=stack.deps()):
        cold, cost = stack.cycle()
        assert cold.outcome is RunOutcome.SUCCEEDED, cold.error
        documents = sum(len(expected(stack, r)) for r in live)
        assert cold.counters["ingests"] == documents == cost["ingests"] == cost["contents"]
        assert cold.counters["documents_indexed"] == documents and not cold.counters.get("summaries")
        assert_converged(stack)

        steady, cost = stack.cycle()
        assert cost == {"points": 0, "contents": 0, "ingests": 0, "embedding_calls": 0}, "a steady world costs nothing"
        assert steady.counters["not_modified"] == len(live)

        edited = live[0]
        path = sorted(p for p in edited.files if p.startswith("docs/"))[0]
        text = edited.files[path] + "\n## Alerts\n\nIt also sends Telegram alerts when a payment fails.\n"
        world.edit_file(edited.id, path, text)
        changed, cost = stack.cycle()
        assert (cost["contents"], cost["ingests"], cost["points"]) == (1, 1, 2), "the tree and the file; one ingest"
        assert changed.counters["documents_indexed"] == 1 and cost["embedding_calls"] >= 1
        source_id = f"{full_name(stack, edited)}:{path}"
        assert search(stack, "which service notifies on Telegram when a payment fails?")[0] == source_id

        world.edit_file(edited.id, path, None)
        removed, cost = stack.cycle()
        assert removed.counters["documents_emptied"] == 1 and (cost["contents"], cost["ingests"]) == (0, 1)
        assert held(stack, edited)[source_id]["chunk_count"] == 0
        assert source_id not in search(stack, "which service notifies on Telegram when a payment fails?")

        archived = live[1]
        stack.platform.store.update_project(project_id(stack, archived), {"status": "archived"})
        archived.archived = True
        gone, cost = stack.cycle()
        assert gone.counters["documents_emptied"] == len(expected(stack, archived))
        assert cost["points"] == 0 and cost["contents"] == 0

        final, cost = stack.cycle()
        assert final.outcome is RunOutcome.SUCCEEDED
        assert cost == {"points": 0, "contents": 0, "ingests": 0, "embedding_calls": 0}
        assert_converged(stack)
    text = rendered_logs()
    assert TOKEN not in text and KEY not in text and RAG_SECRET not in text, "no secret in any log line"


@pytest.mark.slow
def test_twenty_percent_faults_for_three_cycles_then_converged_within_two(stack, settings):
    """Faults on GitHub, the embeddings endpoint (so the platform's ingest answers 500) and the
    platform API while the world changes; once they stop, two cycles bring everything back."""
    services = (stack.github, stack.embeddings, stack.platform)

    def faulty(rate: float) -> None:
        for app in services:
            app.faults.update(error_rate=rate)

    world = stack.world
    live = sorted((r for r in world.org_repos() if not r.archived), key=lambda r: r.id)
    with running_worker(stack.client, [SPEC], settings, deps=stack.deps()):
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
        assert_converged(stack)
        _, cost = stack.cycle()
        assert cost == {"points": 0, "contents": 0, "ingests": 0, "embedding_calls": 0}


def test_a_wrong_secret_stops_the_run_and_sends_nothing_more(stack, settings, monkeypatch):
    monkeypatch.setenv("RAG_INGEST_SECRET", "not-" + RAG_SECRET)
    with running_worker(stack.client, [SPEC], settings, deps=stack.deps()):
        record, cost = stack.cycle()
    assert record.outcome is RunOutcome.FAILED and "401" in (record.error or "")
    assert cost["ingests"] == 1, "the first refusal stops the run"
    assert all(not held(stack, repo) for repo in stack.world.org_repos())
