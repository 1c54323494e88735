"""In-memory stand-ins for what rag_summarizer reads and writes, so that its plans are applied with
the task's own observe and apply code: a platform holding documents and summaries, a GitHub of
repositories (path -> bytes, blob shas as git computes them), an embedder and a summariser."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from actors.adapters.embeddings.interface import Embedded, unit
from actors.adapters.github.files import Blob, FileContent, RepoTree
from actors.adapters.platform.client import Listing
from actors.tasks.rag_summarizer.apply import Ports
from actors.tasks.rag_summarizer.chunking import Limits
from actors.tasks.rag_summarizer.plan import Rules
from actors.tasks.rag_summarizer.settings import RagSettings
from actors.tasks.rag_summarizer.task import reconcile
from contracts.platform import DocumentUpsert, Project, ProjectDocument, ProjectStatus, ProjectSummary, SummaryUpsert

from tests.support import FakeRun

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def project(project_id: int, status: ProjectStatus = ProjectStatus.ACTIVE, name: str | None = None) -> Project:
    name = name or f"repo-{project_id}"
    return Project(id=project_id, name=name, full_name=f"acme/{name}", github_repo_id=project_id,
                   html_url=f"https://github.com/acme/{name}", status=status, created_at=T0, updated_at=T0)


class FakeFiles:
    """GitHub's trees and contents of ``repos`` (full name -> path -> bytes)."""

    def __init__(self, repos: dict[str, dict[str, bytes]]):
        self.repos, self.content_reads, self.unreadable = repos, 0, set()

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
    def __init__(self, projects: list[Project]):
        self.projects = {p.id: p for p in projects}
        self.documents: dict[int, dict[str, DocumentUpsert]] = {}
        self.summaries: dict[int, SummaryUpsert] = {}
        self.writes = Counter()

    async def list_projects(self) -> Listing[Project]:
        return Listing(list(self.projects.values()))

    async def list_documents(self, project_id: int, *, include_chunks: bool = False) -> Listing[ProjectDocument]:
        return Listing([ProjectDocument(path=d.path, content_hash=d.content_hash, updated_at=T0, model=d.model,
                                        dimension=d.dimension, chunk_count=len(d.chunks),
                                        chunks=d.chunks if include_chunks else [])
                        for d in sorted(self.documents.get(project_id, {}).values(), key=lambda d: d.path)])

    async def put_document(self, project_id: int, document: DocumentUpsert) -> None:
        self.documents.setdefault(project_id, {})[document.path] = document
        self.writes["put_document"] += 1

    async def delete_document(self, project_id: int, path: str) -> None:
        del self.documents[project_id][path]
        self.writes["delete_document"] += 1

    async def get_summary(self, project_id: int) -> ProjectSummary | None:
        summary = self.summaries.get(project_id)
        return summary and ProjectSummary(project_id=project_id, updated_at=T0, **summary.model_dump())

    async def put_summary(self, project_id: int, summary: SummaryUpsert) -> None:
        self.summaries[project_id] = summary
        self.writes["put_summary"] += 1


class FakeEmbedder:
    """Vectors from the text's hash: deterministic, of ``size`` numbers; counts what it embeds."""

    def __init__(self, model: str = "fake-embedder", size: int = 8):
        self.model, self.size, self.texts, self.calls = model, size, 0, 0

    async def dimension(self) -> int:
        return self.size

    async def embed(self, texts) -> Embedded:
        self.calls += 1
        self.texts += len(texts)
        return Embedded([unit([b - 127.5 for b in hashlib.sha256(t.encode()).digest()[:self.size]]) for t in texts], 1)


class FakeSummarizer:
    model = "fake-summarizer"

    async def summarize(self, title: str, documents) -> str:
        return f"{title}: " + ", ".join(path for path, _ in documents)


@dataclass
class World:
    """The platform and GitHub in memory; ``cycle()`` runs the task's reconcile once over them."""

    platform: FakePlatform
    files: FakeFiles
    embedder: FakeEmbedder = field(default_factory=FakeEmbedder)
    settings: RagSettings = field(default_factory=RagSettings)

    def ports(self) -> Ports:
        rules = Rules(self.embedder.model, self.embedder.size, FakeSummarizer.model,
                      self.settings.rag_max_doc_bytes, self.settings.rag_max_docs_per_project)
        return Ports(self.platform, self.files, self.embedder, FakeSummarizer(), rules, Limits(300, 50))

    async def cycle(self) -> Counter:
        run = FakeRun()
        await reconcile(list(self.platform.projects.values()), run, self.ports(), self.files, self.settings.documents)
        return run.counters
