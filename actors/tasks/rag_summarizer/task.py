"""rag_summarizer: each project's documentation sent to the platform's RAG index, changes only.

A reconciler, project by project, read top to bottom: **observe** (the projects and their primary
repositories on the platform; each repository's git tree at ``HEAD``, conditionally: a 304 costs
nothing; what was sent before, from Redis) -> **plan** (``plan.plan_project``, pure, where every
rule lives) -> **apply** (``apply.py``: only changed documents are read and sent to
``POST /api/rag/ingest``, signed; the platform chunks and embeds them). A steady world costs no
rate-limit point, no content request and no ingest.

Which repository: a project's ``primary`` one whose git URL names a repository of ``GITHUB_ORG``
(another organisation's is left alone, as github_sync does); a project without one is counted
(``without_repository``) and has nothing to index.

One project's failure (an outside system still failing after its retries) does not stop the
others; the run then fails at the end, so that the worker retries it, and the retry only does
what is still undone.
"""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis

from actors.adapters.github.errors import GitHubResponseError
from actors.adapters.github.files import RepoFiles
from actors.adapters.github.settings import GitHubSettings
from actors.adapters.kit import EndpointRefused
from actors.adapters.platform.client import PlatformResponseError, PlatformSettings
from actors.adapters.summary.chat import SummarySettings
from actors.runtime.run import TaskRun
from actors.runtime.spec import TaskSpec
from actors.tasks.rag_summarizer.apply import apply_project
from actors.tasks.rag_summarizer.plan import INDEXED_STATUSES, Observed, Rules, plan_project
from actors.tasks.rag_summarizer.settings import DocumentGlobs, RagSummarizerSettings
from actors.tasks.rag_summarizer.text import full_name_of
from actors.tasks.records import RecordWrites
from contracts import Keys, TaskName
from contracts.counters import INCOMPLETE, SKIPPED_ITEMS
from contracts.platform import Project, Repository, RepositoryRole
from contracts.platform.needs import PlatformNeed
from process.errors import TransientError
from process.logs import get_logger

log = get_logger(__name__)

#: what fails one project and not the run: the next attempt redoes what is still undone
PROJECT_FAILURES = (TransientError, PlatformResponseError, GitHubResponseError, EndpointRefused)
#: the tree read: the repository's default branch, whatever its name
BRANCH = "HEAD"


class RedisMemory:
    """What was sent, per project, in ``Keys.rag_sent``."""

    def __init__(self, client: aioredis.Redis):
        self.client = client

    async def sent(self, project_id: uuid.UUID) -> dict[str, str]:
        raw = await self.client.hgetall(Keys.rag_sent(str(project_id)))
        return {_text(k): _text(v) for k, v in raw.items()}

    async def remember(self, project_id: uuid.UUID, field: str, value: str | None) -> None:
        key = Keys.rag_sent(str(project_id))
        if value is None:
            await self.client.hdel(key, field)
        else:
            await self.client.hset(key, field, value)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def run_rag_summarizer(run: TaskRun) -> None:
    deps = run.deps
    settings = deps.settings(RagSummarizerSettings)
    summarizer = deps.summarizer
    rules = Rules(
        summarizer.model if summarizer else None, settings.rag_max_doc_bytes, settings.rag_max_docs_per_project
    )
    files = RepoFiles(deps.github, deps.aredis)
    memory = RedisMemory(deps.aredis)
    projects = await deps.platform.list_projects()
    repositories = await deps.platform.list_all_repositories([p.id for p in projects.items])
    run.count(SKIPPED_ITEMS, projects.skipped + repositories.skipped)
    pairs = primary_repositories(projects.items, repositories.items, files.org)
    run.count("without_repository", len(projects.items) - len(pairs))
    try:
        await reconcile(pairs, run, files, memory, rules, settings.documents)
    finally:
        await files.close()
        for name, value in (
            ("github_requests", files.walk.requests),
            ("points", files.walk.points),
            ("not_modified", files.walk.not_modified),
            ("content_requests", files.content_requests),
            (SKIPPED_ITEMS, files.skipped_entries),
        ):
            run.count(name, value)
    if files.stopped:
        run.count(INCOMPLETE)
        log.warning(
            "rag_summarizer.reads_stopped",
            reason=files.stopped,
            note="projects not read this time are left as they are; the next run goes on",
        )


def primary_repositories(
    projects: list[Project], repositories: list[Repository], org: str
) -> list[tuple[Project, Repository, str]]:
    """(project, its primary repository, ``owner/name``) for each project that has one in ``org``
    (the oldest primary one if several); by project id."""
    by_project: dict[uuid.UUID, list[Repository]] = {}
    for repository in repositories:
        if repository.role is RepositoryRole.PRIMARY:
            by_project.setdefault(repository.project_id, []).append(repository)
    pairs = []
    for project in sorted(projects, key=lambda p: str(p.id)):
        for repository in sorted(by_project.get(project.id, []), key=lambda r: (r.created_at, r.id)):
            full_name = full_name_of(repository.git_url)
            if full_name and full_name.split("/", 1)[0].lower() == org.lower():
                pairs.append((project, repository, full_name))
                break
    return pairs


async def reconcile(
    pairs: list[tuple[Project, Repository, str]],
    run,
    files: RepoFiles,
    memory: RedisMemory,
    rules: Rules,
    documents: DocumentGlobs,
) -> None:
    failed = 0
    writes = RecordWrites(run, "rag_summarizer")
    for project, repository, full_name in pairs:
        try:
            tree = await files.tree(full_name, BRANCH, documents) if project.status in INDEXED_STATUSES else None
            observed = Observed(
                project.id,
                project.owner_id,
                full_name,
                repository.git_url,
                project.status,
                tree,
                await memory.sent(project.id),
            )
            await apply_project(plan_project(observed, rules), run, files, memory, rules, writes)
        except PROJECT_FAILURES as exc:
            failed += 1
            log.warning("rag_summarizer.project_failed", project=full_name, error=str(exc)[:300])
    run.count("projects", len(pairs))
    run.count("failed_projects", failed)
    if failed:
        raise TransientError(f"{failed} of {len(pairs)} project(s) failed; the retry does what is still undone")


SPEC = TaskSpec(
    TaskName.RAG_SUMMARIZER,
    run_rag_summarizer,
    time_limit_ms=15 * 60_000,
    max_retries=5,
    settings=RagSummarizerSettings,
    adapters=(PlatformSettings, GitHubSettings, SummarySettings),
    # the ingest is signed: without the platform's secret nothing can be sent
    credentials=(PlatformSettings.CREDENTIALS, GitHubSettings.CREDENTIALS, frozenset({"RAG_INGEST_SECRET"})),
    platform_needs=(
        PlatformNeed("GET", "/api/projects/", ("id", "status", "owner_id")),
        PlatformNeed("GET", "/api/repositories/", ("project_id", "git_url", "role")),
        PlatformNeed("POST", "/api/rag/ingest", ("documents_received", "documents_indexed")),
    ),
)
