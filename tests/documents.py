"""Documents the tests share: the spec's reference lab, kept in ``tests/data``.

``tests/data/router-between-two-clients.json`` is a copy of the spec's example
(``shared/examples``), so the suite runs from any checkout; a unit test
compares the two whenever the shared folder sits next to the checkout.
"""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_FILE = ROOT / "tests" / "data" / "router-between-two-clients.json"
SHARED_REFERENCE_FILE = ROOT.parent / "shared" / "examples" / "router-between-two-clients.json"


def reference_document() -> dict:
    """A fresh copy of the reference lab (c1 - r1 - c2)."""
    return json.loads(REFERENCE_FILE.read_text())
