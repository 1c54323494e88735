"""The GitHub and Time4VPS contracts read the providers' own documented examples, quirks included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from contracts.github import (
    BasicError,
    ContentDecodeError,
    ContentFile,
    DirectoryListing,
    GitTree,
    InstallationToken,
    MinimalRepository,
    RateLimitHeaders,
    RateLimitOverview,
)
from contracts.time4vps import ServerDetails, ServerListItem, Time4VpsErrorKind, parse_error
from tests.support import FIXTURES

GITHUB = FIXTURES / "github" / "examples"
TIME4VPS = FIXTURES / "time4vps"


def load(path: Path):
    return json.loads(path.read_text())


# ---- GitHub ------------------------------------------------------------------------------------------


def test_org_repos_example_parses_into_minimal_repositories():
    [repo] = [MinimalRepository.model_validate(item) for item in load(GITHUB / "minimal-repository-items.json")]
    assert (repo.id, repo.name, repo.full_name) == (1296269, "Hello-World", "octocat/Hello-World")
    assert repo.owner.login == "octocat" and repo.owner.type == "User"
    assert repo.default_branch == "master" and repo.visibility == "public"
    assert repo.archived is False and repo.disabled is False and repo.private is False
    assert repo.description == "This your first repo!"
    assert repo.pushed_at is not None and repo.pushed_at.tzinfo is not None


def test_repositories_with_more_fields_parse_the_same():
    """repository-paginated-2 carries 86 keys (license, permissions, ...) against 75: extras are ignored."""
    body = load(GITHUB / "repository-paginated-2.json")
    assert body["total_count"] == 1
    [repo] = [MinimalRepository.model_validate(item) for item in body["repositories"]]
    assert repo.id == 1296269 and repo.full_name == "octocat/Hello-World"


def test_repository_without_a_required_field_is_rejected():
    item = load(GITHUB / "minimal-repository-items.json")[0]
    del item["full_name"]
    with pytest.raises(ValidationError, match="full_name"):
        MinimalRepository.model_validate(item)


def test_readme_example_parses_but_its_placeholder_content_does_not_decode():
    readme = ContentFile.model_validate(load(GITHUB / "content-file.json"))
    assert readme.path == "README.md" and readme.encoding == "base64"
    assert readme.content == "encoded content ..."
    with pytest.raises(ContentDecodeError, match="not valid base64"):
        readme.decoded()


def test_file_example_with_literal_backslash_n_is_refused_not_misread():
    example = load(GITHUB / "content-file-response-if-content-is-a-file.json")
    garbled = ContentFile.model_validate(example)
    with pytest.raises(ContentDecodeError):
        garbled.decoded()  # live GitHub sends real newlines; the example's "\\n" pairs are not base64
    repaired = garbled.model_copy(update={"content": example["content"].replace("\\n", "")})
    assert len(repaired.decoded()) == 1001  # not the stated size 5362
    with pytest.raises(ContentDecodeError, match="not UTF-8"):
        repaired.text()


def test_wrapped_base64_with_real_newlines_decodes():
    content = "IyBIZWxsbwoKV29y\nbGQK\n"
    file = ContentFile(type="file", encoding="base64", content=content, name="a.md", path="a.md", sha="x", size=13)
    assert file.text() == "# Hello\n\nWorld\n"


def test_symlink_and_submodule_are_not_files():
    for name in (
        "content-file-response-if-content-is-a-symlink.json",
        "content-file-response-if-content-is-a-submodule.json",
    ):
        with pytest.raises(ValidationError):
            ContentFile.model_validate(load(GITHUB / name))


def test_directory_example_parses_as_a_listing():
    listing = DirectoryListing.model_validate(load(GITHUB / "content-file-response-if-content-is-a-directory.json"))
    assert [e.path for e in listing.files()] == ["lib/octokit.rb"]
    assert [e.path for e in listing.dirs()] == ["lib/octokit"]
    assert listing.dirs()[0].download_url is None


def test_git_tree_examples_parse_including_a_tree_entry_without_size():
    default = GitTree.model_validate(load(GITHUB / "git-tree-default-response.json"))
    assert default.truncated is False
    subdir = next(e for e in default.tree if e.path == "subdir")
    assert subdir.type == "tree" and subdir.size is None
    assert [e.path for e in default.blobs()] == ["file.rb", "exec_file"]
    recursive = GitTree.model_validate(load(GITHUB / "git-tree-response-recursively-retrieving-a-tree.json"))
    assert [e.path for e in recursive.blobs(prefix="subdir/", suffix=".txt")] == ["subdir/file.txt"]


def test_rate_limit_overview_reads_core_not_the_closing_down_rate():
    overview = RateLimitOverview.model_validate(load(GITHUB / "rate-limit-overview.json"))
    assert overview.core.limit == 5000 and overview.core.remaining == 4999
    assert overview.core.reset == 1691591363
    assert overview.rate is not None and overview.rate.reset != overview.core.reset
    without_rate = load(GITHUB / "rate-limit-overview.json")
    del without_rate["rate"]  # removed in API version 2026-03-10
    assert RateLimitOverview.model_validate(without_rate).core.used == 1


def test_rate_limit_headers_are_read_case_insensitively():
    headers = {
        "x-ratelimit-limit": "5000",
        "X-RateLimit-Remaining": "0",
        "x-ratelimit-used": "5000",
        "x-ratelimit-reset": "1691591363",
        "x-ratelimit-resource": "core",
        "retry-after": "30",
    }
    parsed = RateLimitHeaders.from_headers(headers)
    assert (parsed.limit, parsed.remaining, parsed.reset, parsed.retry_after) == (5000, 0, 1691591363, 30)
    assert RateLimitHeaders.from_headers({}).remaining is None


def test_installation_token_keeps_the_token_secret_and_reads_an_expired_date():
    token = InstallationToken.model_validate(load(GITHUB / "installation-token.json"))
    assert token.token.get_secret_value() == "ghs_16C7e42F292c6912E7710c838347Ae178B4a"
    assert "ghs_" not in repr(token) and "ghs_" not in token.model_dump_json()
    assert token.expires_at.year == 2016 and token.expires_at.tzinfo is not None
    assert token.repository_selection == "selected"


def test_basic_error_tells_a_secondary_rate_limit_apart():
    secondary = BasicError(message="You have exceeded a secondary rate limit. Please wait a few minutes.")
    primary = BasicError(message="API rate limit exceeded for user ID 1.")
    assert secondary.is_secondary_rate_limit and not primary.is_secondary_rate_limit


# ---- Time4VPS ----------------------------------------------------------------------------------------


def test_server_list_example_wrapped_in_an_array_parses():
    example = load(TIME4VPS / "server-list.json")
    assert isinstance(example, dict)  # the documented example is one object; the live answer is an array
    [item] = [ServerListItem.model_validate(x) for x in [example]]
    assert item.server_id == 110 and item.ip == "1.2.3.4" and item.type == "OpenVZ"
    assert item.date_created.isoformat() == "2017-01-31"
    assert item.synch_date.isoformat() == "2017-01-31T15:35:00" and item.synch_date.tzinfo is None


def test_server_details_example_parses_without_an_id_and_with_nulls():
    details = ServerDetails.model_validate(load(TIME4VPS / "server-details.json"))
    assert "server_id" not in ServerDetails.model_fields and "id" not in ServerDetails.model_fields
    assert details.synch_date.utcoffset().total_seconds() == 0
    assert details.dns_servers is None and details.active_task is None and details.busy is False
    assert details.additional_ip == ["124.124.124.124", "125.125.125.125"]
    assert details.components[0].name == "Daily and weekly backups" and details.components[0].selected is False
    assert (details.disk_limit, details.disk_usage, details.ram_limit) == (12107, 859, 462)


def test_time4vps_ids_as_strings_and_empty_dates_are_tolerated():
    item = ServerListItem.model_validate(
        {"server_id": "301", "domain": "x.test", "date_created": "0000-00-00", "synch_date": ""}
    )
    assert item.server_id == 301 and item.date_created is None and item.synch_date is None
    details = ServerDetails.model_validate({"additional_ip": None, "components": None, "active_task": {"id": 5}})
    assert details.additional_ip == [] and details.components == [] and details.busy


def test_server_list_item_without_an_id_is_rejected():
    with pytest.raises(ValidationError, match="server_id"):
        ServerListItem.model_validate({"domain": "x.test"})


@pytest.mark.parametrize(
    ("name", "kind", "wait"),
    [
        ("wronglogin", Time4VpsErrorKind.WRONG_LOGIN, None),
        ("ipnotallowed", Time4VpsErrorKind.IP_NOT_ALLOWED, None),
        ("wait_x_between_action", Time4VpsErrorKind.THROTTLED, 24),
    ],
)
def test_the_three_401_bodies_are_told_apart(name, kind, wait):
    error = parse_error(load(TIME4VPS / "errors" / f"{name}.json"))
    assert error is not None
    assert (error.kind, error.wait_seconds, error.reason) == (kind, wait, name)


def test_bodies_that_are_not_errors_and_unknown_errors():
    assert parse_error([load(TIME4VPS / "server-list.json")]) is None
    assert parse_error(load(TIME4VPS / "server-details.json")) is None
    unknown = parse_error({"error": ["Invalid server ID"]})
    assert unknown.kind is Time4VpsErrorKind.OTHER and unknown.reason == "Invalid server ID"
    assert parse_error({"error": "flat string"}).kind is Time4VpsErrorKind.OTHER
