"""The editor's pure document functions (static/topolab/document-model.js), under node's test runner."""
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed (compose/lib.sh installs it)")
def test_it_passes_the_document_model_unit_tests():
    result = subprocess.run(["node", "--test", str(HERE / "js" / "document-model.test.js")],
                            capture_output=True, text=True, timeout=120, cwd=HERE.parents[1])
    assert result.returncode == 0, result.stdout + result.stderr
