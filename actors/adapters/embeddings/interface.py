"""What every embedder offers: a model name, its dimension, and vectors for texts.

Vectors are stored tagged with ``model`` and ``dimension``: a vector is only ever compared with
vectors of the same model, and switching the embedder re-indexes everything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Embedded:
    vectors: list[list[float]]  # one per text, in order, each of ``dimension`` numbers
    requests: int  # calls made for them: HTTP requests, or local model passes


class Embedder(Protocol):
    #: the model's name as stored beside every vector (e.g. ``wordllama/l2_supercat-256``)
    model: str

    async def dimension(self) -> int:
        """The length of every vector this embedder gives."""
        ...

    async def embed(self, texts: Sequence[str]) -> Embedded:
        """One vector per text (texts are non-empty)."""
        ...


def unit(vector: Sequence[float]) -> list[float]:
    """``vector`` scaled to length 1 (a zero vector stays zero), as plain floats."""
    norm = math.sqrt(sum(x * x for x in vector))
    return [float(x) / norm for x in vector] if norm else [0.0 for _ in vector]
