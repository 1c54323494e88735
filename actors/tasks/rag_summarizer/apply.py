"""rag_summarizer's apply: one project's plan written through the platform API.

For the documents to (re)index: their contents (only theirs) from GitHub, chunks, vectors in as
few embedding calls as the API's limits allow, then one upsert per document, each behind the
fencing check. Then the deletions; then, only when every document write of the project went
through, the summary, made from the chunks the platform now holds. Counts everything it does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pydantic import ValidationError

from actors.adapters.embeddings.interface import Embedder
from actors.adapters.github.files import Blob, FileContent
from actors.adapters.platform.client import PlatformAPIError
from actors.tasks.records import Progress, RecordWrites
from actors.tasks.rag_summarizer.chunking import Chunk, Limits, chunk_document
from actors.tasks.rag_summarizer.plan import ProjectPlan, Rules
from contracts.platform import DocumentChunk, DocumentUpsert, SummaryUpsert
from scheduler.logs import get_logger

log = get_logger(__name__)


class Summarizer(Protocol):
    model: str

    async def summarize(self, title: str, documents: list[tuple[str, str]]) -> str: ...


class Contents(Protocol):
    async def content(self, full_name: str, path: str, branch: str, max_bytes: int) -> FileContent | None: ...


@dataclass(frozen=True)
class Ports:
    """What one run writes and reads through, besides GitHub's trees (observe's)."""

    platform: object  # a PlatformClient, or an in-memory one in tests
    files: Contents
    embedder: Embedder
    summarizer: Summarizer
    rules: Rules
    limits: Limits


async def apply_project(plan: ProjectPlan, run: Progress, ports: Ports, writes: RecordWrites | None = None) -> None:
    """``writes``: the run's one ``RecordWrites`` (a failed write is that document's, see there)."""
    writes = writes or RecordWrites(run, "rag_summarizer")
    run.count("documents_too_large", plan.too_large)
    run.count("documents_over_limit", plan.over_limit)
    complete = await _index(plan, run, ports, writes) if plan.index else True
    for path in plan.delete:
        if await writes.write(lambda path=path: _delete(ports.platform, plan.project_id, path), "delete",
                              project=plan.full_name, path=path[:200]):
            run.count("documents_deleted")
    if plan.summary_hash and complete:
        await _summarise(plan, run, ports, writes)
    if not plan.empty:
        log.info("rag_summarizer.project_written", project=plan.full_name, indexed=len(plan.index),
                 deleted=len(plan.delete), summary=bool(plan.summary_hash and complete))


async def _index(plan: ProjectPlan, run: Progress, ports: Ports, writes: RecordWrites) -> bool:
    """Fetch, chunk, embed and upsert ``plan.index``; whether every document was written."""
    fetched: list[tuple[Blob, str, list[Chunk]]] = []
    complete = True
    for blob in plan.index:
        content = await ports.files.content(plan.full_name, blob.path, plan.branch, ports.rules.max_doc_bytes)
        if content is None:
            run.count("documents_unreadable")
            complete = False
            continue
        chunks = chunk_document(blob.path, content.data, ports.limits)
        fetched.append((blob, content.sha, chunks))
    texts = [chunk.embedding_text() for _, _, chunks in fetched for chunk in chunks]
    embedded = await ports.embedder.embed(texts) if texts else None
    run.count("embedding_calls", embedded.requests if embedded else 0)
    run.count("chunks_embedded", len(texts))
    vectors = iter(embedded.vectors if embedded else [])
    for blob, sha, chunks in fetched:
        try:
            document = DocumentUpsert(
                path=blob.path, content_hash=sha, model=ports.rules.model, dimension=ports.rules.dimension,
                chunks=[DocumentChunk(index=c.index, text=c.text, heading=c.heading, embedding=next(vectors))
                        for c in chunks])
        except ValidationError:
            run.count("documents_rejected")
            log.warning("rag_summarizer.document_rejected", project=plan.full_name, path=blob.path[:200])
            complete = False
            continue
        if await writes.write(lambda document=document: ports.platform.put_document(plan.project_id, document),
                              "index", project=plan.full_name, path=blob.path[:200]):
            run.count("documents_indexed")
            run.count("chunks_written", len(chunks))
        else:
            complete = False
    return complete


async def _summarise(plan: ProjectPlan, run: Progress, ports: Ports, writes: RecordWrites) -> None:
    stored = await ports.platform.list_documents(plan.project_id, include_chunks=True)
    documents = [(doc.path, "\n\n".join(chunk.text for chunk in doc.chunks)) for doc in stored
                 if doc.model == ports.rules.model and doc.chunks]
    # documents without text (empty, binary) still get a summary saying so: otherwise it would be
    # planned again every cycle
    text = await ports.summarizer.summarize(plan.full_name, documents) if documents else \
        f"{plan.full_name}: its documents hold no text."
    summary = SummaryUpsert(text=text, source_hash=plan.summary_hash, model=ports.summarizer.model)
    if await writes.write(lambda: ports.platform.put_summary(plan.project_id, summary), "summary",
                          project=plan.full_name):
        run.count("summaries")


async def _delete(platform, project_id: int, path: str) -> None:
    """Delete a document; one already gone is what we wanted."""
    try:
        await platform.delete_document(project_id, path)
    except PlatformAPIError as exc:
        if exc.status != 404:
            raise
