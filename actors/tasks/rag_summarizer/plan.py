"""rag_summarizer's plan: a pure function from what was observed of one project to the writes
that make its documents, chunks and summary match its repository. No I/O; every rule lives here.

- a project ``discovered`` or ``active``: its documents are the tree's blobs that match
  ``RAG_DOC_GLOBS`` (``DocumentGlobs``), at most ``max_doc_bytes`` each (larger ones are left out,
  counted) and the first ``max_docs`` by path;
- a document is (re)indexed when the platform holds no such path, another blob sha
  (``content_hash``), or vectors of another embedding model or dimension: switching the embedder
  re-indexes everything, and vectors of two models are never mixed in one document;
- a document the platform holds that is no longer one (removed, renamed, too large now) is deleted,
  but only after a complete tree: a tree read in part takes nothing for gone;
- a project ``archived`` or ``missing``: every document it still has is deleted;
- a project whose tree could not be read now (rate-limit budget, branch not found): nothing;
- the summary is made again when the sources it was made from changed: ``summary_hash`` of the
  documents' (path, sha) and the summariser's model differs from the stored ``source_hash``.
  Never after a partial tree, never for a project without documents. An unchanged project plans
  nothing at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from actors.adapters.github.files import Blob, RepoTree
from contracts.platform import ProjectDocument, ProjectStatus

INDEXED_STATUSES = frozenset({ProjectStatus.DRAFT, ProjectStatus.ACTIVE, ProjectStatus.PAUSED})
CLEARED_STATUSES = frozenset({ProjectStatus.ARCHIVED})


@dataclass(frozen=True)
class Rules:
    model: str  # the embedder's: stored beside every vector
    dimension: int
    summarizer: str  # the summariser's model
    max_doc_bytes: int = 200_000
    max_docs: int = 50


@dataclass(frozen=True)
class Observed:
    """One project as observed: its record, its tree (None: not read now), what the platform holds."""

    project_id: int
    full_name: str
    branch: str
    status: ProjectStatus
    tree: RepoTree | None
    documents: Sequence[ProjectDocument]
    summary_hash: str | None = None


@dataclass(frozen=True)
class ProjectPlan:
    project_id: int
    full_name: str
    branch: str
    index: tuple[Blob, ...] = ()
    delete: tuple[str, ...] = ()
    #: set: make the summary again, from these sources
    summary_hash: str | None = None
    too_large: int = 0
    over_limit: int = 0

    @property
    def empty(self) -> bool:
        return not (self.index or self.delete or self.summary_hash)


def summary_hash(documents: Iterable[Blob], summarizer: str) -> str:
    """What a summary is made from: the documents' paths and blob shas, and the summariser."""
    lines = [summarizer] + sorted(f"{blob.path}\0{blob.sha}" for blob in documents)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def documents_of(tree: RepoTree, rules: Rules) -> tuple[list[Blob], int, int]:
    """(the documents indexed, how many were too large, how many beyond ``max_docs``)."""
    fitting = sorted((b for b in tree.blobs if b.size <= rules.max_doc_bytes), key=lambda b: b.path)
    too_large = len(tree.blobs) - len(fitting)
    return fitting[:rules.max_docs], too_large, max(0, len(fitting) - rules.max_docs)


def is_current(stored: ProjectDocument | None, blob: Blob, rules: Rules) -> bool:
    return (stored is not None and stored.content_hash == blob.sha and stored.model == rules.model
            and stored.dimension == rules.dimension)


def plan_project(observed: Observed, rules: Rules) -> ProjectPlan:
    base = ProjectPlan(observed.project_id, observed.full_name, observed.branch)
    stored = {doc.path: doc for doc in observed.documents}
    if observed.status in CLEARED_STATUSES:
        return ProjectPlan(**{**base.__dict__, "delete": tuple(sorted(stored))})
    if observed.status not in INDEXED_STATUSES or observed.tree is None:
        return base
    documents, too_large, over_limit = documents_of(observed.tree, rules)
    index = tuple(blob for blob in documents if not is_current(stored.get(blob.path), blob, rules))
    delete: tuple[str, ...] = ()
    wanted_summary = None
    if observed.tree.complete:
        kept = {blob.path for blob in documents}
        delete = tuple(sorted(path for path in stored if path not in kept))
        if documents:
            wanted = summary_hash(documents, rules.summarizer)
            wanted_summary = wanted if wanted != observed.summary_hash else None
    return ProjectPlan(observed.project_id, observed.full_name, observed.branch, index, delete, wanted_summary,
                       too_large, over_limit)
