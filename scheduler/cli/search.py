"""``scheduler search "TEXT" [--k N] [--json]``: what the platform's document index finds for a
question, so that an operator can see the index work. The text is embedded by the configured
embedder (``EMBEDDINGS_URL``, else the bundled local model: the one rag_summarizer indexes with)
and the platform ranks the chunks of that model only."""

from __future__ import annotations

import asyncio
import json
import sys

from actors.adapters.embeddings.settings import EmbeddingSettings
from actors.adapters.platform.client import PlatformError, PlatformSettings
from contracts.platform import ChunkSearch, SearchHit
from scheduler.errors import ConfigurationError, TransientError
from scheduler.logs import configure_logging


async def search(text: str, k: int) -> list[SearchHit]:
    embedder = EmbeddingSettings().embedder()
    platform = PlatformSettings.from_env().client()
    try:
        (vector,) = (await embedder.embed([text])).vectors
        return (await platform.search_chunks(ChunkSearch(vector=vector, model=embedder.model, k=k))).items
    finally:
        await platform.aclose()
        close = getattr(embedder, "aclose", None)
        if close is not None:
            await close()


def render(hits: list[SearchHit], width: int = 100) -> str:
    if not hits:
        return "no chunk found (has rag_summarizer indexed anything with this embedder yet?)"
    lines = []
    for rank, hit in enumerate(hits, start=1):
        where = f"{hit.project}  {hit.path}" + (f"  § {hit.heading}" if hit.heading else "")
        snippet = " ".join(hit.text.split())
        lines.append(f"{rank:>2}. {hit.score:.3f}  {where}")
        lines.append(f"    {snippet[:width] + ('…' if len(snippet) > width else '')}")
    return "\n".join(lines)


def cmd_search(args) -> int:
    text = " ".join(args.text).strip()
    if not text:
        print("scheduler search: give the text to look for", flush=True)
        return 2
    configure_logging(level="WARNING")  # to stderr: stdout is the results
    try:
        hits = asyncio.run(search(text, args.k))
    except ConfigurationError as exc:
        print(f"scheduler search: {exc}", file=sys.stderr, flush=True)
        return 2
    except (PlatformError, TransientError) as exc:  # the platform or the embeddings endpoint did not answer
        print(f"scheduler search: no answer: {exc}", file=sys.stderr, flush=True)
        return 1
    print(json.dumps([h.model_dump(mode="json") for h in hits], indent=2) if args.json else render(hits))
    return 0
