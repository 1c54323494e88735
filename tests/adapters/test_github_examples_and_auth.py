"""The GitHub adapter on GitHub's own documented examples, on bad answers, and as a GitHub App.

The examples are served through ``httpx.MockTransport`` exactly as GitHub documents them (mind
the quirks in tests/fixtures/README.md: one repository per example, a generic Link header).
"""

from __future__ import annotations

import io
import json
import logging

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from actors.adapters.github.client import (
    GitHubAuthError,
    GitHubClient,
    GitHubResponseError,
    GitHubSettings,
)
from actors.tasks.deps import Dependencies
from actors.tasks.github_sync.plan import desired_fields
from process.errors import ConfigurationError
from process.logs import configure_logging
from process.settings import Settings
from sandbox.github.app import github_app
from sandbox.http import ServedApp
from sandbox.world import World
from tests.support import FIXTURES, run_async

EXAMPLES = FIXTURES / "github" / "examples"
ITEMS = json.loads((EXAMPLES / "minimal-repository-items.json").read_text())
LINK = (EXAMPLES / "link-header.txt").read_text().strip()
TOKEN = "ghp_exampletoken00000000000000000000000"
APP_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
APP_PEM = APP_KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
).decode()
APP_PUBLIC_PEM = APP_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


@pytest.fixture
def log_output():
    """The process's own JSON log lines, as an operator reads them."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging(fmt="json", level="INFO")
    written = io.StringIO()
    root.handlers[0].setStream(written)
    yield written.getvalue
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


class GitHubPages:
    """A MockTransport handler serving fixed pages by URL, with ETags and 304s, recording requests."""

    def __init__(self, pages: dict[str, tuple[object, dict]]):
        self.pages, self.seen = pages, []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        url = str(request.url)
        key = next((k for k in self.pages if url.startswith(k)), None)
        if key is None:
            return httpx.Response(404, json={"message": "Not Found"})
        body, headers = self.pages[key]
        etag = f'W/"{abs(hash(json.dumps(body, sort_keys=True)))}"'
        if request.headers.get("if-none-match") == etag:
            return httpx.Response(304, headers={"ETag": etag, **headers})
        return httpx.Response(200, json=body, headers={"ETag": etag, **headers})


def mocked(handler, **settings) -> GitHubClient:
    values = {"github_org": "octo-org", "github_token": SecretStr(TOKEN), **settings}
    return GitHubClient(GitHubSettings(**values), transport=httpx.MockTransport(handler))


def first_page(gh: GitHubClient) -> str:
    return gh.first_page_url()


def listing(gh: GitHubClient, client):
    return run_async(client, gh.list_org_repos)


# ---- GitHub's documented examples -----------------------------------------------------------------------


def test_the_documented_org_repos_example_and_link_header_are_read_and_cached(client):
    second = {**ITEMS[0], "id": ITEMS[0]["id"] + 1, "name": "Hello-World-2", "full_name": "octocat/Hello-World-2"}
    handler = GitHubPages({})
    gh = mocked(handler)
    handler.pages = {
        first_page(gh): (ITEMS, {"Link": LINK}),  # next: https://api.github.com/resource?page=2
        "https://api.github.com/resource?page=2": ([second], {}),
    }
    result = listing(gh, client)
    assert [r.full_name for r in result.repos] == ["octocat/Hello-World", "octocat/Hello-World-2"]
    hello = result.repos[0]
    assert (hello.id, hello.owner.login, hello.owner.type, hello.default_branch) == (
        1296269,
        "octocat",
        "User",
        "master",
    )
    assert hello.pushed_at.isoformat() == "2011-01-26T19:06:43+00:00" and result.complete
    fields = desired_fields(hello)
    # the example's clone_url is what the Repository record's git_url says
    assert (fields["name"], fields["git_url"], fields["visibility"].value) == (
        "Hello-World",
        ITEMS[0]["clone_url"],
        "public",
    )
    again = listing(gh, client)
    assert again.repos == result.repos and (again.not_modified, again.points) == (2, 0)
    assert [r.headers.get("if-none-match") is not None for r in handler.seen] == [False, False, True, True]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in handler.seen)
    assert handler.seen[0].headers["x-github-api-version"] == "2022-11-28"


def test_malformed_items_are_skipped_logged_and_only_those_without_a_readable_id_make_the_listing_incomplete(
    client, log_output
):
    broken = [
        ITEMS[0],
        {**ITEMS[0], "id": "not-a-number"},
        {k: v for k, v in ITEMS[0].items() if k != "name"} | {"id": 42},
        "not an object",
    ]
    handler = GitHubPages({})
    gh = mocked(handler)
    handler.pages = {first_page(gh): (broken, {})}
    result = listing(gh, client)
    assert [r.id for r in result.repos] == [1296269]
    assert (result.skipped_items, result.unreadable, result.complete) == (2, (42,), False)
    again = listing(gh, client)  # a 304 page still holds its unreadable items
    assert (again.not_modified, again.skipped_items, again.unreadable, again.complete) == (1, 2, (42,), False)
    lines = [json.loads(line) for line in log_output().splitlines() if "github.item_skipped" in line]
    assert [line["index"] for line in lines] == [1, 2, 3]
    assert lines[1]["repo_id"] == 42 and lines[1]["unreadable_fields"] == ["name"] and lines[1]["counts_as_present"]
    assert TOKEN not in log_output()


def test_a_link_to_another_origin_is_never_followed_with_our_token(client):
    handler = GitHubPages({})
    gh = mocked(handler)
    handler.pages = {first_page(gh): (ITEMS, {"Link": '<https://evil.example/orgs/x/repos?page=2>; rel="next"'})}
    with pytest.raises(GitHubResponseError, match="another origin"):
        listing(gh, client)
    assert {r.url.host for r in handler.seen} == {"api.github.com"}


def test_a_link_loop_or_a_body_that_is_no_list_is_a_clear_error(client):
    handler = GitHubPages({})
    gh = mocked(handler)
    handler.pages = {first_page(gh): (ITEMS, {"Link": f'<{first_page(gh)}>; rel="next"'})}
    with pytest.raises(GitHubResponseError, match="leads back"):
        listing(gh, client)
    handler.pages = {first_page(gh): ({"message": "an object"}, {})}
    with pytest.raises(GitHubResponseError, match="not a list"):
        listing(gh, client)


# ---- GitHub App -----------------------------------------------------------------------------------------


@pytest.fixture
def app_world():
    return World.generate(seed=5, repos=30, servers=0)


@pytest.fixture
def app_served(app_world, clock):
    app = github_app(
        app_world,
        "ghp_unused000000000000000000000000000",
        clock=clock,
        app_id=4242,
        app_public_key_pem=APP_PUBLIC_PEM,
        installation_id=77,
    )
    with ServedApp(app) as served:
        yield app, served


def app_client(served, clock, **settings) -> GitHubClient:
    values = {
        "github_api_url": served.url,
        "github_org": "sandbox-org",
        "github_app_id": 4242,
        "github_app_installation_id": 77,
        "github_app_private_key": SecretStr(APP_PEM),
        **settings,
    }
    return GitHubClient(GitHubSettings(**values), clock=clock, sleep=clock.sleep)


def test_a_github_app_lists_with_an_installation_token_it_keeps_until_near_expiry(
    app_served, client, clock, log_output
):
    app, served = app_served
    gh = app_client(served, clock)
    first = listing(gh, client)
    assert first.complete and len(first.repos) == 30 and app.points_used("installation") == 1
    assert listing(gh, client).not_modified == 1
    minted = app.counters.requests["POST /app/installations/{installation_id:int}/access_tokens"]
    assert minted == 1 and gh.auth.tokens_minted == 1, "the token is kept between listings"
    clock.now += 3600 - gh.auth.REFRESH_MARGIN_S + 1  # within the margin of its expiry: a new one
    assert listing(gh, client).complete and gh.auth.tokens_minted == 2
    app.credentials = {k: v for k, v in app.credentials.items() if v.kind != "installation"}  # revoked
    assert listing(gh, client).complete and gh.auth.tokens_minted == 3, "a refused token is replaced once"
    output = log_output()
    assert "BEGIN RSA PRIVATE KEY" not in output and "ghs_" not in output


def test_app_settings_from_the_environment_with_a_key_file_or_an_escaped_key(
    app_served, client, clock, tmp_path, monkeypatch
):
    app, served = app_served
    key_file = tmp_path / "app.pem"
    key_file.write_text(APP_PEM)
    for name, value in {
        "GITHUB_API_URL": served.url,
        "GITHUB_ORG": "sandbox-org",
        "GITHUB_APP_ID": "4242",
        "GITHUB_APP_INSTALLATION_ID": "77",
        "GITHUB_APP_PRIVATE_KEY_PATH": str(key_file),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GITHUB_APP_PRIVATE_KEY", raising=False)
    settings = GitHubSettings()
    assert listing(GitHubClient(settings, clock=clock), client).complete
    escaped = SecretStr(APP_PEM.replace("\n", "\\n"))  # as one-line env files hold it
    assert listing(app_client(served, clock, github_app_private_key=escaped), client).complete


def test_without_an_installation_id_the_app_finds_its_installation_on_the_org(app_served, client, clock):
    app, served = app_served
    gh = app_client(served, clock, github_app_installation_id=None)
    assert listing(gh, client).complete and gh.auth.installation_id == 77
    assert app.counters.requests["GET /orgs/{org}/installation"] == 1
    assert listing(gh, client).not_modified == 1
    assert app.counters.requests["GET /orgs/{org}/installation"] == 1, "looked up once per process"
    elsewhere = app_client(served, clock, github_app_installation_id=None, github_org="not-installed-here")
    with pytest.raises(GitHubAuthError, match="no installation on not-installed-here"):
        listing(elsewhere, client)


def test_misconfigured_credentials_are_clear_errors_that_never_quote_the_key(monkeypatch):
    base = {"github_org": "o", "github_app_id": 1}
    with pytest.raises(GitHubAuthError, match="not a PEM private key") as bad:
        GitHubSettings(
            **base,
            github_app_installation_id=2,
            github_app_private_key=SecretStr("-----BEGIN RSA PRIVATE KEY-----\nsecretstuff"),
        ).auth()
    assert "secretstuff" not in str(bad.value)
    with pytest.raises(GitHubAuthError, match="not readable"):
        GitHubSettings(**base, github_app_installation_id=2, github_app_private_key_path="/nonexistent.pem").auth()
    with pytest.raises(GitHubAuthError, match="GITHUB_TOKEN"):
        GitHubSettings(github_org="o").auth()
    for name in ("GITHUB_ORG", "GITHUB_TOKEN", "GITHUB_APP_ID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match="GITHUB_ORG"):
        _ = Dependencies(Settings(redis_url="redis://127.0.0.1:1/0"), None).github  # as the worker builds them


@pytest.mark.parametrize("status", [404, 401])
def test_a_refused_token_exchange_is_not_retried(client, status):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"message": "Integration not found"})

    gh = GitHubClient(
        GitHubSettings(
            github_org="o", github_app_id=1, github_app_installation_id=2, github_app_private_key=SecretStr(APP_PEM)
        ),
        transport=httpx.MockTransport(handler),
    )
    with pytest.raises(GitHubAuthError, match=f"installation 2 \\({status}\\): Integration not found"):
        listing(gh, client)
