"""The repository stands alone: nothing in it points outside the checkout (the team's reference
folder used to sit beside it, one level up), and every file of ours that its text names exists.
`.ci/run` runs the whole suite in a copy of the checkout with nothing beside it."""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.support import ROOT

#: the reference data describes other repositories' files; the locks are generated
NOT_OURS = ("tests/fixtures/", "requirements.txt", "requirements-dev.txt")
SKIPPED_DIRS = {".git", ".venv", "__pycache__", ".pytest_cache", ".hypothesis", ".import_linter_cache", "build"}
#: a path of this repository as text names it: it starts at one of our folders (not inside another path)
OUR_PATH = re.compile(
    r"(?<![\w/.\-])((?:tests|actors|scheduler|ticker|sandbox|contracts|bench|deploy|\.ci)"
    r"/[\w/.\-]*\.(?:py|md|lua|json|toml|txt|service|sh))"
)
DOCUMENT = re.compile(r"(?<![\w/.\-])([A-Z][A-Z_]+\.md)\b")


def texts():
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info")]
        for name in files:
            path = Path(folder) / name
            relative = path.relative_to(ROOT).as_posix()
            if relative.startswith(NOT_OURS) or path.suffix in {".pyc", ".rdb", ".sqlite"}:
                continue
            try:
                yield relative, path.read_text()
            except UnicodeDecodeError:
                continue


def test_nothing_refers_to_the_folder_beside_the_checkout():
    beside = "../" + "shared"
    assert [relative for relative, text in texts() if beside in text] == []


def test_every_file_of_ours_the_text_names_exists():
    documents = {path.name for path in ROOT.rglob("*.md") if ".venv" not in path.parts}
    missing = []
    for relative, text in texts():
        missing += [f"{relative}: {name}" for name in set(OUR_PATH.findall(text)) if not (ROOT / name).exists()]
        missing += [f"{relative}: {name}" for name in set(DOCUMENT.findall(text)) if name not in documents]
    assert missing == []


def test_the_check_sees_a_stale_name(tmp_path, monkeypatch):
    (tmp_path / "tests").mkdir()
    # the names are put together here, so this file itself names none of them
    stale_path, stale_document, beside = "tests" + "/health_fixtures.py", "DESIGN" + ".md", "../" + "shared"
    (tmp_path / "tests" / "note.py").write_text(f'"""See {stale_document} §2 and {stale_path}, and {beside}/x."""\n')
    monkeypatch.setattr("tests.test_standalone.ROOT", tmp_path)
    ((relative, text),) = texts()
    assert OUR_PATH.findall(text) == [stale_path] and DOCUMENT.findall(text) == [stale_document]
    assert beside in text
