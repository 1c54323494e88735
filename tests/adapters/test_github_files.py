"""Trees and contents from the GitHub stand-in: conditional (a 304 costs no point), a truncated
tree read folder by folder, contents reused on a 304, the shared rate-limit budget respected."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from actors.adapters.github.client import GitHubClient
from actors.adapters.github.files import RepoFiles
from actors.adapters.github.settings import GitHubSettings
from actors.tasks.rag_summarizer.settings import RagSummarizerSettings
from contracts import Keys
from sandbox.github.app import github_app
from sandbox.github.payloads import git_tree
from sandbox.http import ServedApp
from sandbox.world import World
from tests.support import run_async

TOKEN = "ghp_filestoken00000000000000000000000000"
DOCS = RagSummarizerSettings().documents


@pytest.fixture
def github(request):
    world = World.generate(seed=3, repos=3, servers=0)
    app = github_app(world, TOKEN, **getattr(request, "param", {}))
    with ServedApp(app) as served:
        settings = GitHubSettings(
            github_api_url=served.url, github_org=world.org, github_token=SecretStr(TOKEN), github_rate_limit_reserve=5
        )
        yield world, app, GitHubClient(settings)


def read(client, github_client, body):
    async def go(aredis):
        files = RepoFiles(github_client, aredis)
        try:
            return await body(files), files
        finally:
            await files.close()

    return run_async(client, go)


def test_a_tree_lists_the_documents_and_an_unchanged_one_costs_no_point(github, client):
    world, app, gh = github
    repo = world.org_repos()[0]
    name = f"{world.org}/{repo.name}"
    tree, files = read(client, gh, lambda f: f.tree(name, repo.default_branch, DOCS))
    assert tree.complete and [b.path for b in tree.blobs] == sorted(p for p in repo.files if DOCS.wanted(p))
    shas = {p: git_tree(repo.files).find_file(p).sha for p in repo.files}
    assert all(b.sha == shas[b.path] for b in tree.blobs) and files.walk.points == 1
    again, files = read(client, gh, lambda f: f.tree(name, repo.default_branch, DOCS))
    assert again == tree and (files.walk.points, files.walk.not_modified) == (0, 1)
    world.edit_file(repo.id, "docs/new.md", "# New")
    changed, files = read(client, gh, lambda f: f.tree(name, repo.default_branch, DOCS))
    assert "docs/new.md" in [b.path for b in changed.blobs] and files.walk.points == 1


@pytest.mark.parametrize("github", [{"max_tree_entries": 3}], indirect=True)
def test_a_truncated_tree_is_read_again_folder_by_folder(github, client):
    world, app, gh = github
    repo = world.org_repos()[0]
    world.edit_file(repo.id, "src/more.py", "x = 1")
    tree, files = read(client, gh, lambda f: f.tree(f"{world.org}/{repo.name}", repo.default_branch, DOCS))
    assert [b.path for b in tree.blobs] == sorted(p for p in repo.files if DOCS.wanted(p))
    assert tree.complete
    # the whole tree (truncated), the root, then docs/ only: src/ may hold no document
    assert app.counters.requests["GET /repos/{owner}/{repo}/git/trees/{tree_sha:path}"] == 3


def test_contents_are_decoded_kept_with_their_etag_and_binary_files_come_as_bytes(github, client):
    world, app, gh = github
    repo = world.org_repos()[0]
    world.edit_file(repo.id, "docs/logo.md", b"\x89PNG\x00\xff")
    name = f"{world.org}/{repo.name}"
    content, files = read(client, gh, lambda f: f.content(name, "docs/logo.md", repo.default_branch, 1000))
    assert content.data == b"\x89PNG\x00\xff" and content.sha == git_tree(repo.files).find_file("docs/logo.md").sha
    again, files = read(client, gh, lambda f: f.content(name, "docs/logo.md", repo.default_branch, 1000))
    assert again == content and (files.walk.points, files.content_requests) == (0, 1)
    gone, _ = read(client, gh, lambda f: f.content(name, "docs/none.md", repo.default_branch, 1000))
    too_big, _ = read(client, gh, lambda f: f.content(name, "README.md", repo.default_branch, 3))
    assert gone is None and too_big is None


def test_reads_stop_at_the_shared_reserve_and_after_a_rate_limit(github, client):
    world, app, gh = github
    repo = world.org_repos()[0]
    client.hset(Keys.github_rate(world.org), mapping={"remaining": 5, "reset": 4_000_000_000})
    tree, files = read(client, gh, lambda f: f.tree(f"{world.org}/{repo.name}", repo.default_branch, DOCS))
    assert tree is None and files.stopped == "rate_limit_reserve" and app.counters.total() == 0
    client.delete(Keys.github_rate(world.org))
    client.hset(Keys.github_rate(world.org), mapping={"blocked_until": 4_000_000_000})
    tree, files = read(client, gh, lambda f: f.tree(f"{world.org}/{repo.name}", repo.default_branch, DOCS))
    assert tree is None and files.stopped == "rate_limit_backoff" and app.counters.total() == 0
