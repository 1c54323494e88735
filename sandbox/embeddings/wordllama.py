"""The embeddings stand-in's model: WordLlama ``l2_supercat``, whose 256-dimension weights and
tokenizer ship inside the ``wordllama`` wheel (numpy only: no download, no key, no GPU).

``WordLlama.load()`` looks for the tokenizer in ``<package>/tokenizer/`` while the wheel ships it
in ``<package>/tokenizers/``, and on a miss silently downloads it from a model hub. So it is loaded
with ``cache_dir`` = the package's own folder and ``disable_download=True``: a missing file is an
error here, never a network call (tests/sandbox/test_embeddings.py runs it with an empty HOME and
every non-loopback connection refused).

**Dimensions.** The platform asks for ``dimensions: 512`` (its column is ``vector(512)``); the wheel
ships only the 256-dimension weights. WordLlama is trained Matryoshka-style: a smaller model *is*
the first coordinates of a larger one (its own ``trunc_dim`` truncates). So a 512-number answer is
the 256 coordinates the wheel holds followed by 256 zeros, L2-normalised: every cosine between two
such vectors is exactly the cosine WordLlama gives at 256 dimensions (padding with zeros is an
isometry), so search by meaning ranks as the bundled model does. Fewer than 256 dimensions are the
Matryoshka prefix, normalised again, as ``trunc_dim`` would give.

Importing ``wordllama`` calls ``logging.basicConfig``; the root logger is put back as it was.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

# Importing wordllama calls logging.basicConfig: the root logger is put back as it was.
_root, _handlers, _level = logging.getLogger(), logging.getLogger().handlers[:], logging.getLogger().level
import wordllama  # noqa: E402

_root.handlers[:], _root.level = _handlers, _level

CONFIG, NATIVE_DIMENSION = "l2_supercat", 256
MODEL_NAME = f"wordllama/{CONFIG}-{NATIVE_DIMENSION}"

_lock = threading.Lock()
_model = None


def load_wordllama():
    """The bundled model, from the package's own folder, downloads disabled."""
    package = Path(wordllama.__file__).parent
    return wordllama.WordLlama.load(config=CONFIG, dim=NATIVE_DIMENSION, cache_dir=package, disable_download=True)


def model():
    """The model, loaded once per process on first use."""
    global _model
    with _lock:
        if _model is None:
            _model = load_wordllama()
        return _model


def embed_texts(texts: Sequence[str], dimensions: int = NATIVE_DIMENSION) -> np.ndarray:
    """One L2-normalised row of ``dimensions`` numbers per text (a text without tokens: zeros)."""
    if not texts:
        return np.zeros((0, dimensions))
    matrix = np.asarray(model().embed(list(texts), norm=False), dtype=np.float64)
    if dimensions <= NATIVE_DIMENSION:
        matrix = matrix[:, :dimensions]
    else:
        matrix = np.hstack([matrix, np.zeros((len(texts), dimensions - NATIVE_DIMENSION))])
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms
