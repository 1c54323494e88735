"""rag_summarizer's plan: a pure function from what was observed of one project to the documents
to send to the platform's RAG ingest. No I/O; every rule lives here.

The platform has no route that lists what it holds, so what was sent is remembered
(``Observed.sent``: path -> the blob sha whose content the platform accepted, and ``SUMMARY``
-> the summary's source hash), and the plan compares the repository with that memory:
- a project ``draft``, ``active`` or ``paused`` with a primary repository: its documents are the
  tree's blobs that match ``RAG_DOC_GLOBS`` (``DocumentGlobs``), at most ``max_doc_bytes`` each
  (larger ones are left out, counted) and the first ``max_docs`` by path;
- a document is sent when nothing was sent for its path or another blob sha was: an unchanged
  document is never sent (nor its content read);
- a document sent before and no longer one (removed, renamed, too large now) is sent again with
  empty content, which leaves it on the platform without chunks, so it is no longer found (the
  platform has no delete) — only after a complete tree: a tree read in part takes nothing for gone;
- a project ``archived``: every document sent for it is emptied, its summary too;
- a project whose tree could not be read now (rate-limit budget, no such branch): nothing;
- where summaries are configured (``Rules.summarizer``), the summary is made again when the
  sources it was made from changed: ``summary_hash`` of the documents' (path, sha) and the
  summariser's model differs from the remembered one; only after a complete tree; a project left
  without documents has its summary emptied. An unchanged project plans nothing at all.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from actors.adapters.github.files import Blob, RepoTree
from contracts.platform import ProjectStatus

INDEXED_STATUSES = frozenset({ProjectStatus.DRAFT, ProjectStatus.ACTIVE, ProjectStatus.PAUSED})
CLEARED_STATUSES = frozenset({ProjectStatus.ARCHIVED})
#: the memory's field for the summary (a path never starts with "/")
SUMMARY = "/summary"


@dataclass(frozen=True)
class Rules:
    #: the summariser's model; None: summaries are not configured (none made, none emptied)
    summarizer: str | None = None
    max_doc_bytes: int = 200_000
    max_docs: int = 50


@dataclass(frozen=True)
class Observed:
    """One project as observed: its record, its repository's tree (None: not read now), and
    what was sent for it (path -> blob sha; ``SUMMARY`` -> the summary's source hash)."""

    project_id: uuid.UUID
    owner_id: int
    full_name: str
    git_url: str
    status: ProjectStatus
    tree: RepoTree | None
    sent: Mapping[str, str]


@dataclass(frozen=True)
class ProjectPlan:
    project_id: uuid.UUID
    owner_id: int
    full_name: str
    git_url: str
    #: documents to send with their content
    ingest: tuple[Blob, ...] = ()
    #: paths to send with empty content
    empty: tuple[str, ...] = ()
    #: set: make the summary again, from these sources (every document of the project)
    summary_hash: str | None = None
    documents: tuple[Blob, ...] = ()
    empty_summary: bool = False
    too_large: int = 0
    over_limit: int = 0

    @property
    def nothing(self) -> bool:
        return not (self.ingest or self.empty or self.summary_hash or self.empty_summary)


def summary_hash(documents: Iterable[Blob], summarizer: str) -> str:
    """What a summary is made from: the documents' paths and blob shas, and the summariser."""
    lines = [summarizer] + sorted(f"{blob.path}\0{blob.sha}" for blob in documents)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def documents_of(tree: RepoTree, rules: Rules) -> tuple[list[Blob], int, int]:
    """(the documents indexed, how many were too large, how many beyond ``max_docs``)."""
    fitting = sorted((b for b in tree.blobs if b.size <= rules.max_doc_bytes), key=lambda b: b.path)
    too_large = len(tree.blobs) - len(fitting)
    return fitting[:rules.max_docs], too_large, max(0, len(fitting) - rules.max_docs)


def plan_project(observed: Observed, rules: Rules) -> ProjectPlan:
    base = dict(project_id=observed.project_id, owner_id=observed.owner_id, full_name=observed.full_name,
                git_url=observed.git_url)
    sent_paths = sorted(path for path in observed.sent if path != SUMMARY)
    if observed.status in CLEARED_STATUSES:
        return ProjectPlan(**base, empty=tuple(sent_paths), empty_summary=SUMMARY in observed.sent)
    if observed.status not in INDEXED_STATUSES or observed.tree is None:
        return ProjectPlan(**base)
    documents, too_large, over_limit = documents_of(observed.tree, rules)
    ingest = tuple(blob for blob in documents if observed.sent.get(blob.path) != blob.sha)
    empty: tuple[str, ...] = ()
    wanted_summary, empty_summary = None, False
    if observed.tree.complete:
        kept = {blob.path for blob in documents}
        empty = tuple(path for path in sent_paths if path not in kept)
        if not documents:
            empty_summary = SUMMARY in observed.sent
        elif rules.summarizer is not None:
            wanted = summary_hash(documents, rules.summarizer)
            wanted_summary = wanted if wanted != observed.sent.get(SUMMARY) else None
    return ProjectPlan(**base, ingest=ingest, empty=empty, summary_hash=wanted_summary,
                       documents=tuple(documents) if wanted_summary else (), empty_summary=empty_summary,
                       too_large=too_large, over_limit=over_limit)
