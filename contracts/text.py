"""What text may be written to the platform: the rules checked once, at the boundary.

The platform stores text in a database that refuses what is not valid UTF-8 and NUL characters,
and its columns have sizes. What the scheduler writes comes from outside (GitHub, Time4VPS, the
servers), so it can hold anything: a lone UTF-16 surrogate (JSON's ``"\\ud800"`` decodes to one),
NULs, control characters, a megabyte where a line was expected. The rules:

- every string: no lone surrogate (it has no UTF-8 encoding) and no NUL;
- a *line* (names, branches, URLs, handles): no control character at all;
- sizes: ``NAME_MAX`` for names, ``URL_MAX`` for URLs, ``DESCRIPTION_MAX`` for descriptions,
  ``TEXT_MAX`` for longer texts (summaries). The README states them ("What is written").

``WritableText``/``WritableLine`` enforce them in the write models (a record that breaks one is
refused before it is sent); ``fit_text`` makes a free-text value fit (replacing what cannot be
written, cutting what is too long), for a task that would rather write part of a description
than none of it. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

NAME_MAX = 255
URL_MAX = 2048
DESCRIPTION_MAX = 1024
TEXT_MAX = 100_000

_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x1f\x7f]")
#: control characters that have no place in free text (tab, newline and carriage return do)
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def text_problem(value: str, *, line: bool = False) -> str | None:
    """Why ``value`` cannot be written, or None. Says where, never quotes the value."""
    if match := _SURROGATE.search(value):
        return f"a lone UTF-16 surrogate at character {match.start()} (not valid UTF-8)"
    if "\x00" in value:
        return f"a NUL character at character {value.index(chr(0))}"
    if line and (match := _CONTROL.search(value)):
        return f"a control character at character {match.start()} in a single-line value"
    return None


def _writable(value: str) -> str:
    if problem := text_problem(value):
        raise ValueError(problem)
    return value


def _writable_line(value: str) -> str:
    if problem := text_problem(value, line=True):
        raise ValueError(problem)
    return value


def WritableText(max_length: int = TEXT_MAX, min_length: int = 0):  # noqa: N802 (a type, used as one)
    """A string field the platform can store: valid UTF-8, no NUL, at most ``max_length`` characters."""
    return Annotated[str, Field(min_length=min_length, max_length=max_length), AfterValidator(_writable)]


def WritableLine(max_length: int = NAME_MAX, min_length: int = 1):  # noqa: N802
    """``WritableText`` without any control character (names, branches, URLs)."""
    return Annotated[str, Field(min_length=min_length, max_length=max_length), AfterValidator(_writable_line)]


def fit_text(value: str | None, max_length: int = DESCRIPTION_MAX) -> str | None:
    """``value`` made writable: lone surrogates become U+FFFD, NULs and other unprintable control
    characters go, and it is cut to ``max_length`` characters. Idempotent: fitting a fitted value
    changes nothing, so a plan that fits what it wants plans nothing the next time."""
    if value is None:
        return None
    value = _UNPRINTABLE.sub("", _SURROGATE.sub("\ufffd", value))
    return value[:max_length]
