"""rag_summarizer's apply: one project's plan sent to the platform's RAG ingest.

For each document to send: its content (only its) from GitHub, then one signed ingest of that
document for the project's UUID and its owner (the platform chunks and embeds it), behind the
fencing check. The memory marks it ``UNCONFIRMED`` before the ingest, so a lost answer or a
crash still leaves the path known (sent again, or emptied once the project is archived); once the
platform took it, the memory says so (path -> blob sha), so it is not sent again. Then the
documents gone, each sent with empty content (the memory forgets them).
Then, only when every document of the project went through, the summary, as a document of its
own (``SUMMARY_SOURCE_TYPE``). Counts everything it does.

After a rename (``plan.sent_under``) the documents and summary sent under the old name are emptied
first, under that name, each forgotten as it goes through; once all are, the memory takes the new
name (``NAME``) and the documents are sent under it; else it keeps the old one, nothing is sent
under the new name, and the next run empties what is left.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Protocol

from pydantic import ValidationError

from actors.adapters.github.files import FileContent
from actors.tasks.rag_summarizer.plan import NAME, SUMMARY, UNCONFIRMED, ProjectPlan, Rules
from actors.tasks.rag_summarizer.text import decode, source_id, source_uri, title_of
from actors.tasks.records import Progress, RecordWrites
from contracts.counters import REJECTED
from contracts.platform import RagDocument, RagIngest, RagIngestResult, content_hash
from process.logs import get_logger

log = get_logger(__name__)

DOCUMENT_SOURCE_TYPE = "repository_doc"
SUMMARY_SOURCE_TYPE = "project_summary"


class Summarizer(Protocol):
    model: str

    async def summarize(self, title: str, documents: list[tuple[str, str]]) -> str: ...


class Contents(Protocol):
    async def content(self, full_name: str, path: str, branch: str, max_bytes: int) -> FileContent | None: ...


class Ingest(Protocol):
    async def ingest(self, request: RagIngest) -> RagIngestResult: ...


class Deps(Protocol):
    """What apply uses of the run's dependencies (``actors.tasks.deps.Dependencies``)."""

    @property
    def platform(self) -> Ingest: ...

    @property
    def summarizer(self) -> Summarizer | None: ...


class Run(Progress, Protocol):
    deps: Deps


class Memory(Protocol):
    """What was sent per project: ``remember(project, field, value)``; a None value forgets."""

    async def remember(self, project_id: uuid.UUID, field: str, value: str | None) -> None: ...


def document(plan: ProjectPlan, path: str, text: str) -> RagDocument:
    return RagDocument(
        source_type=DOCUMENT_SOURCE_TYPE,
        source_id=source_id(plan.full_name, path),
        source_uri=source_uri(plan.git_url, path),
        path=path,
        title=title_of(text, path),
        content=text,
        content_hash=content_hash(text),
    )


def summary_document(plan: ProjectPlan, text: str) -> RagDocument:
    return RagDocument(
        source_type=SUMMARY_SOURCE_TYPE,
        source_id=f"{plan.full_name}:summary",
        title=f"Summary of {plan.full_name}",
        content=text,
        content_hash=content_hash(text),
    )


async def apply_project(
    plan: ProjectPlan, run: Run, files: Contents, memory: Memory, rules: Rules, writes: RecordWrites | None = None
) -> None:
    """``writes``: the run's one ``RecordWrites`` (a failed write is that document's, see there).
    The platform and the summarizer are the run's (``run.deps``); ``files`` its reads of GitHub."""
    writes = writes or RecordWrites(run, "rag_summarizer")
    run.count("documents_too_large", plan.too_large)
    run.count("documents_over_limit", plan.over_limit)
    if plan.sent_under is not None:
        if not await _empty_old_name(plan, run, memory, writes):
            return  # nothing under the new name until the old is gone: the memory holds one name's
    elif plan.record_name or plan.forget_name:  # before anything is sent: a crash in between leaves it true
        await memory.remember(plan.project_id, NAME, plan.full_name if plan.record_name else None)
    complete = True
    for blob in plan.ingest:
        content = await files.content(plan.full_name, blob.path, "", rules.max_doc_bytes)
        if content is None:
            run.count("documents_unreadable")
            complete = False
            continue
        text = decode(content.data)
        if text is None:
            run.count("documents_binary")  # sent empty: nothing of it is searched
        if not await _send(plan, run, memory, writes, blob.path, text or "", content.sha):
            complete = False
    for path in plan.empty if plan.sent_under is None else ():
        if await _send(plan, run, memory, writes, path, "", None):
            run.count("documents_emptied")
    if plan.summary_hash and complete and run.deps.summarizer is not None:
        await _summarise(plan, run, files, memory, rules, writes)
    elif plan.empty_summary and plan.sent_under is None:
        if await _ingest(plan, run, writes, summary_document(plan, ""), "summary"):
            await memory.remember(plan.project_id, SUMMARY, None)
            run.count("summaries_emptied")
    if not plan.nothing:
        log.info(
            "rag_summarizer.project_sent",
            project=plan.full_name,
            sent=len(plan.ingest),
            emptied=len(plan.empty),
            summary=bool(plan.summary_hash and complete),
        )


