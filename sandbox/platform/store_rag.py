"""The platform stand-in's RAG store: documents, their chunks and vectors, and search by cosine.

As the platform keeps them (see tests/fixtures/platform/README.md, "RAG"): a document is
identified by (user, project, scope, ``source_type``, ``source_id``); ingesting it again replaces
all its chunks, and a document whose content gives no chunk (empty content) keeps its row with
none, so it is no longer found. Search ranks chunks by cosine similarity alone, keeps those at or
above ``min_similarity``, within the scope and the project or user asked.

**Chunking differs from the platform's on purpose, in its unit only.** The platform counts tokens
with tiktoken's ``cl100k_base`` (512 a chunk, 50 of overlap); the stand-in has no tiktoken, so
``count_tokens`` counts words and punctuation marks (``\\w+|[^\\w\\s]``), roughly what cl100k makes
of English prose, and ``chunk_text`` follows the platform's recipe with that count: paragraphs
(split on blank lines) packed up to ``CHUNK_TOKENS``; a paragraph longer than that cut into
pieces of ``CHUNK_TOKENS``; each chunk after the first starts with the last ``OVERLAP_TOKENS``
of the one before. Token counts in answers are these estimates.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from sandbox.platform.schema import timestamp
from sandbox.platform.store_base import StoreBase

CHUNK_TOKENS = 512
OVERLAP_TOKENS = 50
_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def _token_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _TOKEN.finditer(text)]


def chunk_text(text: str) -> list[str]:
    """The chunks the stand-in embeds for a document's text ([] for a text without words)."""
    paragraphs = [part.strip() for part in text.split("\n\n") if part.strip()]
    base: list[str] = []
    current: list[str] = []
    size = 0
    for paragraph in paragraphs:
        tokens = count_tokens(paragraph)
        if tokens > CHUNK_TOKENS:
            if current:
                base.append("\n\n".join(current))
                current, size = [], 0
            spans = _token_spans(paragraph)
            for start in range(0, len(spans), CHUNK_TOKENS):
                piece = spans[start : start + CHUNK_TOKENS]
                base.append(paragraph[piece[0][0] : piece[-1][1]])
            continue
        if current and size + tokens > CHUNK_TOKENS:
            base.append("\n\n".join(current))
            current, size = [], 0
        current.append(paragraph)
        size += tokens
    if current:
        base.append("\n\n".join(current))
    chunks: list[str] = []
    for index, chunk in enumerate(base):
        if index and OVERLAP_TOKENS:
            spans = _token_spans(base[index - 1])[-OVERLAP_TOKENS:]
            chunk = f"{base[index - 1][spans[0][0] : spans[-1][1]]}\n\n{chunk}"
        chunks.append(chunk)
    return chunks


@dataclass(frozen=True)
class DocumentKey:
    """A document's identity on the platform; ``user_id``/``project_id`` are None for public ones."""

    user_id: int | None
    project_id: str | None
    scope: str
    source_type: str
    source_id: str

    def where(self) -> tuple[str, tuple]:
        return (
            "ifnull(user_id, 0) = ifnull(?, 0) AND ifnull(project_id, '') = ifnull(?, '') AND scope = ? "
            "AND source_type = ? AND source_id = ?",
            (self.user_id, self.project_id, self.scope, self.source_type, self.source_id),
        )


