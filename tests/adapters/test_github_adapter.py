"""The GitHub adapter against the GitHub stand-in on loopback: pages, ETags, rate limits, faults.

The stand-in's clock and the adapter's clock are one ``Clock``, and the adapter's ``sleep`` moves
it forward instead of waiting, so rate-limit waits are checked without being sat out.
"""

from __future__ import annotations

import json

import httpx
import pytest
from pydantic import SecretStr

from actors.adapters.github.client import GitHubAPIError, GitHubClient, GitHubUnavailable, parse_items
from actors.adapters.github.settings import GitHubSettings
from contracts import Keys
from process.errors import TransientError
from sandbox.github.app import SecondaryLimit, github_app
from sandbox.http import ServedApp
from sandbox.world import World
from tests.support import run_async

TOKEN = "ghp_adaptertoken000000000000000000000"
ORG = "sandbox-org"


class StripLinkFrom304:
    """ASGI wrapper: a GitHub whose 304 answers carry no Link header."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        async def strip(message):
            if message["type"] == "http.response.start" and message["status"] == 304:
                message = {**message, "headers": [(k, v) for k, v in message["headers"] if k.lower() != b"link"]}
            await send(message)

        await self.app(scope, receive, strip)


class FailFirst:
    """ASGI wrapper: the first ``n`` requests answer 502."""

    def __init__(self, app, n: int):
        self.app, self.left = app, n

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self.left > 0:
            self.left -= 1
            await send({"type": "http.response.start", "status": 502, "headers": []})
            return await send({"type": "http.response.body", "body": b"bad gateway"})
        await self.app(scope, receive, send)


@pytest.fixture
def world() -> World:
    return World.generate(seed=3, repos=75, servers=0)


@pytest.fixture
def app(world, clock, app_options):
    return github_app(world, TOKEN, clock=clock, **app_options)


@pytest.fixture
def wrapper():
    return lambda app: app


@pytest.fixture
def served(app, wrapper):
    with ServedApp(wrapper(app)) as served:
        yield served


def github(served, clock, **settings) -> GitHubClient:
    values = {
        "github_api_url": served.url,
        "github_org": ORG,
        "github_token": SecretStr(TOKEN),
        "github_per_page": 20,
        **settings,
    }
    return GitHubClient(GitHubSettings(**values), clock=clock, sleep=clock.sleep)


def listing(gh: GitHubClient, client):
    return run_async(client, gh.list_org_repos)


# ---- pages and ETags -----------------------------------------------------------------------------------


def test_every_page_is_read_by_the_link_header_and_the_listing_is_complete(served, client, clock, world, app):
    result = listing(github(served, clock), client)
    assert sorted(r.id for r in result.repos) == sorted(r.id for r in world.org_repos())
    assert (result.pages, result.points, result.requests, result.not_modified) == (4, 4, 4, 0)
    assert result.complete and app.points_used() == 4
    assert app.counters.requests["GET /organizations/{org_id:int}/repos"] == 3, "next pages by their Link URL"


def test_an_unchanged_org_costs_no_point_the_second_time_and_lists_the_same(served, client, clock, world, app):
    gh = github(served, clock)
    first = listing(gh, client)
    second = listing(gh, client)
    assert second.repos == first.repos and second.complete
    assert (second.not_modified, second.points) == (4, 0) and app.points_used() == 4
    assert app.counters.outcomes["not_modified"] == 4


def test_a_change_costs_only_the_page_it_is_on_and_shows_in_the_listing(served, client, clock, world, app):
    gh = github(served, clock)
    listing(gh, client)
    oldest = min(world.org_repos(), key=lambda r: r.created_at)
    world.edit_description(oldest.id, "changed")
    world.add_repo("brand-new")  # oldest first: a new repository lands on the last page
    result = listing(gh, client)
    assert (result.points, result.not_modified) == (2, 2)
    by_id = {r.id: r for r in result.repos}
    assert by_id[oldest.id].description == "changed" and world.repo("brand-new").id in by_id
    assert len(result.repos) == 76 and result.complete


def test_an_unreadable_page_record_means_an_unconditional_request(served, client, clock, app):
    gh = github(served, clock)
    listing(gh, client)
    client.set(Keys.github_page(ORG, gh.first_page_url()), b"{not json")
    result = listing(gh, client)
    assert (result.points, result.not_modified, len(result.repos)) == (1, 3, 75) and result.complete
    stale = {"etag": 'W/"x"', "next": None, "items": [{"id": 1}], "skipped": 0, "count": 1}
    client.set(Keys.github_page(ORG, gh.first_page_url()), json.dumps(stale))  # items of another shape
    result = listing(gh, client)
    assert (result.points, result.not_modified, len(result.repos)) == (1, 3, 75) and result.complete


@pytest.mark.parametrize("wrapper", [StripLinkFrom304])
def test_a_304_without_link_uses_the_stored_next_and_probes_after_a_full_last_page(served, client, clock, world):
    gh = github(served, clock)
    for _ in range(5):
        world.add_repo()  # 80 repositories: exactly 4 full pages of 20
    assert listing(gh, client).pages == 4
    again = listing(gh, client)  # 304s without Link: next from the records, then one probe past the full page
    assert (again.pages, again.not_modified, len(again.repos), again.complete) == (5, 4, 80, True)
    world.add_repo("after-the-probe")
    third = listing(gh, client)
    assert world.repo("after-the-probe").id in {r.id for r in third.repos} and third.complete


# ---- rate limits ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("app_options", [{"rate_limit": 6}])
def test_the_walk_stops_at_the_reserve_before_the_budget_is_gone(served, client, clock, app, world):
    gh = github(served, clock, github_per_page=10, github_rate_limit_reserve=2)
    stopped = listing(gh, client)
    assert (stopped.pages, stopped.stopped, stopped.complete) == (4, "rate_limit_reserve", False)
    assert app.counters.outcomes["primary"] == 0, "never ran into the limit"
    assert listing(gh, client).requests == 0, "the budget seen last time is remembered"
    clock.now += 3600  # the window resets
    resumed = listing(gh, client)
    assert (resumed.not_modified, resumed.points, resumed.complete) == (4, 4, True)
    assert len(resumed.repos) == 75


@pytest.mark.parametrize("app_options", [{"rate_limit": 3}])
def test_a_budget_spent_elsewhere_stops_the_walk_and_nothing_is_sent_until_the_reset(served, client, clock, app):
    for _ in range(3):  # another user of the same credential spends the hour's budget
        httpx.get(f"{served.url}/rate_limit", headers={"Authorization": f"Bearer {TOKEN}"})
        httpx.get(f"{served.url}/orgs/{ORG}/repos", headers={"Authorization": f"Bearer {TOKEN}"})
    gh = github(served, clock, github_per_page=30, github_rate_limit_reserve=0)
    result = listing(gh, client)
    assert (result.stopped, result.complete, result.pages) == ("primary_rate_limit", False, 0)
    assert app.counters.outcomes["primary"] == 1 and clock.slept == []
    before = app.counters.total()
    assert listing(gh, client).stopped == "rate_limit_backoff" and app.counters.total() == before
    clock.now += 3601
    assert listing(gh, client).complete  # 3 pages of 30 for the 3 points of the new window


def test_a_short_secondary_limit_is_waited_out(served, client, clock, app):
    app.secondary.trip(7)
    result = listing(github(served, clock), client)
    assert clock.slept == [7] and result.complete and len(result.repos) == 75
    assert app.counters.outcomes["secondary"] == 1


def test_a_long_secondary_limit_stops_the_walk_and_is_remembered(served, client, clock, app):
    gh = github(served, clock, github_max_wait_s=30)
    app.secondary.trip(600)
    result = listing(gh, client)
    assert (result.stopped, result.complete, result.repos, clock.slept) == ("secondary_rate_limit", False, (), [])
    before = app.counters.total()
    assert listing(gh, client).stopped == "rate_limit_backoff" and app.counters.total() == before
    clock.now += 600
    assert listing(gh, client).complete


@pytest.mark.parametrize("app_options", [{"secondary": SecondaryLimit(status=429, retry_after_s=60, per_minute=2)}])
def test_a_429_burst_limit_within_the_longest_wait_is_sat_out(served, client, clock, app):
    result = listing(github(served, clock, github_max_wait_s=60), client)
    assert result.complete and len(result.repos) == 75 and clock.slept == [60]
    assert app.counters.outcomes["secondary"] == 1


# ---- faults ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("wrapper", [lambda app: FailFirst(app, 2)])
def test_a_brief_5xx_is_retried(served, client, clock):
    result = listing(github(served, clock), client)
    assert result.complete and len(result.repos) == 75 and len(clock.slept) == 2


def test_a_lasting_5xx_or_a_cut_body_is_transient(served, client, clock, app):
    gh = github(served, clock)
    app.faults.update(error_rate=1.0)
    with pytest.raises(GitHubUnavailable) as failed:
        listing(gh, client)
    assert isinstance(failed.value, TransientError) and "HTTP 503" in str(failed.value)
    app.faults.update(error_rate=0.0, malformed_rate=1.0)
    with pytest.raises(GitHubUnavailable, match="undecodable body"):
        listing(gh, client)


def test_bad_credentials_fail_clearly_without_retry_or_the_token(served, client, clock, app):
    gh = github(served, clock, github_token=SecretStr("ghp_wrong0000000000000000000000000000"))
    with pytest.raises(GitHubAPIError) as refused:
        listing(gh, client)
    assert refused.value.status == 401 and "Bad credentials" in str(refused.value)
    assert not isinstance(refused.value, TransientError) and "ghp_wrong" not in str(refused.value)
    assert app.counters.total() == 1


def test_an_unknown_org_is_a_clear_404(served, client, clock):
    with pytest.raises(GitHubAPIError, match="404 .*no-such-org"):
        listing(github(served, clock, github_org="no-such-org"), client)


def test_an_item_whose_id_can_be_read_is_present_and_only_one_without_a_readable_id_is_skipped(captured_logs):
    good = {
        "id": 1,
        "name": "a",
        "full_name": "o/a",
        "owner": {"login": "o", "id": 9},
        "private": False,
        "html_url": "https://github.test/o/a",
        "description": None,
    }
    items = [good, {**good, "id": 2, "description": 42, "private": None}, {**good, "id": "three"}, None]
    repos, skipped, unreadable = parse_items(items, "https://api.test/orgs/o/repos")
    assert ([r.id for r in repos], skipped, unreadable) == ([1], 2, [2])
    [present] = [e for e in captured_logs if e["event"] == "github.item_skipped" and e["repo_id"] == 2]
    assert present["unreadable_fields"] == ["description", "private"] and present["counts_as_present"] is True
