"""The habits of issue 20, checked where every change is tested: ruff's lint rules (pyproject
``[tool.ruff]``, function-level imports among them) and its format."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True)


def test_ruff_finds_nothing_to_say():
    result = ruff("check", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_file_is_formatted():
    result = ruff("format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_function_level_import_is_refused(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    import json\n\n    return json\n")
    result = ruff("check", "--config", str(ROOT / "pyproject.toml"), str(sample))
    assert result.returncode != 0 and "PLC0415" in result.stdout, result.stdout
