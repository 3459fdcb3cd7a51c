"""The document as text beside the canvas (issue 13), in a real browser against daphne: the topolab/v1 JSON (keys in
the spec's order) and the containerlab YAML (the server's conversions), checked as typed with the server's paths
and their lines, and kept in step with the canvas both ways, undo included.

The reference lab: c1 (192.168.10.2/24) -- r1 -- c2 (192.168.11.2/24).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import expect

from tests.documents import reference_document
from topology import services

from .conftest import shot
from .helpers import click_node, document, node_point, open_editor, rename_selected

HERE = Path(__file__).resolve().parent
ADDRESS = "links[0].endpoints[0].addresses[0]"  # c1's eth0 address in the reference lab


def open_text(page, topology_id: int):
    """The editor with the text pane open (T on the canvas): the pane's locator."""
    open_editor(page, topology_id)
    pane = page.locator("#text-view")
    expect(pane).to_be_hidden()
    page.locator("#cy").click(position={"x": 20, "y": 20})
    page.keyboard.press("t")
    expect(pane).to_be_visible()
    expect(page.locator("#btn-text")).to_have_attribute("aria-pressed", "true")
    page.wait_for_function("() => document.getElementById('text-area').value.length > 0")
    return pane


def text(page) -> str:
    return page.locator("#text-area").input_value()


def put_caret(page, offset: int, end: int | None = None) -> None:
    page.evaluate("([a, b]) => { const t = document.getElementById('text-area'); t.focus(); t.setSelectionRange(a, b); }",
                  [offset, offset if end is None else end])


def line_column(source: str, offset: int) -> tuple[int, int]:
    before = source[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def canvas_to_front(page) -> None:
    """Focus the canvas (an empty spot of it), as a click of the user's does, so that its keys work."""
    page.locator("#cy").click(position={"x": 12, "y": 12})


def test_the_json_is_the_document_and_typing_is_checked_with_lines_and_applied(signed_in, owner):
    page = signed_in
    topology = services.import_topology(owner, reference_document())
    pane = open_text(page, topology.pk)
    summary = pane.locator(".text-summary")
    expect(summary).to_contain_text("The document as it is on the canvas")
    source = text(page)
    assert json.loads(source) == document(page)  # the document itself
    # Keys in the spec's order, two spaces deep.
    assert source.startswith('{\n  "format": "topolab/v1",\n  "name": "router-between-two-clients",\n  "description"')
    assert '    {\n      "name": "c1",\n      "kind": "host",\n      "position": {' in source
    # The canvas stays usable beside it: narrower, the drawing whole.
    cy, box = page.locator("#cy").bounding_box(), pane.bounding_box()
    assert cy["x"] + cy["width"] <= box["x"] + 1 and box["width"] >= 260
    shot(page, "text-view-json")

    # A syntax error: its line and column; the canvas is not changed.
    before = document(page)
    at = source.index('"kind": "router"')
    put_caret(page, at)
    page.keyboard.type("x")
    line, column = line_column(source, at)
    expect(summary).to_have_text(f"Not valid JSON at line {line}:{column}: not applied to the canvas.")
    problem = pane.locator(".text-problem")
    expect(problem).to_have_count(1)
    expect(problem).to_contain_text(f"line {line}:{column}")
    expect(problem).to_contain_text("expected a key in double quotes, found 'x'")
    expect(pane.locator(f".text-gutter .text-ln.error:text-is('{line}')")).to_have_count(1)
    assert document(page) == before
    page.keyboard.press("Backspace")
    expect(summary).to_have_text("No edits: the text is the canvas's document again.")
    expect(problem).to_have_count(0)
    assert document(page) == before

    # A bad address: the server's problem at the path the canvas's check gives, on the line of that value.
    source = text(page)
    at = source.index('"192.168.10.2/24"')
    put_caret(page, at + 1, at + 1 + len("192.168.10.2/24"))
    page.keyboard.type("192.168.10.0/24")  # the network address of its subnet
    expect(summary).to_have_text("1 error: not applied to the canvas.")
    problem = pane.locator(f".text-problem[data-path='{ADDRESS}']")
    expect(problem).to_have_count(1)
    line, column = line_column(text(page), at)
    assert problem.get_attribute("data-line") == str(line)
    expect(problem).to_contain_text(f"line {line}:{column}")
    expect(problem).to_contain_text("network address")
    assert document(page) == before
    shot(page, "text-view-problem")
    # A click on the problem puts the caret on the value.
    canvas_to_front(page)
    problem.get_by_role("button").click()
    selected = page.evaluate("() => { const t = document.getElementById('text-area'); "
                             "return [document.activeElement === t, t.value.slice(t.selectionStart, t.selectionEnd)]; }")
    assert selected == [True, '"192.168.10.0/24"']

    # The same document on the canvas: its check names the same path. The text, holding edits not applied, is
    # not overwritten, and the pane says so.
    typed = text(page)
    bad = json.loads(typed)
    page.evaluate("(doc) => window.topolab.ed.commit(doc)", bad)
    page.wait_for_function("(p) => window.topolab.ed.problems.some((x) => x.path === p && x.level === 'error')", arg=ADDRESS)
    canvas_paths = page.evaluate("() => window.topolab.ed.problems.filter((x) => x.level === 'error').map((x) => x.path)")
    assert canvas_paths == [ADDRESS]
    notice = pane.locator(".text-notice")
    expect(notice).to_contain_text("The canvas changed while you edited the text")
    page.wait_for_timeout(400)  # past the text's own rewrite delay: nothing overwrites it
    assert text(page) == typed
    page.evaluate("() => window.topolab.ed.commit(window.topolab.ed.doc)")  # (once more: still not)
    notice.get_by_role("button", name="Show the canvas's document").click()
    expect(notice).to_be_hidden()
    assert json.loads(text(page)) == bad

    # Fixed in the text: the canvas gets it, one edit that Ctrl-Z on the canvas takes back, the text following.
    source = text(page)
    at = source.index('"192.168.10.0/24"')
    put_caret(page, at + 1, at + 1 + len("192.168.10.0/24"))
    page.keyboard.type("192.168.10.7/24")
    expect(summary).to_contain_text("No errors: applied to the canvas")
    page.wait_for_function("(a) => window.topolab.ed.doc.links[0].endpoints[0].addresses[0] === a", arg="192.168.10.7/24")
    expect(page.locator("#unsaved")).to_be_visible()
    canvas_to_front(page)
    page.keyboard.press("Control+z")
    assert document(page)["links"][0]["endpoints"][0]["addresses"] == ["192.168.10.0/24"]
    page.wait_for_function("() => document.getElementById('text-area').value.includes('\"192.168.10.0/24\"')")
    assert json.loads(text(page)) == document(page)
    page.keyboard.press("Control+Shift+z")
    page.wait_for_function("() => document.getElementById('text-area').value.includes('\"192.168.10.7/24\"')")

    # Closed with its button, opened with the canvas tools' one: the text is the document as it is now.
    pane.get_by_role("button", name="Close the text").click()
    expect(pane).to_be_hidden()
    expect(page.locator("#btn-text")).to_have_attribute("aria-pressed", "false")
    page.evaluate("() => window.topolab.ed.commit({...window.topolab.ed.doc, description: 'changed while closed'})")
    page.locator("#btn-text").click()
    expect(pane).to_be_visible()
    page.wait_for_function("() => document.getElementById('text-area').value.includes('changed while closed')")
    assert json.loads(text(page)) == document(page)


def test_a_node_added_in_the_text_is_drawn_and_undone_and_canvas_edits_come_back_as_text(signed_in, owner):
    page = signed_in
    topology = services.import_topology(owner, reference_document())
    pane = open_text(page, topology.pk)
    summary = pane.locator(".text-summary")

    # A node pasted into the text (no position: the canvas places it, and the text then says where).
    data = json.loads(text(page))
    data["nodes"].append({"name": "h9", "kind": "host"})
    page.locator("#text-area").fill(json.dumps(data, indent=2) + "\n")
    expect(summary).to_contain_text("No errors: applied to the canvas")
    page.wait_for_function("() => window.topolab.canvas.cy.getElementById('n:h9').nonempty()")
    assert [n["name"] for n in document(page)["nodes"]] == ["c1", "r1", "c2", "h9"]
    page.wait_for_function("() => /\"name\": \"h9\",\\s+\"kind\": \"host\",\\s+\"position\"/.test("
                           "document.getElementById('text-area').value)")
    assert json.loads(text(page)) == document(page)
    expect(pane.locator(".text-problem.warning")).to_contain_text("'h9' has no link")  # the server's warning, kept
    shot(page, "text-view-added-node")

    # Ctrl-Z on the canvas removes it, and the text follows.
    canvas_to_front(page)
    page.keyboard.press("Control+z")
    page.wait_for_function("() => window.topolab.canvas.cy.getElementById('n:h9').empty()")
    page.wait_for_function("() => !document.getElementById('text-area').value.includes('h9')")
    assert json.loads(text(page)) == document(page)
    # Ctrl-Shift-Z in the text (which says the document exactly) is the document's redo too.
    page.locator("#text-area").click()
    page.keyboard.press("Control+Shift+z")
    page.wait_for_function("() => window.topolab.canvas.cy.getElementById('n:h9').nonempty()")
    page.wait_for_function("() => document.getElementById('text-area').value.includes('h9')")

    # A drag on the canvas: the text has the new position.
    x, y = node_point(page, "c2")
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 60, y - 40, steps=8)
    page.mouse.up()
    page.wait_for_function("() => window.topolab.ed.doc.nodes[2].position.x !== 0")
    moved = document(page)["nodes"][2]["position"]
    page.wait_for_function("(p) => JSON.parse(document.getElementById('text-area').value).nodes[2].position.x === p.x", arg=moved)
    # A rename in the panel: the text follows, links included.
    click_node(page, "r1")
    rename_selected(page, "core")
    page.wait_for_function("() => document.getElementById('text-area').value.includes('\"node\": \"core\"')")
    assert json.loads(text(page)) == document(page)
    assert "r1" not in text(page)
    shot(page, "text-view-canvas-edits")


def test_containerlab_yaml_is_shown_edited_and_what_it_cannot_carry_said(signed_in, owner):
    page = signed_in
    doc = reference_document()
    doc["annotations"] = {"editor": {"note": "kept"}}
    doc["nodes"][1]["image"] = "alpine:3.20"  # not an image of this site: containerlab's file cannot keep it here
    topology = services.import_topology(owner, doc)
    pane = open_text(page, topology.pk)
    pane.get_by_text("containerlab YAML").click()
    page.wait_for_function("() => document.getElementById('text-area').value.startsWith('#')")  # the description
    expect(page.locator("#text-area")).to_have_attribute("aria-label", "The topology as containerlab YAML")
    data = yaml.safe_load(text(page))
    assert data["name"] == "router-between-two-clients"
    assert set(data["topology"]["nodes"]) == {"c1", "r1", "c2"}
    assert data["topology"]["nodes"]["c1"]["image"] == "topolab/base"
    notes = pane.locator(".text-notes")
    expect(notes).to_contain_text("What containerlab YAML does not carry (2)")
    expect(notes).to_contain_text("nodes[1].image")
    expect(notes).to_contain_text('read back, it is "topolab/base"')
    expect(notes).to_contain_text("annotations")
    shot(page, "text-view-yaml")

    # A YAML error: its line; the canvas unchanged.
    before = document(page)
    source = text(page)
    at = source.index("    c1:\n")
    put_caret(page, at)
    page.keyboard.type("  : [\n")
    line = source[:at].count("\n") + 1
    summary = pane.locator(".text-summary")
    expect(summary).to_contain_text("not applied to the canvas")
    expect(pane.locator(".text-problem.error").first).to_contain_text(f"line {line}")
    assert document(page) == before
    for _ in range(12):  # the text's own undo while it holds edits (the browser's steps: a word or a line each)
        page.keyboard.press("Control+z")
        if text(page) == source:
            break
    assert text(page) == source
    assert document(page) == before

    # c1's image edited in the YAML: the canvas's document changes, the rest kept (the annotations too).
    at = source.index("image: topolab/base")
    put_caret(page, at + len("image: "), at + len("image: topolab/base"))
    page.keyboard.type("topolab/tools")
    expect(summary).to_contain_text("No errors: applied to the canvas")
    page.wait_for_function("() => window.topolab.ed.doc.nodes[0].image === 'topolab/tools'")
    after = document(page)
    assert after["annotations"] == {"editor": {"note": "kept"}}
    assert [n["name"] for n in after["nodes"]] == ["c1", "r1", "c2"]
    assert after["links"] == before["links"]
    # The import's warning about the foreign image is shown with its line, not dropped.
    warning = pane.locator(".text-problem.warning")
    expect(warning).to_contain_text("image 'alpine:3.20' is not pulled here")
    assert text(page).splitlines()[int(warning.get_attribute("data-line")) - 1].strip() == "image: alpine:3.20"
    shot(page, "text-view-yaml-edited")

    # Ctrl-Z on the canvas: the image goes back and the YAML follows.
    canvas_to_front(page)
    page.keyboard.press("Control+z")
    page.wait_for_function("() => !window.topolab.ed.doc.nodes[0].image")
    page.wait_for_function("() => !document.getElementById('text-area').value.includes('topolab/tools')")

    # Back to JSON, with edits not applied: the switch asks first.
    page.locator("#text-area").click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\n: broken")
    expect(summary).to_contain_text("not applied")
    pane.get_by_text("JSON", exact=True).click()
    notice = pane.locator(".text-notice")
    expect(notice).to_contain_text("Switching to topolab/v1 JSON drops them")
    assert pane.locator("input[value=clab]").is_checked()
    notice.get_by_role("button", name="Drop them and switch").click()
    page.wait_for_function("() => document.getElementById('text-area').value.startsWith('{')")
    assert json.loads(text(page)) == document(page)


