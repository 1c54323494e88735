"""Repositories made of real documents: ``python -m sandbox --docs DIR`` serves ``DIR/<repo>/<path>``
as the organisation's repository ``<repo>`` and its files (text as UTF-8, anything else as bytes)."""

from __future__ import annotations

from pathlib import Path

from sandbox.world import Repo, World


def read_files(folder: Path) -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and ".git" not in p.relative_to(folder).parts):
        data = path.read_bytes()
        try:
            files[path.relative_to(folder).as_posix()] = data.decode("utf-8")
        except UnicodeDecodeError:
            files[path.relative_to(folder).as_posix()] = data
    return files


def add_docs_repos(world: World, directory: str | Path) -> list[Repo]:
    """One public, unarchived repository per sub-folder of ``directory``, named after it."""
    root = Path(directory)
    if not root.is_dir():
        raise ValueError(f"--docs {directory}: not a folder")
    repos = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        repos.append(
            world.add_repo(
                folder.name,
                files=read_files(folder),
                archived=False,
                disabled=False,
                visibility="public",
                description=f"{folder.name} (from {root.name})",
            )
        )
    return repos
