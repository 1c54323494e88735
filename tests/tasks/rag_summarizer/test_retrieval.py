"""Retrieval works: a small labelled corpus (``sandbox.labelled_docs``: twelve services and fifteen
questions an engineer would ask) is indexed by the task with the local model, and every question
finds its project in the top 3 of the platform's search, through the API and ``scheduler search``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from actors.adapters.embeddings.local import LocalEmbedder
from actors.tasks.deps import Dependencies
from actors.tasks.rag_summarizer.task import run_rag_summarizer
from contracts.platform import ChunkSearch, ProjectCreate
from sandbox.docs import add_docs_repos
from sandbox.github.app import github_app
from sandbox.http import ServedApp
from sandbox.labelled_docs import QUERIES, write_corpus
from sandbox.platform.api import create_app
from sandbox.world import World

from tests.support import ROOT, FakeRun

TOKEN = "ghp_retrieval000000000000000000000000000"
KEY = "retrieval-internal-key"


@pytest.fixture
def indexed(client, redis_url, monkeypatch, tmp_path):
    world = World.generate(seed=1, repos=0, servers=0)
    repos = add_docs_repos(world, write_corpus(tmp_path / "corpus"))
    github, platform = github_app(world, TOKEN), create_app(api_key=KEY)
    for repo in repos:
        platform.store.create_project(ProjectCreate(name=repo.name, full_name=f"{world.org}/{repo.name}",
                                                    github_repo_id=repo.id, html_url="https://x.test",
                                                    default_branch=repo.default_branch, status="active"))
    with ServedApp(github) as gh, ServedApp(platform) as api:
        env = {"API_BASE_URL": api.url, "INTERNAL_API_KEY": KEY, "GITHUB_API_URL": gh.url, "GITHUB_ORG": world.org,
               "GITHUB_TOKEN": TOKEN}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        for name in ("EMBEDDINGS_URL", "SUMMARY_URL", "GITHUB_APP_ID"):
            monkeypatch.delenv(name, raising=False)
        run = FakeRun(Dependencies(redis_url, client))
        asyncio.run(run_rag_summarizer(run))
        assert run.counters["documents_indexed"] == sum(len(r.files) for r in repos)
        yield world, platform, env


def test_every_labelled_question_finds_its_project_in_the_top_3(indexed):
    world, platform, _ = indexed
    embedder = LocalEmbedder()
    misses = []
    for question, project in QUERIES:
        (vector,) = embedder.embed_now([question])
        hits = platform.store.search_chunks(ChunkSearch(vector=vector, model=embedder.model, k=3))
        if f"{world.org}/{project}" not in [hit["project"] for hit in hits]:
            misses.append((question, project, [hit["project"] for hit in hits]))
    assert misses == []
    summaries = [platform.store.get_summary(p["id"]) for p in platform.store.list_projects()]
    assert all(s and s["model"] == "extractive/wordllama/l2_supercat-256" for s in summaries)
    relay = next(s for s, p in zip(summaries, platform.store.list_projects()) if p["name"] == "alert-relay")
    assert "Telegram" in relay["text"]


def test_scheduler_search_prints_what_the_index_finds(indexed):
    world, _, env = indexed
    run_env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": os.environ.get("HOME", "/tmp"), **env}
    command = [sys.executable, "-m", "scheduler.cli", "search", "which of our services sends Telegram alerts?"]
    shown = subprocess.run(command + ["--k", "2"], env=run_env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0].split()[2] == f"{world.org}/alert-relay"
    as_json = subprocess.run(command + ["--json"], env=run_env, capture_output=True, text=True, timeout=120)
    hits = json.loads(as_json.stdout)
    assert len(hits) == 5 and {"project", "path", "heading", "text", "score"} <= set(hits[0])
    assert KEY not in shown.stdout + shown.stderr + as_json.stderr
