"""A GitHub organisation stand-in serving a ``World``'s repositories, per GitHub's REST docs.

- ``GET /orgs/{org}/repos`` (``per_page`` ≤ 100, default 30; ``page``; ``type``/``sort``/``direction``):
  ``minimal-repository`` items, ``Link`` header whose URLs are ``/organizations/{org_id}/repos``, as
  GitHub's are; that route is served too.
- ``/repos/{owner}/{repo}/readme``, ``/contents/{path}``, ``/git/trees/{tree_sha}``, ``/rate_limit``.
- Every 200 has a weak ``ETag`` of its body; ``If-None-Match`` answers 304 with no body, and an
  authorised 304 costs no rate-limit point. ``/rate_limit`` costs none either.
- Primary limit per credential (token, installation, or the anonymous caller: 60/h), with the
  ``X-RateLimit-*`` headers; exhausted -> 403 (configurable: 429), ``X-RateLimit-Remaining: 0``.
- Secondary limit: ``secondary.trip(seconds)`` or more than ``per_minute`` requests a minute ->
  403 or 429 with ``Retry-After``.
- A renamed repository's old name answers 301 to the new name's URL.
- GitHub App flow (``POST /app/installations/{id}/access_tokens``, RS256 JWT) when an app key is given.

Counters: ``app.counters`` (``points`` charged per credential, ``outcomes``: not_modified / primary /
secondary), also at ``GET /_sandbox/counters`` under ``rate_limit``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# Rate limits and payload shapes live in their own modules; their names are re-exported here so
# ``from sandbox.github.app import ...`` keeps working for every caller.
from sandbox.github.limits import (  # noqa: F401
    ANONYMOUS_LIMIT,
    Credential,
    GitHubCounters,
    PrimaryLimits,
    SecondaryLimit,
    Window,
)
from sandbox.github.payloads import (  # noqa: F401
    HTML,
    RAW,
    GitNode,
    content_entry,
    content_file,
    file_bytes,
    git_tree,
    link_header,
    minimal_repository,
    owner_json,
    tree_listing,
)
from sandbox.http import Instrumented
from sandbox.world import Repo, World

DOCS = "https://docs.github.com/rest"
JSON = "application/json; charset=utf-8"


@dataclass
class Reply:
    status: int
    body: object = None  # JSON-able, or bytes for raw media types
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = JSON


def error(status: int, message: str, doc: str = DOCS) -> Reply:
    """GitHub's error body (``basic-error``), which now carries the status as a string too."""
    return Reply(status, {"message": message, "documentation_url": doc, "status": str(status)})


