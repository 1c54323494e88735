"""The local summary: the sentences most central to a project's documents, by the embeddings.

Every prose sentence of the documents (code, headings, tables and link targets left out) is
embedded; the summary is the ``max_sentences`` sentences nearest to their mean vector, within
``max_chars``, in document order. Deterministic: same documents, same summary (ties go to the
earlier sentence). No network when the embedder is the local one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from actors.adapters.embeddings.interface import Embedder, unit

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,}).*?^ {0,3}\1[`~]*[ \t]*$", re.M | re.S)
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_SKIPPED_LINE = re.compile(r"^\s*(#|\||>|---|===|```|~~~|<|\s{4})")
MAX_SENTENCES_READ = 300


def sentences(text: str) -> list[str]:
    """The prose sentences of a Markdown (or plain) text, in order, without duplicates."""
    text = _LINK.sub(r"\1", _FENCE.sub("\n", text))
    lines = [re.sub(r"^\s*([-*+]|\d+[.)])\s+", "", line) for line in text.splitlines()
             if not _SKIPPED_LINE.match(line)]
    paragraphs = re.split(r"\n\s*\n", "\n".join(lines))
    found: dict[str, None] = {}
    for paragraph in paragraphs:
        for sentence in _SENTENCE_END.split(" ".join(paragraph.split())):
            sentence = sentence.replace("`", "").strip()
            if 4 <= len(sentence.split()) <= 60:
                found.setdefault(sentence, None)
    return list(found)


class ExtractiveSummarizer:
    def __init__(self, embedder: Embedder, *, max_sentences: int = 3, max_chars: int = 600):
        self.embedder, self.max_sentences, self.max_chars = embedder, max_sentences, max_chars
        self.model = f"extractive/{embedder.model}"

    async def summarize(self, title: str, documents: Sequence[tuple[str, str]]) -> str:
        """``documents``: (path, text) pairs, in a stable order."""
        candidates = [s for _, text in documents for s in sentences(text)][:MAX_SENTENCES_READ]
        if not candidates:
            return f"{title}: no prose in its documentation."
        vectors = [unit(v) for v in (await self.embedder.embed(candidates)).vectors]
        centre = unit([sum(column) / len(vectors) for column in zip(*vectors)])
        scores = [sum(a * b for a, b in zip(vector, centre)) for vector in vectors]
        ranked = sorted(range(len(candidates)), key=lambda i: (-round(scores[i], 6), i))
        chosen: list[int] = []
        length = 0
        for index in ranked:
            if len(chosen) == self.max_sentences:
                break
            if length + len(candidates[index]) + 1 > self.max_chars:
                continue
            chosen.append(index)
            length += len(candidates[index]) + 1
        if not chosen:  # even the most central sentence is too long: cut it at a word
            return candidates[ranked[0]][:self.max_chars].rsplit(" ", 1)[0] + "…"
        return " ".join(candidates[i] for i in sorted(chosen))
