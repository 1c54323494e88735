"""In-memory stand-ins for what rag_summarizer reads and writes, so that its plans are applied with
the task's own observe and apply code: the task's memory, a GitHub of repositories (path -> bytes,
blob shas as git computes them) and a summariser, beside the platform's RAG ingest
(``tests.fake_platform``: documents keyed as the platform keys them, unchanged hashes skipped,
empty content leaving no chunk)."""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from dataclasses import dataclass, field
from types import SimpleNamespace

from actors.adapters.github.files import Blob, FileContent, RepoTree
from actors.tasks.rag_summarizer.plan import Rules
from actors.tasks.rag_summarizer.settings import RagSummarizerSettings
from actors.tasks.rag_summarizer.task import reconcile
from contracts.platform import Project, ProjectStatus, Repository
from tests.fake_platform import T0, FakePlatform
from tests.support import FakeRun

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
