"""The platform client's users, projects and repositories against the stand-in, with every
request and every answer held against the real platform's OpenAPI document (``CheckedTransport``)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from actors.adapters.platform.client import PlatformAPIError, PlatformClient
from contracts.platform import (
    ProjectCreate,
    ProjectStatus,
    ProjectUpdate,
    RepositoryCreate,
    RepositoryUpdate,
    RepositoryVisibility,
)
from sandbox.http import ServedApp
from sandbox.platform.api import create_app
from tests.platform_conformance import CheckedTransport, assert_response_conforms

KEY = "projects-test-key"
OWNER = 900000001


@pytest.fixture
def platform():
    app = create_app(api_key=KEY)
    app.store.create_user(OWNER, username="owner", is_admin=True)
    with ServedApp(app) as served:
        yield app, served.url


class Recording(httpx.AsyncHTTPTransport):
    """Unchecked (a 504 is the proxy's answer, not the platform's), but recorded alike."""

    def __init__(self):
        super().__init__()
        self.exchanges: list[tuple[str, str, int]] = []

    async def handle_async_request(self, request):
        response = await super().handle_async_request(request)
        self.exchanges.append((request.method, request.url.path, response.status_code))
        return response


def run(url: str, body, *, checked: bool = True, **options):
    transport = CheckedTransport() if checked else Recording()

    async def go():
        client = PlatformClient(url, SecretStr(KEY), transport=transport, backoff_base=0.001, **options)
        try:
            return await body(client)
        finally:
            await client.aclose()

    return asyncio.run(go()), transport


def project(title="p", pid=None) -> ProjectCreate:
    return ProjectCreate(id=pid, title=title, initiating_run_id="test-run")


def repository(pid, n=1, **fields) -> RepositoryCreate:
    return RepositoryCreate(
        project_id=pid, name=f"r{n}", git_url=f"https://github.com/acme/r{n}.git", provider_repo_id=n, **fields
    )


def test_a_project_and_its_repository_round_trip_in_the_platforms_shapes(platform):
    app, url = platform

    async def body(client: PlatformClient):
        owner = await client.find_user_by_telegram(OWNER)
        nobody = await client.find_user_by_telegram(5)
        created = await client.create_project(project("Hello", uuid.uuid4()), owner_telegram_id=OWNER)
        repo = await client.create_repository(repository(created.id, 7, visibility=RepositoryVisibility.PUBLIC))
        found, absent = await client.find_repository_by_provider_id(7), await client.find_repository_by_provider_id(8)
        renamed = await client.update_repository(repo.id, RepositoryUpdate(name="r7b", visibility="private"))
        archived = await client.update_project(created.id, ProjectUpdate(status=ProjectStatus.ARCHIVED))
        listed = await client.list_projects(status=[ProjectStatus.DRAFT, ProjectStatus.ARCHIVED])
        return owner, nobody, created, repo, found, absent, renamed, archived, listed

    (owner, nobody, created, repo, found, absent, renamed, archived, listed), transport = run(url, body)
    assert (owner.id, owner.telegram_id, nobody) == (1, OWNER, None)
    assert (created.title, created.status, created.owner_id, created.initiating_run_id) == (
        "Hello",
        ProjectStatus.DRAFT,
        1,
        "test-run",
    )
    assert created.slug.endswith(created.id.hex) and created.config == {"agent_type": "claude"}
    assert (repo.project_id, repo.provider_repo_id, repo.role.value, repo.is_managed) == (
        created.id,
        7,
        "primary",
        True,
    )
    assert found == repo and absent is None
    assert (renamed.name, renamed.visibility.value, renamed.git_url) == ("r7b", "private", repo.git_url)
    assert archived.status is ProjectStatus.ARCHIVED
    assert [p.id for p in listed] == [created.id] and listed.skipped == 0
    # one request per status: the platform's filter is a scalar
    assert [e for e in transport.exchanges if e[:2] == ("GET", "/api/projects/")] == [
        ("GET", "/api/projects/", 200)
    ] * 2
    assert ("GET", "/api/repositories/by-provider-id/8", 404) in transport.exchanges


def test_a_project_create_names_the_owner_and_a_retry_with_the_same_id_returns_the_first(platform):
    app, url = platform
    pid = uuid.uuid4()

    async def body(client: PlatformClient):
        first = await client.create_project(project("a", pid), owner_telegram_id=OWNER)
        again = await client.create_project(project("a", pid), owner_telegram_id=OWNER)
        with pytest.raises(PlatformAPIError) as unknown:
            await client.create_project(project("b"), owner_telegram_id=5)
        return first, again, unknown.value

    (first, again, unknown), _ = run(url, body)
    assert first == again and len(app.store.list_projects()) == 1
    assert (unknown.status, unknown.detail) == (404, "User with telegram_id 5 not found")


def test_answers_lost_after_commit_make_one_project_and_one_repository(platform):
    app, url = platform
    app.faults.update(lost_rate=1.0, methods="POST", seed=1)
    pid = uuid.uuid4()

    async def body(client: PlatformClient):
        made = await client.create_project(project("lost", pid), owner_telegram_id=OWNER)
        repo = await client.create_repository(repository(made.id, 11))
        return made, repo

    (made, repo), transport = run(url, body, checked=False)
    assert app.counters.faults["lost"] == 2, "each create's one POST was applied and its answer lost"
    assert len(app.store.list_projects()) == 1 and len(app.store.all_repositories()) == 1
    assert (made.id, repo.provider_repo_id) == (pid, 11)
    posts = [e for e in transport.exchanges if e[0] == "POST"]
    assert [s for _, _, s in posts] == [504, 504], "never a second POST once the record is found"


def test_every_repository_is_listed_whole_past_the_platforms_page_of_200(platform):
    app, url = platform
    owner = app.store.find_user_by_telegram(OWNER)
    pids = [
        app.store.create_project(title=f"p{n}", owner_id=owner["id"], initiating_run_id="r")["id"] for n in range(3)
    ]
    for n in range(205):
        app.store.create_repository(project_id=pids[n % 3], name=f"r{n}", git_url=f"g{n}", provider_repo_id=n + 1)

    async def body(client: PlatformClient):
        projects = await client.list_projects()
        return await client.list_all_repositories([p.id for p in projects]), await client.list_repositories(limit=5)

    (everything, newest), transport = run(url, body)
    assert sorted(r.provider_repo_id for r in everything) == list(range(1, 206))
    assert everything.complete and everything.requests == 4
    assert [r.provider_repo_id for r in newest] == [205, 204, 203, 202, 201], "newest first"
    with pytest.raises(ValueError):
        run(url, lambda client: client.list_repositories(limit=201))


def test_a_project_holding_200_repositories_makes_the_listing_incomplete(platform):
    app, url = platform
    owner = app.store.find_user_by_telegram(OWNER)
    pid = app.store.create_project(title="big", owner_id=owner["id"], initiating_run_id="r")["id"]
    for n in range(200):
        app.store.create_repository(project_id=pid, name=f"r{n}", git_url=f"g{n}", provider_repo_id=n + 1)
    listing, _ = run(url, lambda client: client.list_all_repositories([uuid.UUID(pid)]))
    assert len(listing) == 200 and not listing.complete


def test_our_write_models_are_stricter_than_the_platform():
    with pytest.raises(ValidationError):
        ProjectCreate(title="x", initiating_run_id="r", colour="red")
    with pytest.raises(ValidationError):
        ProjectCreate(title="x", initiating_run_id="")
    with pytest.raises(ValidationError):
        RepositoryCreate(project_id=uuid.uuid4(), name="n", git_url="g", provider_repo_id=2**31)  # int4 column
    with pytest.raises(ValidationError):
        RepositoryCreate(project_id=uuid.uuid4(), name="n", git_url="g", provider_repo_id=1, visibility="internal")
    with pytest.raises(ValidationError):
        RepositoryUpdate(name=None)
    with pytest.raises(ValidationError):
        RepositoryUpdate(acceptance_criteria="not ours to write")


def test_the_stand_in_answers_as_the_platform_does(platform):
    app, url = platform
    http = httpx.Client(base_url=url, headers={"X-Internal-Key": KEY})

    def call(method, path, **kw):
        response = http.request(method, path, **kw)
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else None
        assert_response_conforms(
            method,
            path,
            response.status_code,
            body if response.status_code != 500 else {"detail": "Internal Server Error"},
        )
        return response.status_code, body

    assert http.post("/api/projects", json={}).status_code == 307
    assert http.get("/api/repositories").status_code == 307
    status, body = call("POST", "/api/projects/", json={"title": "t", "initiating_run_id": "r", "colour": "red"})
    assert status == 422 and body["body"]["colour"] == "red" and body["detail"][0]["type"] == "extra_forbidden"
    assert call("POST", "/api/projects/", json={"title": "t", "initiating_run_id": "r"}) == (
        400,
        {"detail": "X-Telegram-ID header is required"},
    )
    assert call(
        "POST", "/api/projects/", json={"title": "t", "initiating_run_id": "r"}, headers={"X-Telegram-ID": "5"}
    ) == (404, {"detail": "User with telegram_id 5 not found"})
    status, made = call(
        "POST", "/api/projects/", json={"title": "t", "initiating_run_id": "r"}, headers={"X-Telegram-ID": str(OWNER)}
    )
    assert status == 201
    assert call(
        "POST",
        "/api/projects/",
        json={"id": made["id"], "title": "t", "initiating_run_id": "r"},
        headers={"X-Telegram-ID": str(OWNER)},
    ) == (400, {"detail": "Project with this ID already exists"})
    assert call("PATCH", f"/api/projects/{made['id']}", json={"name": "x"})[0] == 422
    assert call("PATCH", f"/api/projects/{made['id']}", json={"title": None})[1]["title"] == "t", "null ignored"
    assert call("GET", f"/api/projects/{uuid.uuid4()}") == (404, {"detail": "Project not found"})
    assert call("GET", "/api/projects/not-a-uuid")[0] == 422
    # repositories: unknown fields ignored, limit bounded, the platform's 500s
    status, repo = call(
        "POST",
        "/api/repositories/",
        json={"project_id": made["id"], "name": "n", "git_url": "g", "provider_repo_id": 9, "colour": "red"},
    )
    assert status == 201 and "colour" not in repo and repo["visibility"] == "private"
    assert call("GET", "/api/repositories/", params={"limit": 0})[0] == 422
    assert call("GET", "/api/repositories/", params={"limit": 201})[0] == 422
    assert (
        call("POST", "/api/repositories/", json={"project_id": str(uuid.uuid4()), "name": "n", "git_url": "g"})[0]
        == 500
    )
    assert (
        call(
            "POST",
            "/api/repositories/",
            json={"project_id": made["id"], "name": "n", "git_url": "g", "provider_repo_id": 2**31},
        )[0]
        == 500
    )
    assert call("GET", "/api/repositories/by-provider-id/9")[0] == 200
    call(
        "POST",
        "/api/repositories/",
        json={"project_id": made["id"], "name": "n2", "git_url": "g", "provider_repo_id": 9},
    )
    assert call("GET", "/api/repositories/by-provider-id/9")[0] == 500, "two with one provider id: the platform fails"
    assert call("GET", "/api/users/by-telegram/5") == (404, {"detail": "User not found"})
    assert call("GET", f"/api/users/by-telegram/{OWNER}")[1]["id"] == 1
    hidden = app.store.all_repositories()[0]
    assert hidden["status"] == "active" and "status" not in repo, "the column no model carries"
    http.close()