async def _empty_old_name(plan: ProjectPlan, run: Run, memory: Memory, writes: RecordWrites) -> bool:
    """Everything sent under the name before a rename, emptied under that name; then the new name
    remembered (or none, where nothing is to be held), only if all of it went through (returned).
    Until then nothing is sent under the new name, so what the memory holds was all sent under the
    name it says: were the project archived meanwhile, all of it is emptied under the right name."""
    assert plan.sent_under is not None
    old = replace(plan, full_name=plan.sent_under)
    cleared = True
    for path in plan.empty:
        if await _send(old, run, memory, writes, path, "", None):
            run.count("documents_emptied")
        else:
            cleared = False
    if plan.empty_summary:
        if await _ingest(old, run, writes, summary_document(old, ""), "summary"):
            await memory.remember(plan.project_id, SUMMARY, None)
            run.count("summaries_emptied")
        else:
            cleared = False
    if cleared:
        await memory.remember(plan.project_id, NAME, plan.full_name if plan.record_name else None)
        run.count("renamed")
    return cleared


async def _send(
    plan: ProjectPlan, run: Run, memory: Memory, writes: RecordWrites, path: str, text: str, sha: str | None
) -> bool:
    """Ingest one document; remember its sha (None: forget the path). Whether it went through."""
    try:
        doc = document(plan, path, text)
    except ValidationError:
        run.count(REJECTED)
        log.warning("rag_summarizer.document_rejected", project=plan.full_name, path=path[:200])
        return False
    if sha is not None:
        await memory.remember(plan.project_id, path, UNCONFIRMED)
    if not await _ingest(plan, run, writes, doc, "document"):
        return False
    await memory.remember(plan.project_id, path, sha)
    return True


async def _ingest(plan: ProjectPlan, run: Run, writes: RecordWrites, doc: RagDocument, what: str) -> bool:
    request = RagIngest(project_id=plan.project_id, user_id=plan.owner_id, documents=[doc])
    answers: list[RagIngestResult] = []

    async def call() -> None:
        answers.append(await run.deps.platform.ingest(request))

    if not await writes.write(call, f"ingest_{what}", project=plan.full_name, source_id=doc.source_id[:200]):
        return False
    run.count("ingests")
    run.count("documents_indexed", answers[0].documents_indexed)
    run.count("documents_skipped", answers[0].documents_skipped)
    return True


async def _summarise(
    plan: ProjectPlan, run: Run, files: Contents, memory: Memory, rules: Rules, writes: RecordWrites
) -> None:
    """The summary from every document's text (contents are kept a day with their ETag, so the
    unchanged ones cost a 304); sent only when each was read."""
    summarizer = run.deps.summarizer
    assert summarizer is not None and plan.summary_hash is not None
    texts: list[tuple[str, str]] = []
    for blob in plan.documents:
        content = await files.content(plan.full_name, blob.path, "", rules.max_doc_bytes)
        if content is None:
            run.count("documents_unreadable")
            return
        if text := decode(content.data):
            texts.append((blob.path, text))
    summary = (
        await summarizer.summarize(plan.full_name, texts) if texts else f"{plan.full_name}: its documents hold no text."
    )
    try:
        doc = summary_document(plan, summary)
    except ValidationError:
        run.count(REJECTED)
        return
    await memory.remember(plan.project_id, SUMMARY, UNCONFIRMED)
    if await _ingest(plan, run, writes, doc, "summary"):
        await memory.remember(plan.project_id, SUMMARY, plan.summary_hash)
        run.count("summaries")
