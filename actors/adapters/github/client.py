"""The GitHub adapter: an organisation's repositories, read at (nearly) no rate-limit cost.

- ``GET /orgs/{org}/repos?per_page=100&sort=created&direction=asc``, following ``Link: rel="next"``
  (absolute URLs; one pointing at another origin is refused, it would receive our token). Oldest
  first, so a new repository lands on the last page and leaves the others' bodies, and ETags, alone.
- Conditional requests: every page answered 200 is stored in Redis (``Keys.github_page``) as one
  JSON value holding its ``ETag`` (sent back verbatim as ``If-None-Match``), its ``next`` link and
  its parsed items. A 304 costs no rate-limit point and the page's repositories come from that
  record, so an unchanged organisation is listed completely for 0 points. One value per page keeps
  ETag and items consistent; a record that cannot be read is ignored (the request goes out
  unconditionally). A 304 whose answer carries no ``Link`` header takes ``next`` from the record;
  if that says "last page" but the page was full, the following page is asked for anyway.
- Rate limits: ``X-RateLimit-Remaining/Reset`` are tracked; when ``remaining`` falls to the
  reserve (``GITHUB_RATE_LIMIT_RESERVE``, left for other users of the credential) the walk stops
  before the budget is gone. A primary limit (403/429 with ``Remaining: 0``) or a secondary one
  (403/429 with ``Retry-After`` or GitHub's "secondary rate limit" message; at least 60 s when it
  says no time) is waited out in the run if it is short (``GITHUB_MAX_WAIT_S``); otherwise the walk
  stops and the wait is remembered in Redis (``Keys.github_rate``), so no request is sent until it
  has passed. A stopped walk is an incomplete listing, never an error.
- 5xx, network errors and undecodable bodies are retried a few times, then ``GitHubUnavailable``
  (a ``TransientError``: the worker retries the run). Any other refusal is ``GitHubAPIError``.
- Items are validated one by one (``MinimalRepository``); a malformed one is logged (page, index,
  repository id if readable, the fields that could not be read), counted and skipped. If its id
  can be read, the repository is still *present* (``RepoListing.unreadable``: not synced this time,
  never taken for gone); only an item without a readable id makes the listing not ``complete``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import httpx
import redis.asyncio as aioredis
from pydantic import ValidationError

from actors.adapters.github.auth import GITHUB_HEADERS, Auth
from actors.adapters.github.errors import (
    GitHubAPIError,
    GitHubAuthError,
    GitHubError,
    GitHubResponseError,
    GitHubUnavailable,
    basic_error,
    error_message,
)
from actors.adapters.github.settings import GitHubSettings
from actors.adapters.github.state import ListingState, PageRecord
from actors.adapters.kit import PerLoop, backoff_delay, validation_summary
from contracts.github import MinimalRepository, RateLimitHeaders
from process.logs import get_logger

log = get_logger(__name__)

#: GitHub's advice when a secondary limit names no time: wait at least a minute
SECONDARY_DEFAULT_WAIT_S = 60
#: the fields of a repository a page record keeps (what the reconciler reads)
KEPT_FIELDS = {
    "id",
    "name",
    "full_name",
    "owner",
    "private",
    "html_url",
    "description",
    "default_branch",
    "visibility",
    "archived",
    "disabled",
    "pushed_at",
}
MAX_PAGES = 1000
#: a kept text field is cut to this many characters: GitHub's own limits are far below it (a
#: description holds 350), so only hostile input is cut, and a page record stays small in Redis
KEPT_TEXT_MAX = 4096


# --------------------------------------------------------------------------- the listing


@dataclass(frozen=True)
class RepoListing:
    repos: tuple[MinimalRepository, ...]
    pages: int = 0  # pages read, answered 200 or 304
    not_modified: int = 0  # of which 304
    points: int = 0  # primary rate-limit points spent (answers other than 304)
    requests: int = 0
    #: items without a readable id: the listing cannot say which repositories it lacks
    skipped_items: int = 0
    #: ids of repositories listed with fields that could not be read: present, but not synced
    unreadable: tuple[int, ...] = ()
    #: why the walk ended early: "rate_limit_reserve" | "primary_rate_limit" | "secondary_rate_limit"
    #: | "rate_limit_backoff" (still waiting out an earlier limit) | "page_limit"; None: it did not
    stopped: str | None = None

    @property
    def complete(self) -> bool:
        """Every page read and every item's id understood: a repository not in it is not in the org."""
        return self.stopped is None and self.skipped_items == 0


