"""The example labs in ``examples/``: each is a valid ``topolab/v1`` document that this engine can plan,
the first is the spec's reference lab, and ``/help/examples/<name>`` hands each out (and nothing else).
"""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest
from django.test import Client

from tests.documents import REFERENCE_FILE, SHARED_REFERENCE_FILE
from tests.integration.test_switch_lan import switch_lan
from topology import kinds
from topology.engine.plan import Context, build_plan
from topology.pages import help as help_pages
from topology.schema import dump, loads

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
FILES = sorted(EXAMPLES.glob("*.json"))
REFERENCE = EXAMPLES / "router-between-two-clients.json"


def test_there_are_examples_and_the_reference_lab_is_one():
    assert REFERENCE in FILES and len(FILES) >= 2
    assert sorted(p.name for p in EXAMPLES.iterdir()) == [p.name for p in FILES], "examples/ holds only labs"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_each_example_validates_without_errors(path):
    result = loads(path.read_bytes())
    assert result.errors == [], [str(p) for p in result.errors]
    for problem in result.warnings:  # allowed, but said
        warnings.warn(f"{path.name}: {problem}", stacklevel=2)
    data = json.loads(path.read_text())
    assert data["name"] == path.stem, "an example's file is named after its topology"
    assert dump(result.document) == data, "an example is written as export writes it (round trip)"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_each_example_deploys_with_the_kinds_that_deploy_today(path):
    document = loads(path.read_bytes()).document
    used = {node.kind for node in document.nodes}
    assert used <= set(kinds.deployable()), used - set(kinds.deployable())
    plan = build_plan(document, Context(site="examples", lab_id=1, owner="alice"))
    assert plan.phases


def test_the_reference_example_is_the_tests_copy():
    assert REFERENCE.read_bytes() == REFERENCE_FILE.read_bytes()


def test_the_reference_example_is_the_shared_one():
    if not SHARED_REFERENCE_FILE.exists():
        pytest.skip("shared/examples is not next to this checkout")
    assert REFERENCE.read_bytes() == SHARED_REFERENCE_FILE.read_bytes()


def test_the_switch_lan_example_is_the_lan_the_integration_tests_deploy():
    example = json.loads((EXAMPLES / "switch-lan.json").read_text())
    tested = switch_lan()
    assert "description" in example and all("position" in node for node in example["nodes"])
    for node in example["nodes"]:
        node.pop("position")
    example.pop("description")
    assert sorted(example["nodes"], key=lambda n: n["name"]) == sorted(tested["nodes"], key=lambda n: n["name"])
    assert {k: v for k, v in example.items() if k != "nodes"} == {k: v for k, v in tested.items() if k != "nodes"}


def test_the_format_page_lists_every_example():
    page = (ROOT / "docs" / "topolab-v1.md").read_text()
    listed = set(re.findall(r"\]\(\.\./examples/([^)]+)\)", page))
    assert listed == {p.name for p in FILES}


# --- /help/examples/<name> ----------------------------------------------------------------------

@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_an_example_downloads_for_anybody(path):
    response = Client().get(f"/help/examples/{path.name}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == f'attachment; filename="{path.name}"'
    assert b"".join(response.streaming_content) == path.read_bytes()


@pytest.mark.parametrize("url", [
    "/help/examples/nope.json",
    "/help/examples/router-between-two-clients",
    "/help/examples/ROUTER-BETWEEN-TWO-CLIENTS.JSON",
    "/help/examples/router-between-two-clients.json/",
    "/help/examples/",
    "/help/examples/../../manage.py",
    "/help/examples/../docs/topolab-v1.md",
    "/help/examples/..%2Fdocs%2Ftopolab-v1.md",
    "/help/examples/%2e%2e%2f%2e%2e%2fmanage.py",
    "/help/examples/..",
    "/help/examples/..%5Cmanage.py",
    "/help/examples/%2Fetc%2Fpasswd",
])
def test_anything_but_an_example_is_404(url):
    assert Client().get(url).status_code == 404


def test_only_regular_json_files_of_the_folder_are_served(tmp_path, monkeypatch):
    (tmp_path / "lab.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("not a lab")
    (tmp_path / "folder.json").mkdir()
    outside = tmp_path.parent / f"{tmp_path.name}-secret.json"
    outside.write_text('{"secret": 1}')
    (tmp_path / "link.json").symlink_to(outside)
    monkeypatch.setattr(help_pages, "EXAMPLES_DIR", tmp_path)
    client = Client()
    assert client.get("/help/examples/lab.json").status_code == 200
    for name in ("notes.txt", "folder.json", "link.json"):
        assert client.get(f"/help/examples/{name}").status_code == 404, name
    monkeypatch.setattr(help_pages, "EXAMPLES_DIR", tmp_path / "missing")
    assert client.get("/help/examples/lab.json").status_code == 404


def test_examples_are_read_only():
    assert Client().post("/help/examples/router-between-two-clients.json").status_code == 405