class GitHubApp(Instrumented):
    """The instrumented ASGI app, plus the knobs tests turn: ``limits``, ``secondary``, ``world``."""

    def __init__(
        self,
        world: World,
        token: str,
        *,
        rate_limit: int = 5000,
        primary_status: int = 403,
        secondary: SecondaryLimit | None = None,
        clock: Callable[[], float] = time.time,
        app_id: int | None = None,
        app_public_key_pem: bytes | None = None,
        installation_id: int = 1,
        max_tree_entries: int = 100_000,
        user_id: int = 583231,
    ):
        self.world, self.clock, self.rate_limit, self.primary_status = world, clock, rate_limit, primary_status
        self.limits = PrimaryLimits(clock)
        self.secondary = secondary or SecondaryLimit()
        self.secondary.clock = clock  # one clock per stand-in
        self.credentials = {token: Credential("user", str(user_id), rate_limit)}
        self.app_id, self.installation_id, self.max_tree_entries = app_id, installation_id, max_tree_entries
        self.app_key = load_pem_public_key(app_public_key_pem) if app_public_key_pem else None
        self._request_ids = 0
        super().__init__(self._routes(), counters=GitHubCounters())

    def points_used(self, kind: str = "user") -> int:
        return sum(n for key, n in self.counters.points.items() if key.startswith(f"{kind}:"))

    # ---- the request pipeline: credential, limits, handler, ETag, accounting -----------------------

    def _routes(self) -> Starlette:
        api = self._api
        return Starlette(
            routes=[
                Route("/orgs/{org}", api(self.organization)),
                Route("/orgs/{org}/repos", api(self.list_repos)),
                Route("/organizations/{org_id:int}/repos", api(self.list_repos)),
                Route("/repos/{owner}/{repo}/readme", api(self.readme)),
                Route("/repos/{owner}/{repo}/contents", api(self.contents)),
                Route("/repos/{owner}/{repo}/contents/{path:path}", api(self.contents)),
                Route("/repos/{owner}/{repo}/git/trees/{tree_sha:path}", api(self.tree)),
                Route("/rate_limit", api(self.rate_limit_overview, costs=False)),
                Route("/orgs/{org}/installation", self.org_installation),
                Route(
                    "/app/installations/{installation_id:int}/access_tokens",
                    self.create_installation_token,
                    methods=["POST"],
                ),
            ]
        )

    def _api(self, handler: Callable[[Request, Credential], Reply], costs: bool = True):
        async def endpoint(request: Request) -> Response:
            self._request_ids += 1
            common = {"X-GitHub-Request-Id": f"SANDBOX:{self._request_ids:08X}", "Vary": "Accept, Authorization"}
            cred = self._credential(request)
            if cred is None:
                return _respond(error(401, "Bad credentials"), common)
            window = self.limits.window(cred)
            if costs and window.used >= window.limit:  # /rate_limit still answers when exhausted
                self.counters.outcomes["primary"] += 1
                doc = f"{DOCS}/overview/rate-limits-for-the-rest-api#about-primary-rate-limits"
                return _respond(
                    error(self.primary_status, cred.exceeded_message(), doc), common, self.limits.headers(window)
                )
            wait = self.secondary.check(cred) if costs else None
            if wait is not None:
                self.counters.outcomes["secondary"] += 1
                doc = f"{DOCS}/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
                message = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
                return _respond(
                    error(self.secondary.status, message, doc),
                    common,
                    {"Retry-After": str(wait), **self.limits.headers(window)},
                )
            with self.world.lock:
                reply = handler(request, cred)
            body = _encode(reply)
            not_modified = False
            if reply.status == 200:
                etag = 'W/"' + hashlib.sha256(body).hexdigest()[:40] + '"'
                reply.headers.update({"ETag": etag, "Cache-Control": "private, max-age=60, s-maxage=60"})
                not_modified = _etag_matches(request.headers.get("if-none-match"), etag)
            if not_modified:
                self.counters.outcomes["not_modified"] += 1
            # GitHub: a 304 made with an Authorization header does not count against the primary limit.
            if costs and not (not_modified and cred.kind != "anonymous"):
                window.used += 1
                self.counters.points[cred.key] += 1
            if not_modified:
                return Response(status_code=304, headers={**common, **self.limits.headers(window), **reply.headers})
            return _respond(reply, common, self.limits.headers(window), body=body)

        return endpoint

    def _credential(self, request: Request) -> Credential | None:
        """None for a bad token; a caller without ``Authorization`` is anonymous (public data, 60/h)."""
        header = request.headers.get("authorization")
        if header is None:
            return Credential("anonymous", request.client.host if request.client else "unknown", ANONYMOUS_LIMIT)
        scheme, _, value = header.partition(" ")
        cred = self.credentials.get(value.strip()) if scheme.lower() in ("bearer", "token") else None
        return cred if cred and cred.expires_at > self.clock() else None

    # ---- endpoints ---------------------------------------------------------------------------------

    def list_repos(self, request: Request, cred: Credential) -> Reply:
        params = request.path_params
        if params.get("org", "").lower() != self.world.org.lower() and params.get("org_id") != self.world.org_id:
            return error(404, "Not Found", f"{DOCS}/repos/repos#list-organization-repositories")
        query = request.query_params
        repos = filter_and_sort(
            self._visible(cred), query.get("type", "all"), query.get("sort", "created"), query.get("direction")
        )
        per_page = min(_int(query.get("per_page"), 30), 100)
        page = _int(query.get("page"), 1)
        last = max(1, math.ceil(len(repos) / per_page))
        api = _api_root(request)
        items = [minimal_repository(r, self.world, api) for r in repos[(page - 1) * per_page : page * per_page]]
        link = link_header(f"{api}/organizations/{self.world.org_id}/repos", list(query.multi_items()), page, last)
        return Reply(200, items, {"Link": link} if link else {})

    def organization(self, request: Request, cred: Credential) -> Reply:
        """``GET /orgs/{org}``: the organization's counts, as GitHub shows them to a member (the
        private counts only appear for a credential that can see private repositories)."""
        if request.path_params["org"].lower() != self.world.org.lower():
            return error(404, "Not Found", f"{DOCS}/orgs/orgs#get-an-organization")
        repos = self.world.org_repos()
        body = {
            "login": self.world.org,
            "id": self.world.org_id,
            "type": "Organization",
            "url": f"{_api_root(request)}/orgs/{self.world.org}",
            "public_repos": sum(1 for r in repos if not r.private),
        }
        if cred.kind != "anonymous":
            private = sum(1 for r in repos if r.private)
            body.update(total_private_repos=private, owned_private_repos=private)
        return Reply(200, body)

    def readme(self, request: Request, cred: Credential) -> Reply:
        repo = self._repo(request, cred)
        if isinstance(repo, Reply):
            return repo
        if "README.md" not in repo.files:
            return error(404, "Not Found", f"{DOCS}/repos/contents#get-a-repository-readme")
        return self._file(request, repo, "README.md")

    def contents(self, request: Request, cred: Credential) -> Reply:
        repo = self._repo(request, cred)
        if isinstance(repo, Reply):
            return repo
        path = request.path_params.get("path", "").strip("/")
        ref = request.query_params.get("ref")
        not_found = error(404, "Not Found", f"{DOCS}/repos/contents#get-repository-content")
        if ref not in (None, repo.default_branch):
            return not_found
        if path in repo.files:
            return self._file(request, repo, path)
        tree = git_tree(repo.files).find_dir(path)
        if tree is None:
            return not_found
        entries = [
            content_entry(repo, self.world, _api_root(request), f"{path}/{name}".strip("/"), node)
            for name, node in tree.children.items()
        ]
        if _wants(request, "vnd.github.object"):
            listing = content_entry(repo, self.world, _api_root(request), path, tree)
            return Reply(200, {**listing, "entries": entries})
        return Reply(200, entries)

    def tree(self, request: Request, cred: Credential) -> Reply:
        repo = self._repo(request, cred)
        if isinstance(repo, Reply):
            return repo
        wanted = request.path_params["tree_sha"]
        root = git_tree(repo.files)
        refs = {repo.default_branch, f"heads/{repo.default_branch}", f"refs/heads/{repo.default_branch}", "HEAD"}
        tree = root if wanted in refs else root.find_sha(wanted)
        if tree is None:
            return error(404, "Not Found", f"{DOCS}/git/trees#get-a-tree")
        body = tree_listing(repo, self.world, _api_root(request), tree, "recursive" in request.query_params)
        if len(body["tree"]) > self.max_tree_entries:
            body["tree"], body["truncated"] = body["tree"][: self.max_tree_entries], True
        return Reply(200, body)

    def rate_limit_overview(self, request: Request, cred: Credential) -> Reply:
        window = self.limits.window(cred)
        core = {
            "limit": window.limit,
            "used": window.used,
            "remaining": max(0, window.limit - window.used),
            "reset": window.reset,
        }
        search = {"limit": 30, "used": 0, "remaining": 30, "reset": int(self.clock()) + 60}
        return Reply(200, {"resources": {"core": core, "search": search}, "rate": core})

    async def org_installation(self, request: Request) -> Response:
        """``GET /orgs/{org}/installation`` (app JWT): the app's installation on the organisation."""
        docs = f"{DOCS}/apps/apps#get-an-organization-installation-for-the-authenticated-app"
        if self.app_key is None:
            return _respond(error(404, "Not Found", docs))
        header = request.headers.get("authorization", "")
        problem = _jwt_problem(header.removeprefix("Bearer ").strip(), self.app_key, self.app_id, self.clock())
        if problem:
            return _respond(error(401, problem))
        if request.path_params["org"].lower() != self.world.org.lower():
            return _respond(error(404, "Not Found", docs))
        account = {"login": self.world.org, "id": self.world.org_id, "type": "Organization"}
        return _respond(
            Reply(
                200,
                {
                    "id": self.installation_id,
                    "app_id": self.app_id,
                    "account": account,
                    "target_type": "Organization",
                    "repository_selection": "all",
                    "permissions": {"contents": "read", "metadata": "read"},
                },
            )
        )

    async def create_installation_token(self, request: Request) -> Response:
        if self.app_key is None:
            return _respond(error(404, "Not Found", f"{DOCS}/apps/apps#create-an-installation-access-token-for-an-app"))
        header = request.headers.get("authorization", "")
        problem = _jwt_problem(header.removeprefix("Bearer ").strip(), self.app_key, self.app_id, self.clock())
        if problem:
            return _respond(error(401, problem))
        if request.path_params["installation_id"] != self.installation_id:
            return _respond(error(404, "Not Found", f"{DOCS}/apps/apps#create-an-installation-access-token-for-an-app"))
        token = "ghs_" + secrets.token_urlsafe(27).replace("-", "a").replace("_", "b")[:36]
        expires = self.clock() + 3600
        self.credentials[token] = Credential("installation", str(self.installation_id), self.rate_limit, expires)
        body = {
            "token": token,
            "expires_at": datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "permissions": {"contents": "read", "metadata": "read"},
            "repository_selection": "all",
        }
        return _respond(Reply(201, body))

    # ---- helpers -----------------------------------------------------------------------------------

    def _visible(self, cred: Credential) -> list[Repo]:
        repos = self.world.org_repos()
        return repos if cred.kind != "anonymous" else [r for r in repos if not r.private]

    def _repo(self, request: Request, cred: Credential) -> Repo | Reply:
        owner, name = request.path_params["owner"], request.path_params["repo"]
        if owner.lower() == self.world.org.lower():
            repo = next((r for r in self._visible(cred) if r.name.lower() == name.lower()), None)
            if repo is not None:
                if repo.disabled:
                    return error(403, "Repository access blocked")
                return repo
            moved = self.world.renamed_to(name)
            if moved is not None and (cred.kind != "anonymous" or not moved.private):
                old_prefix = f"/repos/{owner}/{name}"
                location = str(request.url).replace(old_prefix, f"/repos/{self.world.org}/{moved.name}", 1)
                return Reply(
                    301,
                    {"message": "Moved Permanently", "url": location, "documentation_url": DOCS},
                    {"Location": location},
                )
        return error(404, "Not Found", f"{DOCS}/repos/contents")

    def _file(self, request: Request, repo: Repo, path: str) -> Reply:
        text = repo.files[path]
        if _wants(request, "vnd.github.raw"):
            return Reply(200, file_bytes(text), media_type="application/vnd.github.raw; charset=utf-8")
        node = git_tree(repo.files).find_file(path)
        return Reply(200, content_file(repo, self.world, _api_root(request), path, node, text))


