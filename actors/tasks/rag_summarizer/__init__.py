"""rag_summarizer: project documentation -> chunks, embeddings and a summary (``task.py``: observe ->
apply; ``plan.py``: the rules; ``chunking.py`` / ``markup.py``: documents into chunks)."""

from actors.tasks.rag_summarizer.task import SPEC

__all__ = ["SPEC"]
