"""RAG: ``POST /api/rag/ingest`` (documents in; the platform chunks and embeds them) and
``POST /api/rag/query`` (chunks out, by meaning).

The platform's ingest body is read from the raw request (its OpenAPI document has no schema for
it), so these write models are the contract, taken from the platform's own ``RAGDocsIngest``
and its columns, and stricter where it is looser: unknown fields are refused, and every length
the platform's table would refuse at the database (``source_type`` 50, ``source_id`` 255,
``source_uri`` 1024, ``title`` 512, ``language`` 16, the hash 128) is refused here first.

A document is identified on the platform by (user, project, ``scope``, ``source_type``,
``source_id``). Sent again with another ``content_hash`` its chunks are replaced; with the same
hash it is skipped. There is no delete: a document sent with empty ``content`` keeps its row
and loses every chunk, so it is no longer found (``RagDocument.emptied``).
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, model_validator

from ..text import WritableLine, WritableText
from .common import UtcDatetime

#: the one event name the platform's ingest knows
INGEST_EVENT = "rag.docs.upsert"
#: the platform's column widths (shared/models/rag.py)
SOURCE_TYPE_MAX, SOURCE_ID_MAX, SOURCE_URI_MAX, TITLE_MAX, LANGUAGE_MAX = 50, 255, 1024, 512, 16
#: the longest document text we send (characters): ``RAG_MAX_DOC_BYTES`` bounds it in practice
CONTENT_MAX = 2_000_000

ContentHash = Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]


def content_hash(content: str) -> str:
    """The platform's own form of a document's hash: ``sha256:<hex of the UTF-8 text>``."""
    return "sha256:" + hashlib.sha256(content.encode("utf-8")).hexdigest()


class RagScope(StrEnum):
    PROJECT = "project"
    USER = "user"
    PUBLIC = "public"


class RagRepo(BaseModel):
    """Which repository, ref and commit the documents were read from (kept by the platform's log)."""

    model_config = ConfigDict(extra="forbid")

    full_name: WritableLine(255)  # type: ignore[valid-type]
    ref: WritableLine(255)  # type: ignore[valid-type]
    commit_sha: str = Field(pattern=r"^[0-9a-f]{40}$")


class RagDocument(BaseModel):
    """One document of an ingest. ``content_hash``, when given, must be the hash of ``content``
    (``content_hash()``): the platform trusts it to skip unchanged documents, so a wrong one
    would hide a change for ever."""

    model_config = ConfigDict(extra="forbid")

    source_type: str = Field(min_length=1, max_length=SOURCE_TYPE_MAX, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    source_id: WritableLine(SOURCE_ID_MAX)  # type: ignore[valid-type]
    source_uri: WritableLine(SOURCE_URI_MAX) | None = None  # type: ignore[valid-type]
    scope: RagScope = RagScope.PROJECT
    path: WritableLine(1024) | None = None  # type: ignore[valid-type]
    title: WritableLine(TITLE_MAX) | None = None  # type: ignore[valid-type]
    content: WritableText(CONTENT_MAX)  # type: ignore[valid-type]
    language: str | None = Field(default=None, min_length=1, max_length=LANGUAGE_MAX)
    updated_at: UtcDatetime | None = None
    content_hash: ContentHash | None = None

    @model_validator(mode="after")
    def _hash_is_the_contents(self):
        if self.content_hash is not None and self.content_hash != content_hash(self.content):
            raise ValueError("content_hash is not the sha256 of content")
        return self

    @property
    def emptied(self) -> bool:
        """Sent to take the document out of search (its chunks go; the row stays)."""
        return self.content == ""


class RagIngest(BaseModel):
    """``POST /api/rag/ingest``. The scheduler sends project documents: ``project_id`` (the
    project's UUID) and ``user_id`` (its owner) are always given."""

    model_config = ConfigDict(extra="forbid")

    event: Literal["rag.docs.upsert"] = INGEST_EVENT
    project_id: UUID
    user_id: int = Field(ge=1)
    repo: RagRepo | None = None
    documents: list[RagDocument] = Field(min_length=1)


class RagIngestResult(BaseModel):
    documents_received: NonNegativeInt
    documents_indexed: NonNegativeInt
    documents_skipped: NonNegativeInt


class RagQuery(BaseModel):
    """``POST /api/rag/query``: chunks at or above ``min_similarity`` (cosine), best first, at
    most ``top_k`` and about ``max_tokens`` tokens. Scope ``project`` needs ``project_id`` and
    ``user_id`` (the platform answers 400 otherwise): it searches that project's documents."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=8_000)
    user_id: int | None = Field(default=None, ge=1)
    project_id: UUID | None = None
    scope: RagScope = RagScope.PROJECT
    top_k: int = Field(default=5, ge=1, le=100)
    max_tokens: int = Field(default=2000, ge=1)
    min_similarity: float = Field(default=0.7, ge=-1.0, le=1.0)

    @model_validator(mode="after")
    def _scope_needs_ids(self):
        if self.scope is RagScope.PROJECT and self.project_id is None:
            raise ValueError("scope 'project' needs project_id")
        if self.scope is not RagScope.PUBLIC and self.user_id is None:
            raise ValueError(f"scope {self.scope.value!r} needs user_id")
        return self


class RagChunkResult(BaseModel):
    chunk_text: str
    score: float
    source_type: str
    source_id: str
    source_uri: str | None = None
    title: str | None = None
    chunk_index: NonNegativeInt
    token_count: int | None = None


class RagQueryResult(BaseModel):
    query: str
    results: list[RagChunkResult]
    total_tokens: int
    truncated: bool = False


__all__ = [
    "CONTENT_MAX",
    "INGEST_EVENT",
    "ContentHash",
    "RagChunkResult",
    "RagDocument",
    "RagIngest",
    "RagIngestResult",
    "RagQuery",
    "RagQueryResult",
    "RagRepo",
    "RagScope",
    "content_hash",
]
