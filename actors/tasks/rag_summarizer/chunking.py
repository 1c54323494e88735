"""Documents -> chunks: Markdown-aware, bounded, overlapping, deterministic. Pure.

``chunk_document(path, data, limits)`` cuts a file into the pieces that are embedded and searched:
- one section per heading (``markup.sections``); a chunk never spans two sections and carries
  its heading path (``Setup > Configuration``);
- a chunk holds at most ``max_chars`` characters of whole paragraphs; a longer paragraph is cut
  at sentence ends, then at spaces, then anywhere;
- a fenced code block is never cut in the middle: it goes whole into a chunk of its own when it
  does not fit beside its neighbours, even beyond ``max_chars``, up to ``4 × max_chars``; a longer
  one is cut between lines and each piece is fenced again, so every piece is a whole code block;
- consecutive chunks of one section overlap: the next starts with the last ``overlap_chars`` (at a
  word boundary) of the previous one's last paragraph, so a sentence cut at a boundary is still
  found whole (never with code, never beyond ``max_chars``);
- the same bytes and limits always give the same chunks; empty and binary files give none; a
  file with nothing but headings gives one chunk of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from actors.tasks.rag_summarizer.markup import Block, Section, sections

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")


@dataclass(frozen=True)
class Limits:
    max_chars: int = 1500
    overlap_chars: int = 200

    @property
    def code_max_chars(self) -> int:
        return 4 * self.max_chars


@dataclass(frozen=True)
class Chunk:
    index: int
    heading: str  # the heading path, " > "-joined; "" before the first heading
    text: str

    def embedding_text(self) -> str:
        """What is embedded: the heading path says what the text is about."""
        return f"{self.heading}\n\n{self.text}" if self.heading else self.text


def chunk_document(path: str, data: bytes, limits: Limits = Limits()) -> list[Chunk]:
    found = sections(path, data)
    texts: list[tuple[str, str]] = []
    for section in found:
        heading = " > ".join(section.headings)
        texts += [(heading, text) for text in _pack(_pieces(section, limits), limits)]
    if not texts and found:
        titles = list(dict.fromkeys(t for s in found for t in s.headings))
        texts = [("", "\n".join(titles)[:limits.max_chars])] if titles else []
    return [Chunk(i, heading, text) for i, (heading, text) in enumerate(texts)]


def _pieces(section: Section, limits: Limits) -> list[Block]:
    """The section's blocks, each cut to fit a chunk (code only beyond ``code_max_chars``)."""
    out: list[Block] = []
    for block in section.blocks:
        if block.code:
            out += [block] if len(block.text) <= limits.code_max_chars else _cut_code(block.text, limits)
        else:
            # cut long paragraphs short enough that the next piece still fits beside its overlap
            room = limits.max_chars if len(block.text) <= limits.max_chars else \
                max(limits.max_chars - limits.overlap_chars - 2, limits.max_chars // 2)
            out += [Block(text) for text in _cut_prose(block.text, room)]
    return out


def _cut_prose(text: str, limit: int) -> list[str]:
    if len(text) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for part in _SENTENCE_END.split(text):
        for word in ([part] if len(part) <= limit else _cut_words(part, limit)):
            if current and len(current) + 1 + len(word) > limit:
                pieces.append(current)
                current = word
            else:
                current = f"{current} {word}" if current else word
    return pieces + ([current] if current else [])


def _cut_words(text: str, limit: int) -> list[str]:
    words: list[str] = []
    for word in text.split():
        words += [word[i:i + limit] for i in range(0, len(word), limit)]
    return words


def _cut_code(text: str, limits: Limits) -> list[Block]:
    """A code block too long even for a chunk of its own: pieces of whole lines, each fenced again."""
    lines = text.split("\n")
    opening = lines[0] if lines[0].lstrip().startswith(("```", "~~~")) else ""
    closing = lines[-1] if opening and len(lines) > 1 and lines[-1].strip()[:3] == opening.strip()[:3] else ""
    body = lines[1 if opening else 0:len(lines) - 1 if closing else len(lines)]
    fence = opening.strip()[:3] * (1 if opening else 0)
    room = limits.max_chars - len(opening) - len(fence) - 2
    pieces, current = [], []
    for line in (part for line in body for part in ([line] if len(line) <= room else _cut_words(line, room))):
        if current and sum(len(x) + 1 for x in current) + len(line) > room:
            pieces.append(current)
            current = []
        current.append(line)
    pieces += [current] if current else []
    return [Block("\n".join(([opening] if opening else []) + piece + ([fence] if fence else [])), code=True)
            for piece in pieces]


def _pack(pieces: list[Block], limits: Limits) -> list[str]:
    """Consecutive pieces joined into chunks of at most ``max_chars``, overlapping on prose."""
    chunks: list[str] = []
    current: list[Block] = []

    def size(blocks: list[Block]) -> int:
        return sum(len(b.text) for b in blocks) + 2 * max(0, len(blocks) - 1)

    for piece in pieces:
        if current and size(current + [piece]) > limits.max_chars:
            chunks.append("\n\n".join(b.text for b in current))
            tail = _tail(current[-1], limits.overlap_chars)
            current = [tail] if tail and not piece.code and size([tail, piece]) <= limits.max_chars else []
        current.append(piece)
    if current:
        chunks.append("\n\n".join(b.text for b in current))
    return chunks


def _tail(block: Block, overlap: int) -> Block | None:
    """The last ``overlap`` characters of a paragraph, from a word start; None for code."""
    if block.code or overlap <= 0:
        return None
    if len(block.text) <= overlap:
        return block
    cut = block.text[-overlap:]
    start = cut.find(" ")
    return Block(cut[start + 1:]) if 0 <= start < len(cut) - 1 else None
