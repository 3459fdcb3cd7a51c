"""Every test under tests/integration carries the ``integration`` marker, and only those do.

The marker comes from the hook in tests/integration/conftest.py (a ``pytestmark``
in a conftest marks nothing). Checked by collecting, as ``-m`` would select:
nothing runs here, so no root and no Docker are needed.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def collected(*selections: str) -> list[list[str]]:
    """For each ``-m`` expression, the node IDs ``pytest --collect-only`` selects of tests/integration and
    of this file (the runs go side by side: each pays for starting Django)."""
    runs = [subprocess.Popen([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                              "-m", selection, "tests/integration", "tests/unit/test_markers.py"],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for selection in selections]
    found = []
    for process in runs:
        out, _ = process.communicate(timeout=120)
        assert process.returncode in (0, 5), out  # 5: nothing selected
        found.append([line for line in out.splitlines() if "::" in line])
    return found


def test_every_integration_test_is_marked_integration_and_no_other_is():
    marked, unmarked = collected("integration", "not integration")
    assert len(marked) > 10
    assert all(i.startswith("tests/integration/") for i in marked)  # every one selected is an integration test
    # ... and every integration test is selected: none is left unmarked.
    assert unmarked == ["tests/unit/test_markers.py::test_every_integration_test_is_marked_integration_and_no_other_is"]