KEY_DELAYS = """(id) => {
  window.keyDelays = [];
  document.getElementById(id).addEventListener('keydown', () => { const t0 = performance.now();
    requestAnimationFrame(() => setTimeout(() => window.keyDelays.push(performance.now() - t0))); });
}"""


def typing_delays(page, area_id: str, at: int, keys: str) -> list[float]:
    """How long after each key its frame is drawn, typing ``keys`` into the textarea ``area_id`` at offset ``at``."""
    page.evaluate("([id, at]) => { const t = document.getElementById(id); t.focus(); t.setSelectionRange(at, at); }",
                  [area_id, at])
    page.evaluate(KEY_DELAYS, area_id)
    page.keyboard.type(keys, delay=60)
    page.wait_for_function("(n) => window.keyDelays.length === n", arg=len(keys))
    return sorted(page.evaluate("() => window.keyDelays"))


def test_a_large_document_is_typed_in_as_fast_as_a_plain_textarea(signed_in, owner):
    from bench.topologies import generated

    page = signed_in
    page.set_default_timeout(60_000)  # 500 nodes on a shared machine
    topology = services.import_topology(owner, generated(500, 600, True))
    open_editor(page, topology.pk)
    # Closed, the text costs the canvas nothing: no text is written for the canvas's edits.
    page.evaluate("() => window.topolab.ed.commit(window.topolab.ed.doc)")
    page.wait_for_timeout(300)
    assert page.locator("#text-area").input_value() == ""
    pane = open_text(page, topology.pk)
    assert text(page).count("\n") > 10_000
    assert pane.locator(".text-gutter .text-ln").count() < 80  # the visible line numbers only
    shot(page, "text-view-500-nodes")
    # The same text in a plain textarea of the same size, nothing attached: typing in the text view must cost
    # about what typing there does (a machine's load slows both alike).
    page.evaluate("""() => { const t = document.getElementById('text-area'); const p = document.createElement('textarea');
      p.id = 'plain-area'; p.wrap = 'off'; p.className = 'text-area'; p.value = t.value;
      t.parentElement.append(p); t.hidden = true; }""")
    at = text(page).index('"name": "bench') + len('"name": "')
    plain = typing_delays(page, "plain-area", at, "abcdefghijkl")
    page.evaluate("() => { document.getElementById('plain-area').remove(); "
                  "document.getElementById('text-area').hidden = false; }")
    # Into the document's name (the check waits for a pause, and the keys come faster than that).
    mine = typing_delays(page, "text-area", at, "abcdefghijkl")
    median = lambda values: values[len(values) // 2]  # noqa: E731
    assert median(mine) < 2 * median(plain) + 40, (mine, plain)
    expect(pane.locator(".text-summary")).to_contain_text("applied to the canvas", timeout=60_000)
    assert document(page)["name"] == "abcdefghijklbench-500-600"


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed (compose/lib.sh installs it)")
def test_it_passes_the_text_view_unit_tests():
    result = subprocess.run(["node", "--test", str(HERE / "js" / "text-view.test.js")], capture_output=True, text=True,
                            timeout=120, cwd=HERE.parents[1], env=dict(os.environ))
    assert result.returncode == 0, result.stdout + result.stderr
