"""In-memory stand-ins for what rag_summarizer reads and writes, so that its plans are applied with
the task's own observe and apply code: a platform's RAG ingest (documents keyed as the platform
keys them, unchanged hashes skipped, empty content leaving no chunk), the task's memory, a GitHub
of repositories (path -> bytes, blob shas as git computes them) and a summariser."""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace

from actors.adapters.github.files import Blob, FileContent, RepoTree
from actors.adapters.platform.client import PlatformAPIError
from actors.tasks.rag_summarizer.plan import Rules
from actors.tasks.rag_summarizer.settings import RagSummarizerSettings
from actors.tasks.rag_summarizer.task import reconcile
from contracts.platform import Project, ProjectStatus, RagIngest, RagIngestResult, Repository
from tests.support import FakeRun

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
OWNER = 7


def blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def project(
    n: int, status: ProjectStatus = ProjectStatus.ACTIVE, name: str | None = None
) -> tuple[Project, Repository, str]:
    name = name or f"repo-{n}"
    pid = uuid.UUID(int=n)
    record = Project(id=pid, title=name, slug=name, status=status, owner_id=OWNER, created_at=T0)
    repository = Repository(
        id=f"repo-{n:08x}",
        project_id=pid,
        name=name,
        git_url=f"https://github.com/acme/{name}.git",
        provider_repo_id=n,
        role="primary",
        visibility="private",
        is_managed=True,
        created_at=T0,
    )
    return record, repository, f"acme/{name}"


class FakeFiles:
    """GitHub's trees and contents of ``repos`` (full name -> path -> bytes)."""

    def __init__(self, repos: dict[str, dict[str, bytes]]):
        self.repos, self.content_reads, self.unreadable = repos, 0, set()
        self.org = "acme"

    async def tree(self, full_name: str, branch: str, documents) -> RepoTree | None:
        files = self.repos.get(full_name)
        if files is None:
            return None
        blobs = [Blob(path, blob_sha(data), len(data)) for path, data in files.items() if documents.wanted(path)]
        return RepoTree(tuple(sorted(blobs, key=lambda b: b.path)), complete=True)

    async def content(self, full_name: str, path: str, branch: str, max_bytes: int) -> FileContent | None:
        self.content_reads += 1
        data = self.repos.get(full_name, {}).get(path)
        if data is None or path in self.unreadable:
            return None
        return FileContent(blob_sha(data), data)


class FakePlatform:
    """The RAG ingest as the platform does it: (user, project, scope, source_type, source_id) ->
    (hash, content); an unchanged hash is skipped; ``fail`` holds source ids refused with a 422."""

    def __init__(self):
        self.documents: dict[tuple, tuple[str, str]] = {}
        self.requests = 0
        self.fail: set[str] = set()

    async def ingest(self, request: RagIngest) -> RagIngestResult:
        self.requests += 1
        indexed = skipped = 0
        for doc in request.documents:
            if doc.source_id in self.fail:
                raise PlatformAPIError(422, "POST", "/api/rag/ingest", '{"detail": "refused"}')
            key = (request.user_id, request.project_id, doc.scope.value, doc.source_type, doc.source_id)
            if key in self.documents and self.documents[key][0] == doc.content_hash:
                skipped += 1
                continue
            self.documents[key] = (doc.content_hash, doc.content)
            indexed += 1
        return RagIngestResult(
            documents_received=len(request.documents), documents_indexed=indexed, documents_skipped=skipped
        )

    def searchable(self, project_id: uuid.UUID) -> dict[str, str]:
        """source_id -> content of the project's documents that have content (chunks)."""
        return {key[4]: content for key, (_, content) in self.documents.items() if key[1] == project_id and content}


class FakeMemory:
    def __init__(self):
        self.data: dict[uuid.UUID, dict[str, str]] = {}

    async def sent(self, project_id: uuid.UUID) -> dict[str, str]:
        return dict(self.data.get(project_id, {}))

    async def remember(self, project_id: uuid.UUID, field: str, value: str | None) -> None:
        if value is None:
            self.data.get(project_id, {}).pop(field, None)
        else:
            self.data.setdefault(project_id, {})[field] = value


class FakeSummarizer:
    model = "fake-summarizer"

    async def summarize(self, title: str, documents) -> str:
        return f"{title}: " + ", ".join(path for path, _ in documents)


@dataclass
class World:
    """The platform and GitHub in memory; ``cycle()`` runs the task's reconcile once over them."""

    projects: list[tuple[Project, Repository, str]]
    files: FakeFiles
    platform: FakePlatform = field(default_factory=FakePlatform)
    memory: FakeMemory = field(default_factory=FakeMemory)
    settings: RagSummarizerSettings = field(default_factory=RagSummarizerSettings)
    summaries: bool = True

    def summarizer(self) -> FakeSummarizer | None:
        return FakeSummarizer() if self.summaries else None

    def rules(self) -> Rules:
        summarizer = self.summarizer()
        return Rules(
            summarizer.model if summarizer else None,
            self.settings.rag_max_doc_bytes,
            self.settings.rag_max_docs_per_project,
        )

    async def cycle(self) -> Counter:
        """One run's reconcile, its dependencies (``run.deps``) the fakes of this world."""
        run = FakeRun(SimpleNamespace(platform=self.platform, summarizer=self.summarizer()))
        await reconcile(self.projects, run, self.files, self.memory, self.rules(), self.settings.documents)
        return run.counters
