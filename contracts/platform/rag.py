"""The RAG store: documents, chunks, search and summaries."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    model_validator,
)

from ..text import WritableText
from .common import UtcDatetime


def _finite(vector: list[float]) -> list[float]:
    if not vector:
        raise ValueError("an embedding has at least one dimension")
    if not all(math.isfinite(x) for x in vector):
        raise ValueError("an embedding holds finite numbers only")
    return vector


Embedding = Annotated[list[float], AfterValidator(_finite)]


class DocumentChunk(BaseModel):
    index: NonNegativeInt
    text: str
    #: the chunk's heading path in its document, e.g. ``Setup > Configuration`` ("" before any heading)
    heading: str = ""
    embedding: Embedding


class ProjectDocument(BaseModel):
    """One indexed file of a project, keyed by ``path``. ``chunks`` is filled only when asked
    for (``include_chunks``); ``chunk_count`` always is. ``model`` and ``dimension`` name the
    embedding model its vectors came from (None: stored before vectors were tagged)."""

    path: str
    content_hash: str
    updated_at: UtcDatetime
    model: str | None = None
    dimension: int | None = None
    chunk_count: NonNegativeInt = 0
    chunks: list[DocumentChunk] = Field(default_factory=list)


class DocumentUpsert(BaseModel):
    """The whole document: its chunks replace any the platform held for ``path``. Every vector
    comes from one embedding ``model`` and has ``dimension`` numbers, so that vectors of two
    models are never compared (search only ranks chunks of the query's model)."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, max_length=1024)
    content_hash: str = Field(min_length=1)
    model: str = Field(min_length=1, max_length=200)
    dimension: int = Field(ge=1, le=16_384)
    chunks: list[DocumentChunk]

    @model_validator(mode="after")
    def _chunks_consistent(self):
        if [c.index for c in self.chunks] != list(range(len(self.chunks))):
            raise ValueError("chunk indexes must be 0, 1, 2, ... in order")
        if any(len(c.embedding) != self.dimension for c in self.chunks):
            raise ValueError(f"every embedding has the document's dimension ({self.dimension})")
        return self


class ChunkSearch(BaseModel):
    """``POST /api/search/chunks``: the ``k`` chunks nearest to ``vector`` (cosine), among those
    embedded by ``model`` with the vector's dimension."""

    model_config = ConfigDict(extra="forbid")

    vector: Embedding
    model: str = Field(min_length=1, max_length=200)
    k: int = Field(default=5, ge=1, le=100)


class SearchHit(BaseModel):
    project_id: int
    project: str  # the project's full_name
    path: str
    heading: str = ""
    text: str
    score: float


class ProjectSummary(BaseModel):
    """A project's summary; ``source_hash`` is the hash of the sources it was made from, so an
    unchanged project is not summarised again."""

    project_id: int
    text: str
    source_hash: str
    model: str
    updated_at: UtcDatetime


class SummaryUpsert(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: WritableText(min_length=1)  # type: ignore[valid-type]
    source_hash: str = Field(min_length=1)
    model: str = Field(min_length=1)


__all__ = [
    "ChunkSearch",
    "DocumentChunk",
    "DocumentUpsert",
    "Embedding",
    "ProjectDocument",
    "ProjectSummary",
    "SearchHit",
    "SummaryUpsert",
]
