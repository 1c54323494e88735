"""The platform store's rag tables and their operations."""


from __future__ import annotations

import json
import sqlite3
from typing import Any

import numpy as np
from contracts.platform import (
    ChunkSearch,
    DocumentUpsert,
    SummaryUpsert,
)

from sandbox.platform.schema import (
    timestamp,
)
from sandbox.platform.store_base import NotFound, StoreBase


class RagStore(StoreBase):

    def _require_project(self, db: sqlite3.Connection, project_id: int) -> None:
        if not db.execute("SELECT 1 FROM projects WHERE id = ?", (project_id,)).fetchone():
            raise NotFound(f"project {project_id} not found")

    def list_documents(self, project_id: int, include_chunks: bool = False) -> list[dict[str, Any]]:
        with self._read() as db:
            self._require_project(db, project_id)
            docs = {r["path"]: {**dict(r), "chunks": []} for r in db.execute(
                "SELECT d.path, d.content_hash, d.updated_at, d.model, d.dimension, "
                "(SELECT count(*) FROM chunks c WHERE c.project_id = d.project_id AND c.path = d.path) AS chunk_count "
                "FROM documents d WHERE d.project_id = ? ORDER BY d.path", (project_id,))}
            if include_chunks:
                for r in db.execute("SELECT path, idx, text, heading, embedding FROM chunks WHERE project_id = ? "
                                    "ORDER BY path, idx", (project_id,)):
                    docs[r["path"]]["chunks"].append({"index": r["idx"], "text": r["text"], "heading": r["heading"],
                                                      "embedding": json.loads(r["embedding"])})
            return list(docs.values())

    def put_document(self, project_id: int, document: DocumentUpsert) -> tuple[dict[str, Any], bool]:
        """Store the document and replace its chunks; whether it was new."""
        now = timestamp()
        with self._write() as db:
            self._require_project(db, project_id)
            existed = db.execute("SELECT 1 FROM documents WHERE project_id = ? AND path = ?",
                                 (project_id, document.path)).fetchone() is not None
            db.execute("INSERT INTO documents (project_id, path, content_hash, updated_at, model, dimension) "
                       "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, path) DO UPDATE SET "
                       "content_hash = excluded.content_hash, updated_at = excluded.updated_at, "
                       "model = excluded.model, dimension = excluded.dimension",
                       (project_id, document.path, document.content_hash, now, document.model, document.dimension))
            db.execute("DELETE FROM chunks WHERE project_id = ? AND path = ?", (project_id, document.path))
            db.executemany("INSERT INTO chunks (project_id, path, idx, text, heading, embedding) "
                           "VALUES (?, ?, ?, ?, ?, ?)",
                           [(project_id, document.path, c.index, c.text, c.heading, json.dumps(c.embedding))
                            for c in document.chunks])
        meta = {"path": document.path, "content_hash": document.content_hash, "updated_at": now,
                "model": document.model, "dimension": document.dimension,
                "chunk_count": len(document.chunks), "chunks": []}
        return meta, not existed

    def delete_document(self, project_id: int, path: str) -> None:
        with self._write() as db:
            self._require_project(db, project_id)
            if not db.execute("DELETE FROM documents WHERE project_id = ? AND path = ?", (project_id, path)).rowcount:
                raise NotFound(f"project {project_id} has no document {path!r}")

    def search_chunks(self, query: ChunkSearch) -> list[dict[str, Any]]:
        """The ``k`` chunks nearest to the query vector by cosine, among the chunks of documents
        embedded by the query's model with its dimension: vectors of two models are never compared."""
        with self._read() as db:
            rows = db.execute(
                "SELECT c.project_id, p.full_name, c.path, c.heading, c.text, c.embedding FROM chunks c "
                "JOIN documents d ON d.project_id = c.project_id AND d.path = c.path "
                "JOIN projects p ON p.id = c.project_id WHERE d.model = ? AND d.dimension = ? "
                "ORDER BY c.project_id, c.path, c.idx", (query.model, len(query.vector))).fetchall()
        if not rows:
            return []
        matrix = np.array([json.loads(r["embedding"]) for r in rows], dtype=np.float64)
        vector = np.array(query.vector, dtype=np.float64)
        norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(vector) or 1.0)
        scores = matrix @ vector / np.where(norms == 0, 1.0, norms)
        best = sorted(range(len(rows)), key=lambda i: (-scores[i], i))[:query.k]  # ties: a stable order
        return [{"project_id": rows[i]["project_id"], "project": rows[i]["full_name"], "path": rows[i]["path"],
                 "heading": rows[i]["heading"], "text": rows[i]["text"], "score": round(float(scores[i]), 6)}
                for i in best]

    def get_summary(self, project_id: int) -> dict[str, Any] | None:
        with self._read() as db:
            self._require_project(db, project_id)
            row = db.execute("SELECT * FROM summaries WHERE project_id = ?", (project_id,)).fetchone()
            return dict(row) if row else None

    def put_summary(self, project_id: int, summary: SummaryUpsert) -> dict[str, Any]:
        with self._write() as db:
            self._require_project(db, project_id)
            row = db.execute(
                "INSERT INTO summaries (project_id, text, source_hash, model, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (project_id) DO UPDATE SET text = excluded.text, source_hash = excluded.source_hash, "
                "model = excluded.model, updated_at = excluded.updated_at RETURNING *",
                (project_id, summary.text, summary.source_hash, summary.model, timestamp())).fetchone()
            return dict(row)
