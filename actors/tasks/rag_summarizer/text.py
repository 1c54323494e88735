"""A document's bytes as the text sent to the platform, and what names it there. Pure.

- bytes: UTF-8 (a BOM is dropped), UTF-16 with its BOM, else Windows-1252 with replacement
  characters: a text always comes out, the same every time. Bytes with a NUL or mostly control
  characters are binary (``None``): such a document is sent empty, so it is not searched. Line
  ends become ``\\n``.
- ``source_id``: ``<owner>/<repo>:<path>``, which the platform puts in front of every chunk it
  embeds (``Source: ...``), so retrieval knows the repository and the file. The platform keeps
  255 characters: a longer one keeps the path's end and a hash of the whole path, so it stays
  unique and stable.
- ``title``: the first Markdown or reStructuredText heading (before any code block), else the path.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote

from contracts.platform.rag import SOURCE_ID_MAX, SOURCE_URI_MAX, TITLE_MAX

_ATX = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$")
_UNDERLINE = re.compile(r"^ {0,3}(=+|-+|~+|\^+|\*+)[ \t]*$")
_GIT_URL = re.compile(r"^(?:[a-z+]+://[^/]+/|[^@/]+@[^:/]+:)(?P<owner>[^/]+)/(?P<name>[^/]+?)(?:\.git)?/?$")


def decode(data: bytes) -> str | None:
    """The text of a file, or None for a binary one."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", errors="replace")
    elif b"\0" in data[:8192]:
        return None
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
    sample = text[:8192]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f")
    if sample and controls / len(sample) > 0.1:
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def source_id(full_name: str, path: str) -> str:
    whole = f"{full_name}:{path}"
    if len(whole) <= SOURCE_ID_MAX:
        return whole
    digest = hashlib.sha256(path.encode()).hexdigest()[:16]
    keep = SOURCE_ID_MAX - len(full_name) - len(digest) - 3
    return f"{full_name}:…{path[-keep:]}#{digest}"


def title_of(text: str | None, path: str) -> str:
    lines = (text or "").split("\n")[:200]
    for index, line in enumerate(lines):
        if line.lstrip().startswith(("```", "~~~")):
            break
        if match := _ATX.match(line):
            return match.group(1).strip()[:TITLE_MAX]
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if (
            line.strip()
            and _UNDERLINE.match(following)
            and len(following.strip()) >= len(line.strip()) >= 1
            and not _UNDERLINE.match(line)
        ):
            return line.strip()[:TITLE_MAX]
    return path[:TITLE_MAX]


def full_name_of(git_url: str) -> str | None:
    """``owner/name`` of a git URL (``https://host/owner/name(.git)``, ``git@host:owner/name.git``)."""
    match = _GIT_URL.match(git_url.strip())
    return f"{match.group('owner')}/{match.group('name')}" if match else None


def source_uri(git_url: str, path: str) -> str | None:
    """Where a person reads the file: the web page of its blob on the default branch (https only)."""
    if not git_url.startswith("https://") or full_name_of(git_url) is None:
        return None
    base = git_url.strip().removesuffix("/").removesuffix(".git")
    uri = f"{base}/blob/HEAD/{quote(path, safe='/')}"
    return uri if len(uri) <= SOURCE_URI_MAX else None
