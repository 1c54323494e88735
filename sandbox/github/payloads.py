"""Response bodies of the GitHub stand-in, shaped as GitHub's OpenAPI schemas describe them:
repositories, contents and trees (with real git object ids), and the pagination ``Link`` header."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from sandbox.world import Repo, World

HTML = "https://github.sandbox.test"  # .test: reserved, never resolves
RAW = "https://raw.sandbox.test"
#: minimal-repository's URL fields: name -> suffix after the repository's API URL
_REPO_URLS = {
    "archive_url": "/{archive_format}{/ref}",
    "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors",
    "deployments_url": "/deployments",
    "downloads_url": "/downloads",
    "events_url": "/events",
    "forks_url": "/forks",
    "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}",
    "labels_url": "/labels{/name}",
    "languages_url": "/languages",
    "merges_url": "/merges",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}",
    "stargazers_url": "/stargazers",
    "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "tags_url": "/tags",
    "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}


def file_bytes(content: str | bytes) -> bytes:
    """A repository file's bytes: text is UTF-8; bytes (a binary or non-UTF-8 file) are as they are."""
    return content if isinstance(content, bytes) else content.encode()


def link_header(base: str, query: list[tuple[str, str]], page: int, last: int) -> str:
    """GitHub's order: prev, next, last, first; absent on a single page."""

    def url(number: int) -> str:
        return f"<{base}?{urlencode([(k, v) for k, v in query if k != 'page'] + [('page', str(number))])}>"

    rels = [(page - 1, "prev")] if page > 1 else []
    rels += [(page + 1, "next"), (last, "last")] if page < last else []
    rels += [(1, "first")] if page > 1 else []
    return ", ".join(f'{url(number)}; rel="{rel}"' for number, rel in rels)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_id(kind: str, number: int) -> str:
    """GitHub's legacy global node id: base64 of ``<len(kind)>:<kind><id>``."""
    return base64.b64encode(f"0{len(kind)}:{kind}{number}".encode()).decode()


def owner_json(world: World, api: str) -> dict:
    login, users = world.org, f"{api}/users/{world.org}"
    return {
        "login": login,
        "id": world.org_id,
        "node_id": _node_id("Organization", world.org_id),
        "avatar_url": f"{HTML}/avatars/{login}.png",
        "gravatar_id": "",
        "url": users,
        "html_url": f"{HTML}/{login}",
        "followers_url": f"{users}/followers",
        "following_url": f"{users}/following{{/other_user}}",
        "gists_url": f"{users}/gists{{/gist_id}}",
        "starred_url": f"{users}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{users}/subscriptions",
        "organizations_url": f"{users}/orgs",
        "repos_url": f"{users}/repos",
        "events_url": f"{users}/events{{/privacy}}",
        "received_events_url": f"{users}/received_events",
        "type": "Organization",
        "site_admin": False,
        "user_view_type": "public",
    }


def minimal_repository(repo: Repo, world: World, api: str) -> dict:
    full = f"{world.org}/{repo.name}"
    url = f"{api}/repos/{full}"
    size_kb = sum(len(file_bytes(text)) for text in repo.files.values()) // 1024 + 1
    return {
        "id": repo.id,
        "node_id": _node_id("Repository", repo.id),
        "name": repo.name,
        "full_name": full,
        "owner": owner_json(world, api),
        "private": repo.private,
        "html_url": f"{HTML}/{full}",
        "description": repo.description,
        "fork": False,
        "url": url,
        **{name: url + suffix for name, suffix in _REPO_URLS.items()},
        "git_url": f"git://{HTML.removeprefix('https://')}/{full}.git",
        "ssh_url": f"git@{HTML.removeprefix('https://')}:{full}.git",
        "clone_url": f"{HTML}/{full}.git",
        "svn_url": f"{HTML}/{full}",
        "mirror_url": None,
        "homepage": None,
        "language": repo.language,
        "forks_count": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "size": size_kb,
        "default_branch": repo.default_branch,
        "open_issues_count": 0,
        "is_template": False,
        "topics": repo.topics,
        "has_issues": True,
        "has_projects": True,
        "has_wiki": False,
        "has_pages": False,
        "has_downloads": True,
        "has_discussions": False,
        "archived": repo.archived,
        "disabled": repo.disabled,
        "visibility": repo.visibility,
        "pushed_at": _stamp(repo.pushed_at),
        "created_at": _stamp(repo.created_at),
        "updated_at": _stamp(repo.updated_at),
        "allow_forking": False,
        "web_commit_signoff_required": False,
        "license": None,
        "forks": 0,
        "open_issues": 0,
        "watchers": 0,
    }


