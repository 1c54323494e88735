"""From a file's bytes to its sections: decoding, front matter, headings, paragraphs and code.

Pure and deterministic. ``sections(path, data)`` gives each heading's path and the blocks under it
(a paragraph, or a code block that must never be cut in the middle):
- bytes: UTF-8 (a BOM is dropped), UTF-16 with its BOM, else Windows-1252 with replacement
  characters: a text always comes out, the same every time. Bytes with a NUL or mostly control
  characters are binary: no sections at all. Line ends become ``\\n``.
- Markdown (``.md``, ``.markdown``, ``.mdx``, and a README without extension): ATX (``## x``) and
  setext (``x`` over ``===`` / ``---``) headings, fenced code blocks (```` ``` ```` or ``~~~``,
  closed by a fence of the same character at least as long; an unclosed fence runs to the end),
  YAML (``---``) or TOML (``+++``) front matter left out, its ``title`` used as the document's
  heading when it has no other.
- reStructuredText (``.rst``): headings underlined (and optionally overlined) with punctuation,
  their levels in order of first appearance, as docutils does; an indented block after ``::`` or
  a ``.. code-block::`` directive is code.
- anything else (``.project-spec.yaml``, ``.txt``): paragraphs only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_RST_ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1{2,}[ \t]*$")
_TITLE = re.compile(r"^title:[ \t]*[\"']?(.*?)[\"']?[ \t]*$", re.M)
MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdx")


@dataclass(frozen=True)
class Block:
    text: str
    code: bool = False


@dataclass
class Section:
    headings: tuple[str, ...]  # the heading path, outermost first; () before any heading
    blocks: list[Block] = field(default_factory=list)


def decode(data: bytes) -> str | None:
    """The text of a file, or None for a binary one."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", errors="replace")
    elif b"\0" in data[:8192]:
        return None
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
    sample = text[:8192]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f")
    if sample and controls / len(sample) > 0.1:
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def kind_of(path: str) -> str:
    name = path.rsplit("/", 1)[-1].lower()
    if name.endswith(MARKDOWN_SUFFIXES) or (name.startswith("readme") and "." not in name):
        return "markdown"
    return "rst" if name.endswith(".rst") else "plain"


def sections(path: str, data: bytes) -> list[Section]:
    text = decode(data)
    if text is None or not text.strip():
        return []
    kind = kind_of(path)
    if kind == "markdown":
        return _markdown(text)
    if kind == "rst":
        return _rst(text.splitlines())
    return _Builder().paragraphs(text.splitlines()).done()


class _Builder:
    """Sections and blocks as the parsers find them; the heading stack keeps the path."""

    def __init__(self, root: str | None = None):
        self.stack: list[tuple[int, str]] = [(0, root)] if root else []
        self.out = [Section(tuple(t for _, t in self.stack))]
        self.lines: list[str] = []

    def flush(self) -> None:
        while self.lines and not self.lines[-1].strip():
            self.lines.pop()
        if self.lines:
            self.out[-1].blocks.append(Block("\n".join(self.lines)))
        self.lines = []

    def heading(self, level: int, title: str) -> None:
        self.flush()
        self.stack = [(lvl, t) for lvl, t in self.stack if lvl < level] + [(level, title.strip())]
        self.out.append(Section(tuple(t for _, t in self.stack if t)))

    def code(self, lines: list[str]) -> None:
        self.flush()
        self.out[-1].blocks.append(Block("\n".join(lines), code=True))

    def paragraphs(self, lines: list[str]) -> _Builder:
        for line in lines:
            if line.strip():
                self.lines.append(line.rstrip())
            else:
                self.flush()
        return self

    def done(self) -> list[Section]:
        self.flush()
        return [s for s in self.out if s.blocks or s.headings]


def _front_matter(text: str) -> tuple[str, str | None]:
    """(the text without its front matter, the front matter's title if any)."""
    for marker in ("---", "+++"):
        if text.startswith(marker + "\n"):
            end = re.search(rf"^(?:{re.escape(marker)}|\.\.\.)[ \t]*$", text[4:], re.M)
            if end:
                head = text[4:4 + end.start()]
                title = _TITLE.search(head.replace(" = ", ": "))
                return text[4 + end.end():].lstrip("\n"), (title.group(1).strip() or None) if title else None
    return text, None


def _markdown(text: str) -> list[Section]:
    text, title = _front_matter(text)
    lines = text.splitlines()
    has_h1 = any(_ATX.match(line) and _ATX.match(line).group(1) == "#" for line in lines)
    build = _Builder(title if title and not has_h1 else None)
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE_OPEN.match(line)
        if fence and not (fence.group(1)[0] == "`" and "`" in fence.group(2)):
            mark = fence.group(1)
            closing = re.compile(rf"^ {{0,3}}{re.escape(mark[0])}{{{len(mark)},}}[ \t]*$")
            end = next((j for j in range(i + 1, len(lines)) if closing.match(lines[j])), len(lines) - 1)
            build.code(lines[i:end + 1])
            i = end + 1
            continue
        atx = _ATX.match(line)
        if atx:
            build.heading(len(atx.group(1)), atx.group(2) or "")
        elif _SETEXT.match(line) and len(build.lines) == 1 and (line.strip()[0] == "=" or len(line.strip()) >= 2):
            heading_text = build.lines.pop()
            build.heading(1 if line.strip()[0] == "=" else 2, heading_text)
        elif line.strip():
            build.lines.append(line.rstrip())
        else:
            build.flush()
        i += 1
    return build.done()


def _rst(lines: list[str]) -> list[Section]:
    build = _Builder()
    styles: list[tuple[str, bool]] = []  # (adornment character, overlined), in order of appearance
    literal_next = False
    i = 0
    while i < len(lines):
        line = lines[i]
        title_line = i + 1 < len(lines) and line.strip() and not _RST_ADORNMENT.match(line)
        over = _RST_ADORNMENT.match(line) and i + 2 < len(lines) and lines[i + 1].strip() \
            and _RST_ADORNMENT.match(lines[i + 2]) and lines[i + 2].strip()[0] == line.strip()[0]
        if over:
            style, title, i = (line.strip()[0], True), lines[i + 1], i + 3
        elif title_line and not build.lines and _RST_ADORNMENT.match(lines[i + 1]) \
                and len(lines[i + 1].strip()) >= len(line.strip()):
            style, title, i = (lines[i + 1].strip()[0], False), line, i + 2
        else:
            if literal_next and line.strip() and line[:1] in (" ", "\t"):
                end = i
                while end < len(lines) and (not lines[end].strip() or lines[end][:1] in (" ", "\t")):
                    end += 1
                while not lines[end - 1].strip():
                    end -= 1
                build.code([text.rstrip() for text in lines[i:end]])
                literal_next, i = False, end
                continue
            if line.strip():
                literal_next = line.rstrip().endswith("::") or line.lstrip().startswith(".. code")
                build.lines.append(line.rstrip())
            else:
                build.flush()
            i += 1
            continue
        if style not in styles:
            styles.append(style)
        build.heading(styles.index(style) + 1, title)
        literal_next = False
    return build.done()
