"""Repository files for rag_summarizer: git trees and file contents, read at (nearly) no cost.

- Trees: ``GET /repos/{owner}/{repo}/git/trees/{branch}?recursive=1``, conditional on the ETag
  stored with what was kept of the tree (``Keys.github_tree``: the blobs the caller's filter
  wants and the root's folders, one JSON value, so the ETag always belongs to its entries). A 304
  costs no rate-limit point and yields the stored entries. A ``truncated`` tree (GitHub stops at
  100,000 entries / 7 MB) is read again piecewise: the root without ``recursive``, then each root
  folder the filter may find documents in, recursively by its sha. A folder still truncated
  makes the tree incomplete: what it lists is indexed, nothing is taken for deleted.
- Contents: ``GET /repos/{owner}/{repo}/contents/{path}[?ref={branch}]`` (``path`` keeps its
  ``/`` unencoded; without a branch, the default one), base64 decoded; only for a document whose blob changed. The bytes
  are kept a day with their ETag (``Keys.github_content``), so reading them again after a
  failed write costs a 304. The blob sha returned is the one the bytes belong to.
- One budget with the org listing (``Keys.github_rate``, ``GITHUB_RATE_LIMIT_RESERVE``): the reads
  stop (``stopped`` set, ``None`` answered) when the reserve is reached or after a rate limit;
  a stop is never an error and never taken for an empty repository.
- Entries are validated one by one (``GitTreeEntry``): a malformed one is skipped, counted, and
  makes the tree incomplete.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

import redis.asyncio as aioredis
from pydantic import ValidationError

from actors.adapters.github.client import GitHubClient, _Stop, _Walk  # the client's request loop and tally
from actors.adapters.github.errors import GitHubAPIError, GitHubResponseError
from actors.adapters.github.state import ListingState
from actors.adapters.kit import validation_summary
from contracts import Keys
from contracts.github import ContentDecodeError, ContentFile, GitTreeEntry
from process.logs import get_logger

log = get_logger(__name__)

TREE_TTL_S = 14 * 24 * 3600
CONTENT_TTL_S = 24 * 3600


class DocumentFilter(Protocol):
    #: changes whenever the filter does: a stored tree kept by another filter is not reused
    fingerprint: str

    def wanted(self, path: str, size: int) -> bool: ...

    def may_hold(self, folder: str) -> bool:
        """Whether documents may lie under this root folder (read piecewise for a truncated tree)."""
        ...


@dataclass(frozen=True)
class Blob:
    path: str
    sha: str
    size: int


@dataclass(frozen=True)
class RepoTree:
    blobs: tuple[Blob, ...]  # the wanted ones, sorted by path
    #: every wanted blob is listed: one absent from it is not in the repository
    complete: bool


@dataclass(frozen=True)
class FileContent:
    sha: str
    data: bytes


@dataclass
class _Kept:
    """A stored tree: its ETag, the wanted blobs, its root folders (path -> sha), truncated."""

    etag: str
    blobs: list[Blob]
    folders: dict[str, str]
    truncated: bool


class RepoFiles:
    """Reads of one run, on the shared budget. ``await files.close()`` saves the budget seen."""

    def __init__(self, github: GitHubClient, client: aioredis.Redis):
        self.github, self.client, self.org = github, client, github.org
        self.state = ListingState(client, github.org)
        self.walk = _Walk()
        self.skipped_entries = 0
        self.content_requests = 0
        #: why reads stopped: "rate_limit_reserve" | "primary_rate_limit" | ... ; None while they go on
        self.stopped: str | None = None
        self._opened = False

    async def _open(self) -> bool:
        if not self._opened:
            self._opened = True
            budget = await self.state.budget()
            self.walk.remaining, self.walk.reset = budget.get("remaining"), budget.get("reset", 0)
            if budget.get("blocked_until", 0) > self.github.clock():
                self.stopped = "rate_limit_backoff"
        return self.stopped is None

    async def close(self) -> None:
        if self._opened:
            await self.state.save_budget(remaining=self.walk.remaining, reset=self.walk.reset)

    async def _get(self, url: str, etag: str | None):
        """(response, JSON or None on a 304), or None once the budget says stop."""
        if not await self._open():
            return None
        walk, reserve = self.walk, self.github.settings.github_rate_limit_reserve
        if walk.remaining is not None and walk.remaining <= reserve and walk.reset > self.github.clock():
            self.stopped = "rate_limit_reserve"
            return None
        try:
            response, data = await self.github._get(url, etag, self.state, walk)
        except _Stop as stop:
            self.stopped = stop.reason
            log.warning("github.reads_stopped", org=self.org, reason=stop.reason, remaining=walk.remaining)
            return None
        walk.saw(response)
        if response.status_code == 304:
            walk.not_modified += 1
        return response, data

    # ---------------------------------------------------------------- trees

    def _repo_url(self, full_name: str) -> str:
        owner, _, name = full_name.partition("/")
        return f"{self.github.base_url}/repos/{quote(owner, safe='')}/{quote(name, safe='')}"

    async def tree(self, full_name: str, branch: str, wanted: DocumentFilter) -> RepoTree | None:
        """The wanted blobs of the branch's tree; None if it could not be read now (budget, 404)."""
        base = f"{self._repo_url(full_name)}/git/trees"
        whole = await self._tree_part(f"{base}/{quote(branch, safe='/')}?recursive=1", "", wanted)
        if whole is None:
            return None
        if not whole.truncated:
            return RepoTree(tuple(sorted(whole.blobs, key=lambda b: b.path)), complete=True)
        log.info("github.tree_truncated", repo=full_name, note="read again folder by folder")
        root = await self._tree_part(f"{base}/{quote(branch, safe='/')}", "", wanted)
        if root is None:
            return None
        blobs, complete = list(root.blobs), not root.truncated
        for folder, sha in sorted(root.folders.items()):
            if not wanted.may_hold(folder):
                continue
            part = await self._tree_part(f"{base}/{sha}?recursive=1", f"{folder}/", wanted)
            if part is None:
                return None
            blobs += part.blobs
            complete = complete and not part.truncated
        return RepoTree(tuple(sorted(blobs, key=lambda b: b.path)), complete=complete)

    async def _tree_part(self, url: str, prefix: str, wanted: DocumentFilter) -> _Kept | None:
        key = Keys.github_tree(self.org, url)
        record = _read_kept(await self.client.get(key), wanted.fingerprint)
        try:
            answer = await self._get(url, record.etag if record else None)
        except GitHubAPIError as exc:
            if exc.status == 409:  # "Git Repository is empty": nothing to index, for certain
                return _Kept("", [], {}, False)
            if exc.status == 404:  # branch renamed or repository gone: github_sync will tell
                log.warning("github.tree_not_found", url=url)
                return None
            raise
        if answer is None:
            return None
        response, data = answer
        if response.status_code == 304 and record is not None:
            await self.client.expire(key, TREE_TTL_S)
            return record
        if not isinstance(data, dict) or not isinstance(data.get("tree"), list):
            raise GitHubResponseError(f"GET {url} answered no git tree")
        kept = _Kept(response.headers.get("etag", ""), [], {}, data.get("truncated") is not False)
        for index, raw in enumerate(data["tree"]):
            try:
                entry = GitTreeEntry.model_validate(raw)
            except ValidationError as exc:
                self.skipped_entries += 1
                kept.truncated = True  # an entry we could not read may be a document: not complete
                log.warning("github.tree_entry_skipped", url=url, index=index, error=validation_summary(exc))
                continue
            path = prefix + entry.path
            if entry.type == "tree" and "/" not in path:
                kept.folders[path] = entry.sha
            elif entry.type == "blob" and wanted.wanted(path, entry.size or 0):
                kept.blobs.append(Blob(path, entry.sha, entry.size or 0))
        if kept.etag:
            await self.client.set(key, _dump_kept(kept, wanted.fingerprint), ex=TREE_TTL_S)
        return kept

    # ---------------------------------------------------------------- contents

    async def content(self, full_name: str, path: str, branch: str, max_bytes: int) -> FileContent | None:
        """A file's bytes and blob sha (of ``branch``; "" for the default one); None if it could
        not be read now (budget, gone, too large)."""
        url = f"{self._repo_url(full_name)}/contents/{quote(path, safe='/')}"
        if branch:  # "": the default branch
            url += f"?ref={quote(branch, safe='')}"
        key = Keys.github_content(self.org, url)
        record = _read_content(await self.client.get(key))
        sent = self.walk.requests
        try:
            answer = await self._get(url, record[0] if record else None)
        except GitHubAPIError as exc:
            self.content_requests += self.walk.requests - sent
            if exc.status in (403, 404):  # deleted since the tree was read, or too large for the API
                log.warning("github.content_unavailable", url=url, status=exc.status)
                return None
            raise
        self.content_requests += self.walk.requests - sent
        if answer is None:
            return None
        response, data = answer
        if response.status_code == 304 and record is not None:
            return FileContent(record[1], record[2])
        try:
            file = ContentFile.model_validate(data)
            content = FileContent(file.sha, file.decoded())
        except (ValidationError, ContentDecodeError) as exc:
            problem = validation_summary(exc) if isinstance(exc, ValidationError) else str(exc)[:300]
            log.warning("github.content_unreadable", url=url, error=problem)
            return None
        if len(content.data) > max_bytes:
            return None
        if etag := response.headers.get("etag"):
            value = json.dumps({"etag": etag, "sha": content.sha, "data": base64.b64encode(content.data).decode()})
            await self.client.set(key, value, ex=CONTENT_TTL_S)
        return content


def _dump_kept(kept: _Kept, fingerprint: str) -> str:
    return json.dumps(
        {
            "etag": kept.etag,
            "filter": fingerprint,
            "truncated": kept.truncated,
            "folders": kept.folders,
            "blobs": [[b.path, b.sha, b.size] for b in kept.blobs],
        },
        separators=(",", ":"),
    )


def _read_kept(raw: bytes | None, fingerprint: str) -> _Kept | None:
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        if data["filter"] != fingerprint:
            return None  # kept by another filter (RAG_DOC_GLOBS changed): ask unconditionally
        return _Kept(
            str(data["etag"]),
            [Blob(str(p), str(s), int(n)) for p, s, n in data["blobs"]],
            {str(k): str(v) for k, v in data["folders"].items()},
            bool(data["truncated"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _read_content(raw: bytes | None) -> tuple[str, str, bytes] | None:
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        return str(data["etag"]), str(data["sha"]), base64.b64decode(data["data"], validate=True)
    except (ValueError, KeyError, TypeError):
        return None
