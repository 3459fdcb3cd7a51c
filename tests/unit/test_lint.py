"""The linter is part of the suite: ``ruff check`` (configured in pyproject.toml) finds nothing in the tree."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_finds_nothing():
    found = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                           cwd=ROOT, capture_output=True, text=True)
    assert found.returncode == 0, f"ruff check found problems (fix them, or say why with a noqa):\n{found.stdout}{found.stderr}"


def test_ruff_would_see_a_problem(tmp_path):
    # The check must be able to fail: the same configuration, on a file with an unused import.
    (tmp_path / "bad.py").write_text("import os\n")
    found = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"),
                            str(tmp_path / "bad.py")], capture_output=True, text=True)
    assert found.returncode == 1 and "F401" in found.stdout
