"""``scheduler search "TEXT" [--project ID|TITLE] [--k N] [--min-similarity S] [--json]``: what the
platform's RAG index finds for a question, so that an operator can see the index work.

It asks the platform: ``POST /api/rag/query`` (the platform embeds the text with its own model and
ranks chunks by cosine similarity). A query there is within one project (scope ``project``, with
the project's owner as ``user_id``), so without ``--project`` every project is asked (a few at a
time) and the best ``--k`` chunks of all of them are shown. ``--min-similarity`` is sent as is:
the platform's default (0.7) is high for short questions, so ours is 0.2 (what a
relevant chunk of the sandbox's WordLlama model scores against a question).
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass

from actors.adapters.platform.client import PlatformClient, PlatformError, PlatformSettings
from contracts.platform import Project, RagChunkResult, RagQuery
from process.errors import ConfigurationError, TransientError
from process.logs import configure_logging

QUERIES_AT_ONCE = 8


@dataclass(frozen=True)
class Hit:
    project: str  # the project's title
    chunk: RagChunkResult

    def as_json(self) -> dict:
        return {"project": self.project, **self.chunk.model_dump(mode="json")}


class UnknownProject(ValueError):
    pass


def choose(projects: list[Project], wanted: str | None) -> list[Project]:
    """Every project, or the one whose id or title is ``wanted``."""
    if wanted is None:
        return projects
    chosen = [p for p in projects if str(p.id) == wanted.strip().lower() or p.title == wanted]
    if not chosen:
        raise UnknownProject(f"no project has the id or title {wanted!r}")
    return chosen


async def search(
    text: str, k: int, min_similarity: float, project: str | None = None, platform: PlatformClient | None = None
) -> list[Hit]:
    own = platform is None
    platform = platform or PlatformSettings.from_env().client()
    try:
        projects = choose((await platform.list_projects()).items, project)
        gate = asyncio.Semaphore(QUERIES_AT_ONCE)

        async def ask(p: Project) -> list[Hit]:
            async with gate:
                answer = await platform.query(
                    RagQuery(query=text, project_id=p.id, user_id=p.owner_id, top_k=k, min_similarity=min_similarity)
                )
            return [Hit(p.title, chunk) for chunk in answer.results]

        found = [hit for hits in await asyncio.gather(*(ask(p) for p in projects)) for hit in hits]
        return sorted(found, key=lambda h: -h.chunk.score)[:k]
    finally:
        if own:
            await platform.aclose()


def render(hits: list[Hit], width: int = 100) -> str:
    if not hits:
        return "no chunk found (has rag_summarizer sent anything yet? a lower --min-similarity finds more)"
    lines = []
    for rank, hit in enumerate(hits, start=1):
        chunk = hit.chunk
        title = f"  § {chunk.title}" if chunk.title else ""
        lines.append(f"{rank:>2}. {chunk.score:.3f}  {hit.project}  {chunk.source_id}{title}")
        snippet = " ".join(chunk.chunk_text.split())
        lines.append(f"    {snippet[:width] + ('…' if len(snippet) > width else '')}")
    return "\n".join(lines)


def cmd_search(args) -> int:
    text = " ".join(args.text).strip()
    if not text:
        print("scheduler search: give the text to look for", flush=True)
        return 2
    configure_logging(level="WARNING")  # to stderr: stdout is the results
    try:
        if args.project is not None and not args.project.strip():
            raise UnknownProject("--project is empty")
        hits = asyncio.run(search(text, args.k, args.min_similarity, args.project))
    except (ConfigurationError, UnknownProject) as exc:
        print(f"scheduler search: {exc}", file=sys.stderr, flush=True)
        return 2
    except (PlatformError, TransientError) as exc:  # the platform (or its embeddings) did not answer
        print(f"scheduler search: no answer: {exc}", file=sys.stderr, flush=True)
        return 1
    print(json.dumps([h.as_json() for h in hits], indent=2) if args.json else render(hits))
    return 0
