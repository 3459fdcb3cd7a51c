"""The editor's pure document functions (static/topolab/document-model.js), under node's test runner.

The kinds are the registry's (topology/kinds.py), exactly as the editor page serves them: the
JavaScript tests get them in TOPOLAB_KINDS and fail without them (no kinds of their own).
"""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from topology import kinds
from topology.pages.views import kinds_config

HERE = Path(__file__).resolve().parent


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed (compose/lib.sh installs it)")
def test_it_passes_the_document_model_unit_tests():
    registry = json.dumps({"kinds": kinds_config(), "defaultKind": kinds.DEFAULT})
    result = subprocess.run(["node", "--test", str(HERE / "js" / "document-model.test.js")],
                            capture_output=True, text=True, timeout=120, cwd=HERE.parents[1],
                            env={**os.environ, "TOPOLAB_KINDS": registry})
    assert result.returncode == 0, result.stdout + result.stderr
