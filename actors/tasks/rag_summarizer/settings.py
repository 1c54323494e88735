"""rag_summarizer's own rules, from the environment (see README, "rag_summarizer"). Which
embedder and summariser it uses are their adapters' settings (``EMBEDDINGS_*``, ``SUMMARY_*``)."""

from __future__ import annotations

import hashlib
import re
from functools import cached_property

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class RagSummarizerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    rag_doc_globs: str = Field(
        default="README*,docs/**/*.md,.project-spec.yaml",
        description=(
            "which files are documents, comma-separated globs from the repository root (`*` stays within a folder, "
            "`**` spans folders; case-insensitive)"
        ),
    )
    rag_max_doc_bytes: int = Field(default=200_000, ge=1, description="larger documents are left out (counted)")
    rag_max_docs_per_project: int = Field(
        default=50, ge=1, description="documents indexed per project, the first by path"
    )

    @field_validator("rag_doc_globs")
    @classmethod
    def _some_glob(cls, value: str) -> str:
        if not _split(value):
            raise ValueError("at least one glob, e.g. README*,docs/**/*.md")
        return value

    @cached_property
    def documents(self) -> DocumentGlobs:
        return DocumentGlobs(_split(self.rag_doc_globs))


def _split(globs: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in globs.split(",") if part.strip())


def _glob_regex(glob: str) -> str:
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


class DocumentGlobs:
    """Which paths of a repository are documents (the GitHub adapter's ``DocumentFilter``)."""

    def __init__(self, globs: tuple[str, ...]):
        self.globs = globs
        self._pattern = re.compile("|".join(f"(?:{_glob_regex(g)})" for g in globs), re.IGNORECASE)
        self._folders = [re.compile(_glob_regex(g.split("/", 1)[0]), re.IGNORECASE) for g in globs if "/" in g]
        self.fingerprint = hashlib.sha256("\n".join(globs).encode()).hexdigest()[:16]

    def wanted(self, path: str, size: int = 0) -> bool:
        return self._pattern.fullmatch(path) is not None

    def may_hold(self, folder: str) -> bool:
        return any(p.fullmatch(folder) or p.pattern.startswith("(?:.*/)?") or p.pattern == ".*" for p in self._folders)