def github_app(world: World, token: str, **options) -> GitHubApp:
    """The GitHub stand-in for ``world``'s organisation, accepting ``token`` (``Bearer`` or ``token``)."""
    return GitHubApp(world, token, **options)


def _respond(reply: Reply, *header_sets: dict, body: bytes | None = None) -> Response:
    headers = {k: v for h in header_sets for k, v in h.items()} | reply.headers
    return Response(_encode(reply) if body is None else body, reply.status, headers, reply.media_type)


def _encode(reply: Reply) -> bytes:
    return reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body, separators=(",", ":")).encode()


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison, as RFC 9110 prescribes for If-None-Match."""
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag.removeprefix("W/") in tags


def _wants(request: Request, media: str) -> bool:
    return f"application/{media}" in request.headers.get("accept", "")


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None and int(value) > 0 else default
    except ValueError:
        return default


def _api_root(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def filter_and_sort(repos: list[Repo], kind: str, sort: str, direction: str | None) -> list[Repo]:
    """The ``type``/``sort``/``direction`` query of ``GET /orgs/{org}/repos``, as GitHub defaults it."""
    if kind == "public":
        repos = [r for r in repos if not r.private]
    elif kind == "private":
        repos = [r for r in repos if r.private]
    elif kind == "forks":
        repos = []  # the sandbox has no forks
    keys = {"updated": lambda r: r.updated_at, "pushed": lambda r: r.pushed_at, "full_name": lambda r: r.name.lower()}
    key = keys.get(sort, lambda r: r.created_at)
    descending = direction == "desc" or (direction is None and sort != "full_name")
    return sorted(repos, key=lambda r: (key(r), r.id), reverse=descending)


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _jwt_problem(token: str, key, app_id: int | None, now: float) -> str | None:
    """GitHub's message for an app JWT it would refuse, or None when the RS256 JWT is good."""
    try:
        head, body, signature = token.split(".")
        if json.loads(_b64url(head)).get("alg") != "RS256":
            raise ValueError("not RS256")
        key.verify(_b64url(signature), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
        claims = json.loads(_b64url(body))
        if str(claims.get("iss")) != str(app_id):  # another app's JWT: its key would not verify here
            raise ValueError("issuer")
        issued, expires = float(claims["iat"]), float(claims["exp"])
    except (ValueError, KeyError, TypeError, AttributeError, InvalidSignature):
        return "A JSON web token could not be decoded"
    if expires <= now:
        return (
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which "
            "the assertion expires"
        )
    if expires > now + 660:
        return "'Expiration time' claim ('exp') is too far in the future"
    if issued > now + 60:
        return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
    return None
