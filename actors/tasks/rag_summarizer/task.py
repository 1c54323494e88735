"""rag_summarizer: project documentation -> chunks, vectors and a summary on the platform.

A reconciler, project by project, read top to bottom: **observe** (the project's git tree,
conditionally: a 304 costs nothing; what the platform holds of its documents and summary) ->
**plan** (``plan.plan_project``, pure, where every rule lives) -> **apply** (``apply.py``: only
changed documents are fetched, embedded and written). A steady world costs no rate-limit point,
no content request, no embedding call and no write.

One project's failure (an outside system still failing after its retries) does not stop the
others; the run then fails at the end, so that the worker retries it, and the retry only does
what is still undone.
"""

from __future__ import annotations

from actors.adapters.github.errors import GitHubResponseError
from actors.adapters.github.files import RepoFiles
from actors.adapters.kit import EndpointRefused
from actors.adapters.platform.client import PlatformResponseError
from actors.runtime.run import TaskRun
from actors.runtime.spec import TaskSpec
from actors.tasks.rag_summarizer.apply import Ports, apply_project
from actors.tasks.records import RecordWrites
from actors.tasks.rag_summarizer.chunking import Limits
from actors.tasks.rag_summarizer.plan import INDEXED_STATUSES, Observed, Rules, plan_project
from actors.tasks.rag_summarizer.settings import DocumentGlobs, RagSettings
from contracts import TaskName
from contracts.platform import Project
from scheduler.errors import TransientError
from scheduler.logs import get_logger

log = get_logger(__name__)

#: what fails one project and not the run: the next attempt redoes what is still undone
PROJECT_FAILURES = (TransientError, PlatformResponseError, GitHubResponseError, EndpointRefused)


async def run_rag_summarizer(run: TaskRun) -> None:
    deps = run.deps
    settings = deps.settings(RagSettings)
    embedder, summarizer = deps.embedder, deps.summarizer
    rules = Rules(embedder.model, await embedder.dimension(), summarizer.model, settings.rag_max_doc_bytes,
                  settings.rag_max_docs_per_project)
    files = RepoFiles(deps.github, deps.aredis)
    ports = Ports(deps.platform, files, embedder, summarizer, rules,
                  Limits(settings.rag_chunk_chars, settings.rag_chunk_overlap_chars))
    projects = await ports.platform.list_projects()
    run.count("skipped_projects", projects.skipped)
    try:
        await reconcile(projects.items, run, ports, files, settings.documents)
    finally:
        await files.close()
        for name, value in (("github_requests", files.walk.requests), ("points", files.walk.points),
                            ("not_modified", files.walk.not_modified), ("content_requests", files.content_requests),
                            ("skipped_items", files.skipped_entries)):
            run.count(name, value)
    if files.stopped:
        run.count("incomplete")
        log.warning("rag_summarizer.reads_stopped", reason=files.stopped,
                    note="projects not read this time are left as they are; the next run goes on")


async def reconcile(projects: list[Project], run, ports: Ports, files: RepoFiles, documents: DocumentGlobs) -> None:
    failed = 0
    writes = RecordWrites(run, "rag_summarizer")
    for project in sorted(projects, key=lambda p: p.id):
        try:
            observed = await observe_project(project, files, ports.platform, documents)
            plan = plan_project(observed, ports.rules)
            await apply_project(plan, run, ports, writes)
        except PROJECT_FAILURES as exc:
            failed += 1
            log.warning("rag_summarizer.project_failed", project=project.full_name, error=str(exc)[:300])
    run.count("projects", len(projects))
    run.count("failed_projects", failed)
    if failed:
        raise TransientError(f"{failed} of {len(projects)} project(s) failed; the retry does what is still undone")


async def observe_project(project: Project, files: RepoFiles, platform, documents: DocumentGlobs) -> Observed:
    tree = None
    if project.status in INDEXED_STATUSES:
        tree = await files.tree(project.full_name, project.default_branch, documents)
    stored = await platform.list_documents(project.id)
    summary = await platform.get_summary(project.id) if tree is not None and tree.complete else None
    return Observed(project.id, project.full_name, project.default_branch, project.status, tree, stored.items,
                    summary.source_hash if summary else None)


SPEC = TaskSpec(TaskName.RAG_SUMMARIZER, run_rag_summarizer, time_limit_ms=15 * 60_000, max_retries=5)
