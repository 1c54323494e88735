"""The GitHub stand-in behaves as GitHub documents: pagination, ETags, rate limits, contents, trees.

Every 200 body is checked against the operation's response schema in GitHub's OpenAPI description.
"""

from __future__ import annotations

import base64
import json
import re

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from contracts.github import (
    BasicError,
    ContentFile,
    DirectoryListing,
    GitTree,
    InstallationToken,
    MinimalRepository,
    RateLimitHeaders,
    RateLimitOverview,
)
from sandbox.github.app import SecondaryLimit, github_app
from sandbox.http import ServedApp
from sandbox.world import World
from tests.support import FIXTURES

SUBSET = json.loads((FIXTURES / "github" / "openapi-subset.json").read_text())
TOKEN = "ghp_sandboxtoken0000000000000000000000"
APP_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # the GitHub App's signing key
APP_PUBLIC_PEM = APP_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)
ORG = "sandbox-org"


def schema_for(path: str, status: str = "200", media: str = "application/json", method: str = "get") -> dict:
    response = SUBSET["paths"][path][method]["responses"][status]
    if "$ref" in response:
        response = SUBSET["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    return response["content"][media]["schema"]


def component(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def assert_valid(body, schema: dict) -> None:
    OAS30Validator(
        {"components": SUBSET["components"], "allOf": [schema]}, format_checker=oas30_format_checker
    ).validate(body)


@pytest.fixture
def world() -> World:
    return World.generate(seed=7, repos=75, servers=0, without_readme=0.1)


@pytest.fixture
def app(world, clock, app_options):
    return github_app(world, TOKEN, clock=clock, **app_options)


@pytest.fixture
def served(app):
    with ServedApp(app) as served:
        yield served


@pytest.fixture
def client(served):
    with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as client:
        yield client


def links(response: httpx.Response) -> dict[str, str]:
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers.get("link", ""))}


def a_repo(world: World, with_readme: bool = True):
    return next(r for r in world.org_repos() if not r.private and (r.readme is not None) == with_readme)


# ---- listing and pagination ---------------------------------------------------------------------------


def test_pagination_walks_every_page_by_the_link_header(served, client, world):
    response = client.get(f"/orgs/{ORG}/repos", params={"per_page": 20})
    assert set(links(response)) == {"next", "last"}
    seen, pages = [], [response]
    while "next" in links(pages[-1]):
        url = links(pages[-1])["next"]
        assert url.startswith(served.url + "/")  # absolute, on this server
        pages.append(client.get(url))
    for page in pages:
        assert page.status_code == 200
        assert_valid(page.json(), schema_for("/orgs/{org}/repos"))
        seen += [MinimalRepository.model_validate(item).id for item in page.json()]
    assert len(pages) == 4 and [len(p.json()) for p in pages] == [20, 20, 20, 15]
    assert sorted(seen) == sorted(r.id for r in world.org_repos())  # every repo once
    assert set(links(pages[1])) == {"prev", "next", "last", "first"}
    assert set(links(pages[-1])) == {"prev", "first"}
    assert links(pages[0])["last"].endswith("page=4") and "per_page=20" in links(pages[0])["last"]


def test_per_page_defaults_to_30_and_is_capped_at_100(client, world):
    for _ in range(40):
        world.add_repo()
    assert len(client.get(f"/orgs/{ORG}/repos").json()) == 30
    capped = client.get(f"/orgs/{ORG}/repos", params={"per_page": 500})
    assert len(capped.json()) == 100 and links(capped)["last"].endswith("page=2")


def test_one_page_has_no_link_header_and_pages_past_the_end_are_empty(client):
    assert "link" not in client.get(f"/orgs/{ORG}/repos", params={"per_page": 100}).headers
    assert client.get(f"/orgs/{ORG}/repos", params={"page": 9}).json() == []


def test_newest_first_by_default_and_sortable_by_name(client, world):
    newest = max(world.org_repos(), key=lambda r: r.created_at)
    assert client.get(f"/orgs/{ORG}/repos").json()[0]["id"] == newest.id
    names = [r["name"] for r in client.get(f"/orgs/{ORG}/repos", params={"sort": "full_name", "per_page": 100}).json()]
    assert names == sorted(names, key=str.lower)


def test_unknown_org_is_a_404_in_githubs_error_shape(client):
    response = client.get("/orgs/someone-else/repos")
    assert response.status_code == 404
    assert_valid(response.json(), component("basic-error"))
    assert BasicError.model_validate(response.json()).message == "Not Found"


# ---- ETags and conditional requests --------------------------------------------------------------------


