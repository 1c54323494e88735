"""The local default embedder: WordLlama's 256-dimension ``l2_supercat`` model, whose weights and
tokenizer ship inside the ``wordllama`` wheel. No download, no key, no GPU (numpy only).

``WordLlama.load()`` resolves the tokenizer in ``<package>/tokenizer/`` while the wheel ships it in
``<package>/tokenizers/``, and on a miss silently downloads it from a model hub. So it is loaded
with ``cache_dir`` = the package's own folder (where ``weights/`` and ``tokenizers/`` are) and
``disable_download=True``: a missing file is an error here, never a network call.
(tests/tasks/rag_summarizer/test_local_model.py proves it with an empty HOME and no network.)

Importing ``wordllama`` calls ``logging.basicConfig``; the root logger is put back as it was.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from actors.adapters.embeddings.interface import Embedded

CONFIG, DIMENSION = "l2_supercat", 256
MODEL_NAME = f"wordllama/{CONFIG}-{DIMENSION}"


def load_wordllama():
    """The bundled model, from the package's own folder, downloads disabled."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        import wordllama
    finally:  # its import configures the root logger; ours stays in charge
        root.handlers[:], root.level = handlers, level
    package = Path(wordllama.__file__).parent
    return wordllama.WordLlama.load(config=CONFIG, dim=DIMENSION, cache_dir=package, disable_download=True)


class LocalEmbedder:
    """WordLlama in this process: loaded once, on first use; vectors are L2-normalised."""

    model = MODEL_NAME

    def __init__(self):
        self._model = None
        self._lock = threading.Lock()

    def _loaded(self):
        with self._lock:
            if self._model is None:
                self._model = load_wordllama()
            return self._model

    async def dimension(self) -> int:
        return DIMENSION

    def embed_now(self, texts: Sequence[str]) -> list[list[float]]:
        """Blocking: for a thread, a command line or a benchmark."""
        if not texts:
            return []
        matrix = self._loaded().embed(list(texts), norm=False)
        norms = (matrix * matrix).sum(axis=1, keepdims=True) ** 0.5
        norms[norms == 0] = 1.0  # a text without tokens: a zero vector, never NaN
        return (matrix / norms).astype(float).tolist()

    async def embed(self, texts: Sequence[str]) -> Embedded:
        # numpy work off the event loop: other coroutines of the worker keep running
        vectors = await asyncio.to_thread(self.embed_now, texts)
        return Embedded(vectors, 1 if texts else 0)
