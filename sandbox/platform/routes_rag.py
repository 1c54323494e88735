"""The platform stand-in's RAG routes: ``POST /api/rag/ingest`` and ``POST /api/rag/query``.

Behaviour as observed on the platform (tests/fixtures/platform/README.md, "RAG"):
- ingest reads the raw body: ``X-RAG-Timestamp`` and ``X-RAG-Signature`` missing → 401; a
  timestamp that is no integer → 400; more than 300 s away → 401; the stand-in's secret unset →
  500; a signature without ``sha256=`` → 400; a wrong one → 401. Then: not JSON → 400; not the
  payload's shape → 422 with a string ``detail``; an unknown scope → 400; a user or project that
  is missing → 400, unknown → 404. Each document: an unchanged ``content_hash`` (or, without one,
  the hash of its content) is skipped; otherwise it is chunked (``store_rag.chunk_text``),
  embedded through the OpenAI-compatible endpoint at ``RagConfig.embeddings_url`` (the platform's
  model name and ``dimensions: 512``; each chunk prefixed with its title and source, as the
  platform does) and its chunks replaced. An embedding failure → 500 and nothing of it stored.
- query embeds the text the same way (503 when that fails) and answers the chunks at or above
  ``min_similarity`` within the token budget ``max_tokens`` (the first chunk always; ``truncated``
  says whether one was left out for the budget).
The platform's looser payload is accepted here as it is there (the stand-in mirrors the server;
our client's models are the strict side).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import httpx
from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ValidationError

from contracts.platform import RagIngestResult, RagQueryResult
from sandbox.platform.responses import json_response as _json
from sandbox.platform.schema import timestamp
from sandbox.platform.store import PlatformStore
from sandbox.platform.store_rag import DocumentKey, chunk_text, count_tokens

MAX_SKEW_S = 300
EMBEDDING_MODEL = "openai/text-embedding-3-small"
EMBEDDING_DIMENSIONS = 512
EMBEDDING_BATCH = 100
SCOPES = ("project", "user", "public")


@dataclass
class RagConfig:
    """What the stand-in's RAG needs from outside: its ``RAG_INGEST_SECRET`` (None: unset, every
    ingest is a 500) and the embeddings endpoint's base URL ending in ``/v1`` (None: none, so an
    ingest with content is a 500 and a query a 503, as on a platform without embeddings)."""

    ingest_secret: str | None = None
    embeddings_url: str | None = None
    embeddings_key: str = "sandbox-embeddings-key"


class _Repo(BaseModel):
    full_name: str
    ref: str
    commit_sha: str


class _Document(BaseModel):
    source_type: str
    source_id: str
    source_uri: str | None = None
    scope: str
    path: str | None = None
    title: str | None = None
    content: str
    language: str | None = None
    updated_at: datetime | None = None
    content_hash: str | None = None


class _Ingest(BaseModel):
    event: str | None = None
    project_id: uuid.UUID | None = None
    user_id: int | None = None
    repo: _Repo | None = None
    documents: list[_Document]


class _Query(BaseModel):
    query: str
    user_id: int | None = None
    project_id: uuid.UUID | None = None
    scope: Literal["project", "user", "public"] = "project"
    top_k: int = 5
    max_tokens: int = 2000
    min_similarity: float = 0.7


def verify_signature(headers, body: bytes, secret: str | None, now: float | None = None) -> None:
    """The ingest's signature check, in the platform's order; raises the HTTP error it answers."""
    stamp, signature = headers.get("x-rag-timestamp"), headers.get("x-rag-signature")
    if not stamp or not signature:
        raise HTTPException(401, "Missing RAG signature headers")
    try:
        sent = int(stamp)
    except ValueError:
        raise HTTPException(400, "Invalid X-RAG-Timestamp") from None
    if abs(int(time.time() if now is None else now) - sent) > MAX_SKEW_S:
        raise HTTPException(401, "RAG signature timestamp out of range")
    if not secret:
        raise HTTPException(500, "RAG_INGEST_SECRET is not set")
    if not signature.startswith("sha256="):
        raise HTTPException(400, "Invalid X-RAG-Signature format")
    expected = hmac.new(secret.encode(), f"{sent}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.removeprefix("sha256=")):
        raise HTTPException(401, "Invalid RAG signature")


async def embed(config: RagConfig, texts: list[str]) -> list[list[float]]:
    """Vectors from the embeddings endpoint, as the platform asks for them; raises on any failure."""
    if not config.embeddings_url:
        raise RuntimeError("no embeddings endpoint configured")
    vectors: list[list[float]] = []
    async with httpx.AsyncClient(timeout=30.0) as client:
        for start in range(0, len(texts), EMBEDDING_BATCH):
            batch = texts[start : start + EMBEDDING_BATCH]
            response = await client.post(
                f"{config.embeddings_url.rstrip('/')}/embeddings",
                json={"model": EMBEDDING_MODEL, "input": batch, "dimensions": EMBEDDING_DIMENSIONS},
                headers={"Authorization": f"Bearer {config.embeddings_key}"},
            )
            response.raise_for_status()
            data = sorted(response.json()["data"], key=lambda item: item["index"])
            vectors += [item["embedding"] for item in data]
    if len(vectors) != len(texts) or any(len(v) != EMBEDDING_DIMENSIONS for v in vectors):
        raise RuntimeError("the embeddings endpoint answered an incomplete result")
    return vectors


def _hash(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def add_rag_routes(r: APIRouter, store: PlatformStore, config: RagConfig) -> None:

    @r.post("/rag/ingest", response_model=RagIngestResult)
    async def ingest(request: Request):
        body = await request.body()
        verify_signature(request.headers, body, config.ingest_secret)
        try:
            raw = json.loads(body)
        except ValueError as exc:
            raise HTTPException(400, f"Invalid JSON payload: {exc}") from None
        try:
            payload = _Ingest.model_validate(raw)
        except ValidationError as exc:
            raise HTTPException(422, f"Invalid payload schema: {exc}") from None
        scopes = set()
        for document in payload.documents:
            if document.scope not in SCOPES:
                raise HTTPException(400, f"Invalid scope: {document.scope}")
            scopes.add(document.scope)
        project_id = str(payload.project_id) if payload.project_id else None
        if scopes - {"public"} and payload.user_id is None:
            raise HTTPException(400, "user_id is required for non-public scope")
        if "project" in scopes and project_id is None:
            raise HTTPException(400, "project_id is required for project scope")
        project_ok, user_ok = store.rag_targets_exist(
            project_id if "project" in scopes else None, payload.user_id if scopes - {"public"} else None
        )
        if not user_ok:
            raise HTTPException(404, f"user_id {payload.user_id} not found")
        if not project_ok:
            raise HTTPException(404, f"project_id {project_id} not found")
        indexed = skipped = 0
        for document in payload.documents:
            public = document.scope == "public"
            key = DocumentKey(
                None if public else payload.user_id,
                None if public else project_id,
                document.scope,
                document.source_type,
                document.source_id,
            )
            incoming = document.content_hash or _hash(document.content)
            exists, stored = store.rag_source_hash(key)
            if exists and stored == incoming:
                skipped += 1
                continue
            title = document.title or document.path or document.source_id
            chunks = chunk_text(document.content)
            try:
                vectors = (
                    await embed(config, [f"Title: {title}\nSource: {document.source_id}\n\n{c}" for c in chunks])
                    if chunks
                    else []
                )
            except (httpx.HTTPError, RuntimeError, ValueError, KeyError, TypeError):
                raise HTTPException(500, "Failed to ingest documents") from None
            store.rag_replace_document(
                key,
                {
                    "source_uri": document.source_uri,
                    "source_hash": incoming,
                    "language": document.language,
                    "source_updated_at": timestamp(document.updated_at) if document.updated_at else None,
                    "title": title,
                    "body": document.content,
                },
                [(c, count_tokens(c), v) for c, v in zip(chunks, vectors, strict=True)],
                EMBEDDING_MODEL,
            )
            indexed += 1
        return _json(
            {"documents_received": len(payload.documents), "documents_indexed": indexed, "documents_skipped": skipped}
        )

    @r.post("/rag/query", response_model=RagQueryResult)
    async def query(request: _Query):
        if request.scope == "project" and not request.project_id:
            raise HTTPException(400, "project_id is required for project scope")
        if request.scope in ("project", "user") and not request.user_id:
            raise HTTPException(400, "user_id is required for non-public scope")
        try:
            vector = (await embed(config, [request.query]))[0]
        except (httpx.HTTPError, RuntimeError, ValueError, KeyError, TypeError):
            raise HTTPException(503, "Embedding service unavailable") from None
        found = store.rag_search(
            vector,
            scope=request.scope,
            user_id=request.user_id,
            project_id=str(request.project_id) if request.project_id else None,
            top_k=request.top_k,
            min_similarity=request.min_similarity,
        )
        results, total, truncated = [], 0, False
        for hit in found:
            tokens = hit["token_count"] or 0
            if results and total + tokens > request.max_tokens:
                truncated = True
                break
            results.append(hit)
            total += tokens
        return _json({"query": request.query, "results": results, "total_tokens": total, "truncated": truncated})