def test_304_has_no_body_and_costs_no_point_until_the_world_changes(app, client, world):
    first = client.get(f"/orgs/{ORG}/repos")
    etag = first.headers["etag"]
    assert re.fullmatch(r'W/"[0-9a-f]+"', etag) and first.headers["x-ratelimit-remaining"] == "4999"
    again = client.get(f"/orgs/{ORG}/repos", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert again.headers["x-ratelimit-remaining"] == "4999"
    strong = client.get(f"/orgs/{ORG}/repos", headers={"If-None-Match": etag.removeprefix("W/")})
    assert strong.status_code == 304  # If-None-Match compares weakly
    assert app.points_used() == 1 and app.counters.outcomes["not_modified"] == 2
    world.edit_description(first.json()[0]["name"], "A new description")
    changed = client.get(f"/orgs/{ORG}/repos", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.json()[0]["description"] == "A new description"
    assert changed.headers["x-ratelimit-remaining"] == "4998"


def test_unauthenticated_304_still_costs_a_point(served):
    anonymous = httpx.Client(base_url=served.url)
    etag = anonymous.get(f"/orgs/{ORG}/repos").headers["etag"]
    response = anonymous.get(f"/orgs/{ORG}/repos", headers={"If-None-Match": etag})
    assert response.status_code == 304 and response.headers["x-ratelimit-remaining"] == "58"


# ---- rate limits ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("app_options", [{"rate_limit": 3}])
def test_primary_limit_exhaustion_and_reset(app, client, clock):
    remaining = [client.get(f"/orgs/{ORG}/repos").headers["x-ratelimit-remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    refused = client.get(f"/orgs/{ORG}/repos")
    assert refused.status_code == 403
    assert_valid(refused.json(), component("basic-error"))
    assert refused.json()["message"] == "API rate limit exceeded for user ID 583231."
    headers = RateLimitHeaders.from_headers(refused.headers)
    assert (headers.remaining, headers.used, headers.limit, headers.resource) == (0, 3, 3, "core")
    overview = client.get("/rate_limit")  # still answers, and costs nothing
    assert overview.status_code == 200 and RateLimitOverview.model_validate(overview.json()).core.remaining == 0
    clock.now = headers.reset
    assert client.get(f"/orgs/{ORG}/repos").headers["x-ratelimit-remaining"] == "2"
    assert app.points_used() == 4 and app.counters.outcomes["primary"] == 1


@pytest.mark.parametrize("app_options", [{"rate_limit": 1, "primary_status": 429}])
def test_primary_limit_can_answer_429(client):
    client.get(f"/orgs/{ORG}/repos")
    response = client.get(f"/orgs/{ORG}/repos")
    assert response.status_code == 429 and response.headers["x-ratelimit-remaining"] == "0"


def test_tripped_secondary_limit_answers_retry_after_until_it_passes(app, client, clock):
    app.secondary.trip(30)
    refused = client.get(f"/orgs/{ORG}/repos")
    assert refused.status_code == 403 and refused.headers["retry-after"] == "30"
    assert BasicError.model_validate(refused.json()).is_secondary_rate_limit
    assert_valid(refused.json(), component("basic-error"))
    clock.now += 10
    assert client.get(f"/orgs/{ORG}/repos").headers["retry-after"] == "20"
    clock.now += 20
    assert client.get(f"/orgs/{ORG}/repos").status_code == 200
    assert app.counters.outcomes["secondary"] == 2 and app.points_used() == 1


@pytest.mark.parametrize("app_options", [{"secondary": SecondaryLimit(status=429, retry_after_s=60, per_minute=5)}])
def test_too_many_requests_a_minute_trip_a_429_secondary_limit(client, clock):
    statuses = [client.get(f"/orgs/{ORG}/repos").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    clock.now += 61
    assert client.get(f"/orgs/{ORG}/repos").status_code == 200


def test_rate_limit_endpoint_costs_nothing_and_matches_the_schema(app, client):
    client.get(f"/orgs/{ORG}/repos")
    bodies = [client.get("/rate_limit") for _ in range(3)]
    for response in bodies:
        assert_valid(response.json(), schema_for("/rate_limit"))
        assert RateLimitOverview.model_validate(response.json()).core.used == 1
    assert bodies[-1].headers["x-ratelimit-remaining"] == "4999" and app.points_used() == 1


# ---- authentication -------------------------------------------------------------------------------------


def test_token_schemes_bad_credentials_and_anonymous_access(served, client, world):
    assert client.get(f"/orgs/{ORG}/repos", headers={"Authorization": f"token {TOKEN}"}).status_code == 200
    bad = client.get(f"/orgs/{ORG}/repos", headers={"Authorization": "Bearer wrong"})
    assert bad.status_code == 401 and bad.json()["message"] == "Bad credentials"
    assert_valid(bad.json(), component("basic-error"))
    anonymous = httpx.Client(base_url=served.url).get(f"/orgs/{ORG}/repos", params={"per_page": 100})
    assert anonymous.headers["x-ratelimit-limit"] == "60"
    assert {r["id"] for r in anonymous.json()} == {r.id for r in world.org_repos() if not r.private}
    private = next(r for r in world.org_repos() if r.private)
    assert httpx.get(f"{served.url}/repos/{ORG}/{private.name}/readme").status_code == 404


def _jwt(key, claims: dict) -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps({'alg': 'RS256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()))}"


@pytest.mark.parametrize("app_options", [{"app_id": 4242, "app_public_key_pem": APP_PUBLIC_PEM, "installation_id": 77}])
def test_github_app_installation_token_flow(app, served, clock):
    now = int(clock.now)
    good = _jwt(APP_KEY, {"iat": now - 60, "exp": now + 540, "iss": 4242})
    response = httpx.post(
        f"{served.url}/app/installations/77/access_tokens", headers={"Authorization": f"Bearer {good}"}
    )
    assert response.status_code == 201
    assert_valid(
        response.json(), schema_for("/app/installations/{installation_id}/access_tokens", "201", method="post")
    )
    token = InstallationToken.model_validate(response.json()).token.get_secret_value()
    listing = httpx.get(f"{served.url}/orgs/{ORG}/repos", headers={"Authorization": f"Bearer {token}"})
    assert listing.status_code == 200 and app.points_used("installation") == 1
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for jwt in (
        _jwt(other_key, {"iat": now, "exp": now + 540, "iss": 4242}),
        _jwt(APP_KEY, {"iat": now - 700, "exp": now - 100, "iss": 4242}),
        "not.a.jwt",
    ):
        refused = httpx.post(
            f"{served.url}/app/installations/77/access_tokens", headers={"Authorization": f"Bearer {jwt}"}
        )
        assert refused.status_code == 401
    clock.now += 3601  # installation tokens live one hour
    expired = httpx.get(f"{served.url}/orgs/{ORG}/repos", headers={"Authorization": f"Bearer {token}"})
    assert expired.status_code == 401


# ---- README, contents and trees -------------------------------------------------------------------------


def test_readme_is_base64_content_file_that_decodes_to_the_worlds_text(client, world):
    repo = a_repo(world)
    response = client.get(f"/repos/{ORG}/{repo.name}/readme")
    assert_valid(response.json(), schema_for("/repos/{owner}/{repo}/readme"))
    readme = ContentFile.model_validate(response.json())
    assert readme.text() == repo.readme and readme.size == len(repo.readme.encode())
    assert all(len(line) <= 60 for line in readme.content.splitlines())  # wrapped like GitHub's
    raw = client.get(f"/repos/{ORG}/{repo.name}/readme", headers={"Accept": "application/vnd.github.raw+json"})
    assert raw.text == repo.readme
    assert client.get(f"/repos/{ORG}/{a_repo(world, with_readme=False).name}/readme").status_code == 404


def test_contents_of_files_and_directories_match_their_schemas(client, world):
    repo = world.add_repo(files={"README.md": "# r\n", "docs/a.md": "# A\n", "docs/guides/setup.md": "# Setup\n"})
    nested = client.get(f"/repos/{ORG}/{repo.name}/contents/docs/guides/setup.md")  # a path with slashes
    assert_valid(nested.json(), schema_for("/repos/{owner}/{repo}/contents/{path}"))
    assert ContentFile.model_validate(nested.json()).text() == "# Setup\n"
    listing = client.get(f"/repos/{ORG}/{repo.name}/contents/docs")
    # The operation's oneOf+discriminator rejects any bare array (a documented quirk): check the member schema.
    assert_valid(listing.json(), component("content-directory"))
    parsed = DirectoryListing.model_validate(listing.json())
    assert [e.path for e in parsed.files()] == ["docs/a.md"] and [e.path for e in parsed.dirs()] == ["docs/guides"]
    as_object = client.get(
        f"/repos/{ORG}/{repo.name}/contents/docs", headers={"Accept": "application/vnd.github.object"}
    )
    assert_valid(
        as_object.json(), schema_for("/repos/{owner}/{repo}/contents/{path}", media="application/vnd.github.object")
    )
    assert [e["name"] for e in as_object.json()["entries"]] == ["a.md", "guides"]
    root = client.get(f"/repos/{ORG}/{repo.name}/contents/")
    assert {e["path"] for e in root.json()} == {"README.md", "docs"}
    missing = client.get(f"/repos/{ORG}/{repo.name}/contents/docs/nope.md")
    assert missing.status_code == 404
    assert_valid(missing.json(), schema_for("/repos/{owner}/{repo}/contents/{path}", "404"))


def test_recursive_tree_lists_every_file_with_matching_blob_shas(client, world):
    repo = a_repo(world)
    response = client.get(f"/repos/{ORG}/{repo.name}/git/trees/{repo.default_branch}", params={"recursive": 1})
    assert_valid(response.json(), schema_for("/repos/{owner}/{repo}/git/trees/{tree_sha}"))
    tree = GitTree.model_validate(response.json())
    assert {e.path for e in tree.blobs()} == set(repo.files) and not tree.truncated
    readme_sha = client.get(f"/repos/{ORG}/{repo.name}/readme").json()["sha"]
    assert next(e.sha for e in tree.tree if e.path == "README.md") == readme_sha
    docs = next(e for e in tree.tree if e.path == "docs")
    by_sha = client.get(f"/repos/{ORG}/{repo.name}/git/trees/{docs.sha}").json()
    assert {e["path"] for e in by_sha["tree"]} == {p.split("/")[1] for p in repo.docs}
    top = client.get(f"/repos/{ORG}/{repo.name}/git/trees/{repo.default_branch}").json()
    assert all("/" not in e["path"] for e in top["tree"])
    assert client.get(f"/repos/{ORG}/{repo.name}/git/trees/{'0' * 40}").status_code == 404


@pytest.mark.parametrize("app_options", [{"max_tree_entries": 2}])
def test_tree_over_the_limit_is_truncated(client, world):
    repo = a_repo(world)
    tree = client.get(f"/repos/{ORG}/{repo.name}/git/trees/{repo.default_branch}?recursive=1").json()
    assert tree["truncated"] is True and len(tree["tree"]) == 2


# ---- the world changing between cycles ------------------------------------------------------------------


def test_mutations_show_through_the_api(client, world):

    def listed() -> dict[int, dict]:
        return {r["id"]: r for r in client.get(f"/orgs/{ORG}/repos", params={"per_page": 100}).json()}

    repo = a_repo(world)
    old_name, old_sha = repo.name, client.get(f"/repos/{ORG}/{repo.name}/readme").json()["sha"]
    world.rename_repo(old_name, "renamed-repo")
    assert listed()[repo.id]["name"] == "renamed-repo" and listed()[repo.id]["full_name"] == f"{ORG}/renamed-repo"
    moved = client.get(f"/repos/{ORG}/{old_name}/readme")
    assert moved.status_code == 301 and moved.headers["location"].endswith(f"/repos/{ORG}/renamed-repo/readme")
    assert client.get(f"/repos/{ORG}/{old_name}/readme", follow_redirects=True).status_code == 200
    world.edit_readme(repo.id, "# Rewritten\n")
    rewritten = ContentFile.model_validate(client.get(f"/repos/{ORG}/renamed-repo/readme").json())
    assert rewritten.text() == "# Rewritten\n" and rewritten.sha != old_sha
    world.archive_repo(repo.id)
    assert listed()[repo.id]["archived"] is True
    world.delete_repo(repo.id)
    assert repo.id not in listed() and client.get(f"/repos/{ORG}/renamed-repo/readme").status_code == 404
    world.restore_repo(repo.id)
    assert repo.id in listed()
    world.transfer_repo(repo.id, "another-org")
    assert repo.id not in listed()
    disabled = world.disable_repo(a_repo(world).id)
    assert listed()[disabled.id]["disabled"] is True
    assert client.get(f"/repos/{ORG}/{disabled.name}/readme").status_code == 403  # "Repository access blocked"


# ---- faults and counters --------------------------------------------------------------------------------


def test_injected_faults_and_counters_over_http(app, client):
    client.get(f"/orgs/{ORG}/repos")
    client.get("/rate_limit")
    counters = client.get("/_sandbox/counters").json()
    assert counters["requests"] == {"GET /orgs/{org}/repos": 1, "GET /rate_limit": 1}
    assert counters["rate_limit"]["points_total"] == 1
    client.post("/_sandbox/faults", json={"error_rate": 1.0})
    assert client.get(f"/orgs/{ORG}/repos").status_code == 503
    client.post("/_sandbox/faults", json={"error_rate": 0.0, "malformed_rate": 1.0})
    with pytest.raises(json.JSONDecodeError):
        json.loads(client.get(f"/orgs/{ORG}/repos").content)
    assert client.get("/_sandbox/counters").json()["faults"] == {"5xx": 1, "malformed": 1}, "one of each, no more"
    client.delete("/_sandbox/counters")
    assert app.counters.total() == 0 and app.points_used() == 0
