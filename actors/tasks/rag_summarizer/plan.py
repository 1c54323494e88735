"""rag_summarizer's plan: a pure function from what was observed of one project to the documents
to send to the platform's RAG ingest. No I/O; every rule lives here.

The platform has no route that lists what it holds, so what was sent is remembered
(``Observed.sent``: path -> the blob sha whose content the platform accepted, and ``SUMMARY``
-> the summary's source hash; ``UNCONFIRMED`` for one sent whose answer never came), and the plan
compares the repository with that memory:
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
  without documents has its summary emptied. An unchanged project plans nothing at all;
- a document's ``source_id`` names its repository (``<owner>/<repo>:<path>``), so the memory keeps
  the name they were sent under (``NAME``). When the repository is renamed, every document and
  the summary sent under the old name are emptied under that name (whatever the tree and the
  project's status), and the repository's documents are sent again under the new one: otherwise
  the old ones stay searchable, and a later edit would be found twice, stale and new. A memory
  written before the name was kept (no ``NAME``) is taken for the current name, and the name is
  recorded (in the memory only) while it holds anything; an archived project's memory is emptied,
  its name with it.
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
#: the memory's field for the ``owner/name`` the remembered documents and summary were sent under
NAME = "/name"
#: what the memory holds for a document or summary while its ingest is under way: the platform may
#: take it and the answer be lost, or the worker die before the answer comes. It matches no sha,
#: so the next run sends it again, and an archived project's plan empties it like any other.
UNCONFIRMED = "?"


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
    #: set after a rename: the ``owner/name`` that ``empty`` and ``empty_summary`` are sent under
    #: (every document and summary remembered, all of them sent under that name)
    sent_under: str | None = None
    #: the memory is to say ``full_name`` (its ``NAME`` is absent or another), as it will hold
    #: what is sent under it
    record_name: bool = False
    #: an archived project's memory is emptied, its name too
    forget_name: bool = False

    @property
    def nothing(self) -> bool:
        return not (
            self.ingest
            or self.empty
            or self.summary_hash
            or self.empty_summary
            or self.sent_under
            or self.record_name
            or self.forget_name
        )


def summary_hash(documents: Iterable[Blob], summarizer: str) -> str:
    """What a summary is made from: the documents' paths and blob shas, and the summariser."""
    lines = [summarizer] + sorted(f"{blob.path}\0{blob.sha}" for blob in documents)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def documents_of(tree: RepoTree, rules: Rules) -> tuple[list[Blob], int, int]:
    """(the documents indexed, how many were too large, how many beyond ``max_docs``)."""
    fitting = sorted((b for b in tree.blobs if b.size <= rules.max_doc_bytes), key=lambda b: b.path)
    too_large = len(tree.blobs) - len(fitting)
    return fitting[: rules.max_docs], too_large, max(0, len(fitting) - rules.max_docs)


def plan_project(observed: Observed, rules: Rules) -> ProjectPlan:
    base = dict(
        project_id=observed.project_id,
        owner_id=observed.owner_id,
        full_name=observed.full_name,
        git_url=observed.git_url,
    )
    sent_paths = sorted(path for path in observed.sent if path not in (SUMMARY, NAME))
    under = observed.sent.get(NAME, observed.full_name)
    renamed = under != observed.full_name
    cleared = observed.status in CLEARED_STATUSES
    # once the old name's are emptied, nothing is remembered: all is sent again under the new one
    sent: Mapping[str, str] = {} if renamed else observed.sent
    # the memory is to say the current name whenever it will hold anything (an archived project's is emptied)
    unrecorded = NAME not in observed.sent or renamed
    holds = bool(sent_paths or SUMMARY in observed.sent) and not renamed
    if renamed:
        base |= dict(sent_under=under, empty=tuple(sent_paths), empty_summary=SUMMARY in observed.sent)
    if cleared:
        if not renamed:
            base |= dict(
                empty=tuple(sent_paths), empty_summary=SUMMARY in observed.sent, forget_name=NAME in observed.sent
            )
        return ProjectPlan(**base)
    if observed.status not in INDEXED_STATUSES or observed.tree is None:
        return ProjectPlan(**base, record_name=unrecorded and (holds or renamed))
    documents, too_large, over_limit = documents_of(observed.tree, rules)
    ingest = tuple(blob for blob in documents if sent.get(blob.path) != blob.sha)
    wanted_summary = None
    if observed.tree.complete:
        if not renamed:
            kept = {blob.path for blob in documents}
            base |= dict(
                empty=tuple(path for path in sent_paths if path not in kept),
                empty_summary=not documents and SUMMARY in sent,
            )
        if documents and rules.summarizer is not None:
            wanted = summary_hash(documents, rules.summarizer)
            wanted_summary = wanted if wanted != sent.get(SUMMARY) else None
    return ProjectPlan(
        **base,
        ingest=ingest,
        summary_hash=wanted_summary,
        documents=tuple(documents) if wanted_summary else (),
        too_large=too_large,
        over_limit=over_limit,
        record_name=unrecorded and (holds or renamed or bool(ingest or wanted_summary)),
    )