@dataclass
class GitNode:
    """A git object: a blob (``children`` is None) or a tree; ``sha`` is the real git object id."""

    sha: str
    size: int = 0
    children: dict[str, GitNode] | None = None

    def walk(self) -> Iterable[GitNode]:
        yield self
        for child in (self.children or {}).values():
            yield from child.walk()

    def find(self, path: str) -> GitNode | None:
        node: GitNode | None = self
        for part in filter(None, path.split("/")):
            node = (node.children or {}).get(part) if node else None
        return node

    def find_dir(self, path: str) -> GitNode | None:
        node = self.find(path)
        return node if node and node.children is not None else None

    def find_file(self, path: str) -> GitNode | None:
        node = self.find(path)
        return node if node and node.children is None else None

    def find_sha(self, sha: str) -> GitNode | None:
        return next((n for n in self.walk() if n.children is not None and n.sha == sha), None)


def _git_sha(kind: bytes, data: bytes) -> str:
    return hashlib.sha1(b"%s %d\0" % (kind, len(data)) + data).hexdigest()


def git_tree(files: dict[str, str | bytes]) -> GitNode:
    """The root tree of ``files``, hashed as git does, so shas change exactly when content does."""
    spec: dict = {}
    for path, text in files.items():
        *dirs, name = path.split("/")
        node = spec
        for part in dirs:
            node = node.setdefault(part, {})
        node[name] = file_bytes(text)
    return _hash_tree(spec)


def _hash_tree(spec: dict) -> GitNode:
    children = {
        name: _hash_tree(v) if isinstance(v, dict) else GitNode(_git_sha(b"blob", v), len(v))
        for name, v in spec.items()
    }
    # git orders a tree's entries by name, comparing a sub-tree's name as if it ended in "/"
    order = sorted(children, key=lambda n: n + "/" if children[n].children is not None else n)
    raw = b"".join(
        b"%s %s\0" % (b"40000" if children[n].children is not None else b"100644", n.encode())
        + bytes.fromhex(children[n].sha)
        for n in order
    )
    return GitNode(_git_sha(b"tree", raw), children={n: children[n] for n in order})


def content_entry(repo: Repo, world: World, api: str, path: str, node: GitNode) -> dict:
    full, is_dir = f"{world.org}/{repo.name}", node.children is not None
    url = f"{api}/repos/{full}/contents/{path}?ref={repo.default_branch}"
    git_url = f"{api}/repos/{full}/git/{'trees' if is_dir else 'blobs'}/{node.sha}"
    html_url = f"{HTML}/{full}/{'tree' if is_dir else 'blob'}/{repo.default_branch}/{path}"
    return {
        "type": "dir" if is_dir else "file",
        "size": node.size,
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "sha": node.sha,
        "url": url,
        "git_url": git_url,
        "html_url": html_url,
        "download_url": None if is_dir else f"{RAW}/{full}/{repo.default_branch}/{path}",
        "_links": {"self": url, "git": git_url, "html": html_url},
    }


def content_file(repo: Repo, world: World, api: str, path: str, node: GitNode, text: str | bytes) -> dict:
    encoded = base64.b64encode(file_bytes(text)).decode()
    # GitHub wraps base64 content at 60 characters, each line ending in a newline
    wrapped = "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))
    return {**content_entry(repo, world, api, path, node), "content": wrapped, "encoding": "base64"}


def tree_listing(repo: Repo, world: World, api: str, tree: GitNode, recursive: bool) -> dict:
    base = f"{api}/repos/{world.org}/{repo.name}/git"
    entries: list[dict] = []

    def walk(node: GitNode, prefix: str) -> None:
        for name, child in (node.children or {}).items():
            is_dir = child.children is not None
            entry = {
                "path": prefix + name,
                "mode": "040000" if is_dir else "100644",
                "type": "tree" if is_dir else "blob",
                "sha": child.sha,
            }
            entries.append(
                entry
                | ({} if is_dir else {"size": child.size})
                | {"url": f"{base}/{'trees' if is_dir else 'blobs'}/{child.sha}"}
            )
            if recursive and is_dir:
                walk(child, f"{prefix}{name}/")

    walk(tree, "")
    return {"sha": tree.sha, "url": f"{base}/trees/{tree.sha}", "tree": entries, "truncated": False}
