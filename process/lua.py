"""Lua scripts live as ``.lua`` files in a ``lua/`` folder beside the code that runs them (as
Dramatiq keeps ``dispatch.lua`` beside its Redis broker), so they read as Lua, with their
own comments, and are read from the installed package once per process."""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def load_script(package: str, name: str) -> str:
    """The text of ``<package>/lua/<name>.lua``, e.g. ``load_script("ticker", "enqueue")``."""
    return files(package).joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")