class _Stop(Exception):
    def __init__(self, reason: str):
        self.reason = reason


@dataclass
class _Walk:
    """The running tally of one listing."""

    remaining: float | None = None
    reset: float = 0
    pages: int = 0
    not_modified: int = 0
    points: int = 0
    requests: int = 0
    skipped: int = 0
    unreadable: list[int] = field(default_factory=list)

    def saw(self, response: httpx.Response) -> None:
        limits = RateLimitHeaders.from_headers(response.headers)
        if limits.remaining is not None:
            self.remaining, self.reset = limits.remaining, limits.reset or 0

    def result(self, repos: dict[int, MinimalRepository], stopped: str | None) -> RepoListing:
        return RepoListing(
            tuple(repos.values()),
            self.pages,
            self.not_modified,
            self.points,
            self.requests,
            self.skipped,
            tuple(sorted(set(self.unreadable) - set(repos))),
            stopped,
        )


def _following_page(url: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query["page"] = str(int(query.get("page", "1")) + 1)
    return urlunsplit(parts._replace(query=urlencode(query)))


def readable_id(raw: object) -> int | None:
    """A listing item's repository id, if it can be read at all."""
    ident = raw.get("id") if isinstance(raw, dict) else None
    return ident if type(ident) is int and ident > 0 else None


def parse_items(data: list, url: str) -> tuple[list[MinimalRepository], int, list[int]]:
    """The valid repositories of a page, how many items had no readable id, and the ids of the
    items that had one but not every field (present, not synced)."""
    repos, skipped, unreadable = [], 0, []
    for index, raw in enumerate(data):
        try:
            repos.append(MinimalRepository.model_validate(raw))
        except ValidationError as exc:
            ident = readable_id(raw)
            if ident is None:
                skipped += 1
            else:
                unreadable.append(ident)
            fields = sorted({str(e["loc"][0]) for e in exc.errors(include_url=False, include_input=False) if e["loc"]})
            log.warning(
                "github.item_skipped",
                page=url,
                index=index,
                repo_id=ident,
                unreadable_fields=fields,
                counts_as_present=ident is not None,
                error=validation_summary(exc),
            )
    return repos, skipped, unreadable


class GitHubClient:
    """Async GitHub client for one organisation. One per process (``get_github_client``)."""

    def __init__(
        self,
        settings: GitHubSettings,
        *,
        auth: Auth | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ):
        self.settings, self.org = settings, settings.github_org
        self.base_url = settings.github_api_url.rstrip("/")
        self.auth = auth or settings.auth(clock)
        self.clock, self.sleep = clock, sleep
        timeout = httpx.Timeout(settings.github_timeout_s, connect=min(settings.github_timeout_s, 5))
        self._pools = PerLoop(
            lambda: httpx.AsyncClient(
                base_url=self.base_url,
                timeout=timeout,
                transport=transport,
                headers=GITHUB_HEADERS,
                follow_redirects=True,
            ),
            is_closed=lambda pool: pool.is_closed,
        )

    def __repr__(self) -> str:
        return f"GitHubClient({self.base_url!r}, org={self.org!r}, auth={self.auth.kind})"

    def _pool(self) -> httpx.AsyncClient:
        return self._pools.get()

    async def aclose(self) -> None:
        await self._pools.aclose(lambda pool: pool.aclose())

    def first_page_url(self) -> str:
        query = urlencode({"per_page": self.settings.github_per_page, "sort": "created", "direction": "asc"})
        return f"{self.base_url}/orgs/{quote(self.org, safe='')}/repos?{query}"

    async def list_org_repos(self, client: aioredis.Redis) -> RepoListing:
        """Every repository of the organisation, page by page, conditionally."""
        state = ListingState(client, self.org)
        budget = await state.budget()
        if budget.get("blocked_until", 0) > self.clock():
            log.warning("github.waiting_out_rate_limit", org=self.org, until=budget["blocked_until"])
            return RepoListing((), stopped="rate_limit_backoff")
        walk = _Walk(budget.get("remaining"), budget.get("reset", 0))
        repos: dict[int, MinimalRepository] = {}
        url: str | None = self.first_page_url()
        visited: set[str] = set()
        try:
            while url is not None:
                if url in visited:
                    raise GitHubResponseError(f"the Link header leads back to {url}")
                if len(visited) >= MAX_PAGES:
                    raise _Stop("page_limit")
                if (
                    walk.remaining is not None
                    and walk.remaining <= self.settings.github_rate_limit_reserve
                    and walk.reset > self.clock()
                ):
                    raise _Stop("rate_limit_reserve")
                visited.add(url)
                items, url = await self._page(url, state, walk)
                for repo in items:
                    repos.setdefault(repo.id, repo)  # a repo shifted onto the next page while we walked
                if url is not None:
                    self._check_origin(url)
        except _Stop as stop:
            log.warning(
                "github.listing_stopped", org=self.org, reason=stop.reason, pages=walk.pages, remaining=walk.remaining
            )
            return walk.result(repos, stop.reason)
        finally:
            await state.save_budget(remaining=walk.remaining, reset=walk.reset)
        return walk.result(repos, None)

    async def confirms_empty(self, client: aioredis.Redis) -> bool:
        """Whether ``GET /orgs/{org}`` tells this credential that the organisation has no repository
        at all: public and private counts both present and zero. An empty listing alone is far
        likelier a credential that lost access than an emptied organisation."""
        state = ListingState(client, self.org)
        try:
            _, data = await self._get(f"{self.base_url}/orgs/{quote(self.org, safe='')}", None, state, _Walk())
        except _Stop:
            return False
        if not isinstance(data, dict):
            return False
        counts = (data.get("public_repos"), data.get("total_private_repos"))
        return all(type(n) is int for n in counts) and counts == (0, 0)

    async def _page(self, url: str, state: ListingState, walk: _Walk) -> tuple[list[MinimalRepository], str | None]:
        """One page's repositories and the next page's URL, from GitHub or, on a 304, from its record."""
        record, cached = await state.page(url), None
        if record is not None:
            try:
                cached = [MinimalRepository.model_validate(item) for item in record.items]
            except ValidationError:  # e.g. written by another version: ask unconditionally
                log.warning("github.page_record_unreadable", url=url)
                record = None
        response, data = await self._get(url, record.etag if record else None, state, walk)
        walk.saw(response)
        walk.pages += 1
        if response.status_code == 304 and record is not None:
            walk.not_modified += 1
            walk.skipped += record.skipped
            walk.unreadable += record.unreadable
            await state.touch_page(url)
            if "link" in response.headers:
                next_url = response.links.get("next", {}).get("url")
            else:  # GitHub need not repeat the Link header on a 304: take it from the record ...
                next_url = record.next_url
                if next_url is None and record.count >= self.settings.github_per_page:
                    next_url = _following_page(url)  # ... and a full last page may have a successor now
            return cached or [], next_url
        if not isinstance(data, list):
            raise GitHubResponseError(f"GET {url} answered a JSON {type(data).__name__}, not a list")
        parsed, skipped, unreadable = parse_items(data, url)
        walk.skipped += skipped
        walk.unreadable += unreadable
        next_url = response.links.get("next", {}).get("url")
        kept = [
            {
                name: value[:KEPT_TEXT_MAX] if isinstance(value, str) else value
                for name, value in repo.model_dump(mode="json", include=KEPT_FIELDS).items()
            }
            for repo in parsed
        ]
        if etag := response.headers.get("etag"):
            await state.save_page(url, PageRecord(etag, next_url, kept, skipped, len(data), unreadable))
        # the same narrowed repositories whether a page answered 200 or 304
        return [MinimalRepository.model_validate(item) for item in kept], next_url

    def _check_origin(self, url: str) -> None:
        ours, theirs = urlsplit(self.base_url), urlsplit(url)
        if (ours.scheme, ours.netloc) != (theirs.scheme, theirs.netloc):
            raise GitHubResponseError(f"the Link header points at another origin ({theirs.scheme}://{theirs.netloc})")

    async def _get(self, url: str, etag: str | None, state: ListingState, walk: _Walk) -> tuple[httpx.Response, Any]:
        """(response, decoded JSON or None for a 304), after retries and short rate-limit waits."""
        failures = waits = 0
        reauthorised = False
        while True:
            headers = {"Authorization": await self.auth.authorization(self._pool())}
            if etag:
                headers["If-None-Match"] = etag
            try:
                response = await self._pool().get(url, headers=headers)
            except httpx.TransportError as exc:
                problem = type(exc).__name__
            else:
                walk.requests += 1
                status = response.status_code
                if status == 304 and etag:
                    return response, None
                if status == 200:
                    walk.points += 1
                    try:
                        return response, response.json()
                    except ValueError:
                        problem = "undecodable body"
                elif status >= 500 or status == 304:
                    problem = f"HTTP {status}"
                elif status == 401 and not reauthorised and self.auth.invalidate():
                    reauthorised = True
                    continue
                elif status in (403, 429) and (limit := self._limit_wait(response)) is not None:
                    kind, seconds = limit
                    if seconds <= self.settings.github_max_wait_s and waits < 3:
                        waits += 1
                        log.warning("github.rate_limited_waiting", kind=kind, wait_s=seconds, url=url)
                        await self.sleep(seconds)
                        continue
                    walk.saw(response)
                    await state.save_budget(blocked_until=self.clock() + seconds)
                    raise _Stop(f"{kind}_rate_limit")
                else:
                    raise GitHubAPIError(status, url, error_message(response))
            failures += 1
            if failures >= self.settings.github_max_attempts:
                raise GitHubUnavailable(f"GitHub unavailable: GET {url} failed {failures} time(s); last: {problem}")
            delay = backoff_delay(failures, 0.5, 8.0)
            log.warning("github.retrying", url=url, attempt=failures, error=problem, delay_s=round(delay, 2))
            await self.sleep(delay)

    def _limit_wait(self, response: httpx.Response) -> tuple[str, float] | None:
        """("primary" | "secondary", seconds to wait) if the refusal is a rate limit, else None."""
        limits = RateLimitHeaders.from_headers(response.headers)
        secondary = basic_error(response).is_secondary_rate_limit
        if limits.retry_after is not None:
            return ("secondary" if secondary or limits.remaining != 0 else "primary"), float(limits.retry_after)
        if limits.remaining == 0 and not secondary:
            return "primary", max(1.0, (limits.reset or 0) - self.clock() + 1)
        if secondary or response.status_code == 429:
            return "secondary", float(SECONDARY_DEFAULT_WAIT_S)
        return None


__all__ = [
    "GitHubAPIError",
    "GitHubAuthError",
    "GitHubClient",
    "GitHubError",
    "GitHubResponseError",
    "GitHubSettings",
    "GitHubUnavailable",
    "ListingState",
    "PageRecord",
    "RepoListing",
    "parse_items",
]
