"""The editor's pure document functions (static/topolab/document-model.js), under node's test runner.

The kinds are the registry's (topology/kinds.py), exactly as the editor page serves them: the
JavaScript tests get them in TOPOLAB_KINDS and fail without them (no kinds of their own).
"""
import json

from topology import kinds
from topology.pages.views import kinds_config

from .helpers import needs_node, run_js_tests


@needs_node
def test_it_passes_the_document_model_unit_tests():
    registry = json.dumps({"kinds": kinds_config(), "defaultKind": kinds.DEFAULT})
    run_js_tests("document-model.test.js", env={"TOPOLAB_KINDS": registry})