class RagStore(StoreBase):
    def rag_targets_exist(self, project_id: str | None, user_id: int | None) -> tuple[bool, bool]:
        """(whether the project exists, whether the user exists); None counts as existing."""
        with self._read() as db:
            project = (
                project_id is None
                or db.execute("SELECT 1 FROM projects WHERE id = ?", (project_id,)).fetchone() is not None
            )
            user = user_id is None or db.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is not None
        return project, user

    def rag_source_hash(self, key: DocumentKey) -> tuple[bool, str | None]:
        """(whether the document exists, its stored hash)."""
        where, params = key.where()
        with self._read() as db:
            row = db.execute(f"SELECT source_hash FROM rag_documents WHERE {where}", params).fetchone()
        return (row is not None, row["source_hash"] if row else None)

    def rag_replace_document(
        self, key: DocumentKey, fields: dict[str, Any], chunks: list[tuple[str, int, list[float]]], model: str
    ) -> int:
        """Create or update the document and replace all its chunks, in one transaction; its id."""
        now = timestamp()
        where, params = key.where()
        with self._write() as db:
            row = db.execute(f"SELECT id FROM rag_documents WHERE {where}", params).fetchone()
            if row is None:
                document_id = db.execute(
                    "INSERT INTO rag_documents (user_id, project_id, scope, source_type, source_id, source_uri, "
                    "source_hash, source_updated_at, language, title, body, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (
                        key.user_id,
                        key.project_id,
                        key.scope,
                        key.source_type,
                        key.source_id,
                        fields["source_uri"],
                        fields["source_hash"],
                        fields["source_updated_at"],
                        fields["language"],
                        fields["title"],
                        fields["body"],
                        now,
                        now,
                    ),
                ).fetchone()["id"]
            else:
                document_id = row["id"]
                db.execute(
                    "UPDATE rag_documents SET source_uri = ?, source_hash = ?, source_updated_at = ?, "
                    "language = ?, title = ?, body = ?, updated_at = ? WHERE id = ?",
                    (
                        fields["source_uri"],
                        fields["source_hash"],
                        fields["source_updated_at"],
                        fields["language"],
                        fields["title"],
                        fields["body"],
                        now,
                        document_id,
                    ),
                )
                db.execute("DELETE FROM rag_chunks WHERE document_id = ?", (document_id,))
            db.executemany(
                "INSERT INTO rag_chunks (document_id, user_id, project_id, scope, chunk_index, chunk_text, "
                "token_count, embedding, embedding_model) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        document_id,
                        key.user_id,
                        key.project_id,
                        key.scope,
                        index,
                        text,
                        tokens,
                        json.dumps(vector),
                        model,
                    )
                    for index, (text, tokens, vector) in enumerate(chunks)
                ],
            )
        return document_id

    def rag_documents(self, project_id: str | None = None) -> list[dict[str, Any]]:
        """Every document (of one project), with its chunk count: for tests and the demo."""
        sql = (
            "SELECT d.*, (SELECT count(*) FROM rag_chunks c WHERE c.document_id = d.id) AS chunk_count "
            "FROM rag_documents d"
        )
        params: tuple = ()
        if project_id is not None:
            sql, params = sql + " WHERE d.project_id = ?", (project_id,)
        with self._read() as db:
            return [dict(row) for row in db.execute(sql + " ORDER BY d.id", params)]

    def rag_search(
        self,
        vector: list[float],
        *,
        scope: str,
        user_id: int | None,
        project_id: str | None,
        top_k: int,
        min_similarity: float,
    ) -> list[dict[str, Any]]:
        """Chunks at or above ``min_similarity`` by cosine, best first, at most ``top_k``: scope
        ``project`` searches the project's chunks (of any scope), ``user`` the user's own and public
        ones, ``public`` the public ones."""
        if scope == "public":
            where, params = "c.scope = 'public'", ()
        elif scope == "user":
            where, params = "c.user_id = ? AND c.scope IN ('user', 'public')", (user_id,)
        else:
            where, params = "c.project_id = ? AND c.scope IN ('project', 'user', 'public')", (project_id,)
        with self._read() as db:
            rows = db.execute(
                "SELECT c.chunk_text, c.chunk_index, c.token_count, c.embedding, d.source_type, d.source_id, "
                f"d.source_uri, d.title FROM rag_chunks c JOIN rag_documents d ON d.id = c.document_id WHERE {where} "
                "ORDER BY c.id",
                params,
            ).fetchall()
        if not rows:
            return []
        matrix = np.array([json.loads(r["embedding"]) for r in rows], dtype=np.float64)
        query = np.array(vector, dtype=np.float64)
        if matrix.shape[1] != query.shape[0]:
            raise ValueError(f"the query has {query.shape[0]} dimensions, the stored vectors {matrix.shape[1]}")
        norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(query) or 1.0)
        scores = matrix @ query / np.where(norms == 0, 1.0, norms)
        ranked = sorted((i for i in range(len(rows)) if scores[i] >= min_similarity), key=lambda i: (-scores[i], i))
        return [
            {
                "chunk_text": rows[i]["chunk_text"],
                "score": float(scores[i]),
                "source_type": rows[i]["source_type"],
                "source_id": rows[i]["source_id"],
                "source_uri": rows[i]["source_uri"],
                "title": rows[i]["title"],
                "chunk_index": rows[i]["chunk_index"],
                "token_count": rows[i]["token_count"],
            }
            for i in ranked[:top_k]
        ]
