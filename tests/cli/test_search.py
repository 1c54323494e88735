"""``scheduler search`` asks the platform's ``POST /api/rag/query``, project by project, and shows
the best chunks of all (here against the stand-in, embedding with the WordLlama stand-in)."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import SecretStr

from actors.adapters.platform.client import PlatformClient
from contracts.platform import RagDocument, RagIngest, content_hash
from sandbox.embeddings.app import embeddings_app
from sandbox.http import ServedApp
from sandbox.platform.api import create_app
from scheduler.cli.commands import main

KEY, SECRET = "search-test-key", "search-test-rag-secret"
DOCS = {
    "billing": {
        "acme/billing:README.md": "# Billing\n\nInvoices are issued monthly; failed card payments are refunded."
    },
    "infra": {
        "acme/infra:docs/deploy.md": "# Deploy\n\nContainers roll out host by host behind the load balancer.",
        "acme/infra:docs/alerts.md": "# Alerts\n\nThe pager calls the on-call engineer when a disk fills up.",
    },
}


@pytest.fixture
def platform(monkeypatch):
    with ServedApp(embeddings_app()) as emb:
        app = create_app(api_key=KEY, rag_ingest_secret=SECRET, embeddings_url=f"{emb.url}/v1")
        with ServedApp(app) as api:
            owner = app.store.create_user(42, username="owner")["id"]
            projects = {
                title: app.store.create_project(title=title, owner_id=owner, initiating_run_id="t")["id"]
                for title in DOCS
            }

            async def ingest():
                async with PlatformClient(api.url, SecretStr(KEY), rag_ingest_secret=SecretStr(SECRET)) as client:
                    for title, docs in DOCS.items():
                        await client.ingest(
                            RagIngest(
                                project_id=projects[title],
                                user_id=owner,
                                documents=[
                                    RagDocument(
                                        source_type="repository_doc",
                                        source_id=sid,
                                        content=text,
                                        content_hash=content_hash(text),
                                    )
                                    for sid, text in docs.items()
                                ],
                            )
                        )

            asyncio.run(ingest())
            monkeypatch.setenv("API_BASE_URL", api.url)
            monkeypatch.setenv("INTERNAL_API_KEY", KEY)
            yield app, projects


def test_search_asks_every_project_and_ranks_the_answers_together(platform, capsys):
    assert main(["search", "on-call alerts for a full disk", "--k", "2", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert [(h["project"], h["source_id"]) for h in hits][0] == ("infra", "acme/infra:docs/alerts.md")
    assert len(hits) <= 2 and hits == sorted(hits, key=lambda h: -h["score"])
    assert platform[0].counters.requests["POST /api/rag/query"] == len(DOCS)


def test_search_within_one_project_by_title_or_id(platform, capsys):
    _, projects = platform
    assert main(["search", "refunds for failed card payments", "--project", "billing"]) == 0
    out = capsys.readouterr().out
    assert " 1. " in out and "acme/billing:README.md" in out and "acme/infra" not in out
    assert main(["search", "refunds", "--project", str(projects["infra"]), "--min-similarity", "0.99"]) == 0
    assert "no chunk found" in capsys.readouterr().out
    assert main(["search", "refunds", "--project", "nope"]) == 2
    assert "no project has the id or title 'nope'" in capsys.readouterr().err
