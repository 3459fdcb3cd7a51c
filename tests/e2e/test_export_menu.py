"""The Export menu (issue 15) on the topologies page and in the editor, in a real browser: a button opening
Topolab JSON, containerlab and Kathará, worked by the keyboard (Enter opens on the first format, the arrows
move, Escape closes and gives the button the focus back) and by the mouse; each format downloads the saved
topology, and what the other tool does not carry (a node name of 31 characters, Kathará's limit being 30; an
env value with quotes; a process limit) is listed after the download with the document's path.
"""
from __future__ import annotations

import io
import json
import re
import zipfile

import yaml
from playwright.sync_api import expect

from topology import services

from .conftest import shot
from .helpers import open_editor

LONG = "r" + "0123456789" * 3  # 31 characters: topolab takes it, Kathará does not


def document() -> dict:
    return {"format": "topolab/v1", "name": "export-me", "description": "Two hosts, one long name.",
            "nodes": [{"name": LONG, "kind": "host", "position": {"x": 100, "y": 100},
                       "env": {"GREETING": 'say "hi"', "PLAIN": "ok"}},
                      {"name": "b", "kind": "host", "position": {"x": 300, "y": 100}, "resources": {"pids": 64}}],
            "links": [{"endpoints": [{"node": LONG, "interface": "eth0", "addresses": ["10.0.0.1/24"]},
                                     {"node": "b", "interface": "eth0", "addresses": ["10.0.0.2/24"]}]}]}


def read_zip(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def test_the_list_pages_export_menu_downloads_three_formats_and_says_what_kathara_loses(signed_in, owner):
    page = signed_in
    topology = services.import_topology(owner, document())
    page.reload()
    toggle = page.locator("tr[data-name='export-me'] .export-toggle")
    items = page.locator("tr[data-name='export-me'] .export-items")
    expect(toggle).to_have_attribute("aria-expanded", "false")

    # The keyboard: Enter opens on the first format, the arrows move, Escape closes and the button has the focus.
    toggle.focus()
    page.keyboard.press("Enter")
    expect(items).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(items.get_by_role("button", name=re.compile("^Topolab JSON"))).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    kathara = items.get_by_role("button", name=re.compile("^Kathará"))
    expect(kathara).to_be_focused()
    shot(page, "export-menu-list-open")
    page.keyboard.press("Escape")
    expect(items).to_be_hidden()
    expect(toggle).to_be_focused()

    # Kathará from the keyboard: a zip Kathará reads (its device names are at most 30 characters), and the
    # warnings, each with its path, in the page's message box.
    page.keyboard.press("ArrowUp")  # opens on the last format: Kathará
    expect(kathara).to_be_focused()
    with page.expect_download() as caught:
        page.keyboard.press("Enter")
    download = caught.value
    assert download.suggested_filename == "export-me.kathara.zip"
    files = read_zip(download.path())
    conf = files["lab.conf"].decode()
    devices = {m.group(1) for m in re.finditer(r"^([a-z0-9_]+)\[", conf, re.M)}
    assert devices == {LONG[:30], "b"}, conf
    assert f'{LONG[:30]}[env]="PLAIN=ok"' in conf
    assert "export GREETING='say \"hi\"'" in files[f"{LONG[:30]}.startup"].decode()
    report = page.locator("#list-message .notice")
    expect(report).to_contain_text("Downloaded export-me.kathara.zip. Kathará does not carry all of it")
    expect(report).to_contain_text("nodes[0].name")
    expect(report).to_contain_text("at most 30 characters")
    expect(report).to_contain_text("nodes[0].env.GREETING")
    expect(report).to_contain_text("nodes[1].resources.pids")
    expect(toggle).to_be_focused()
    shot(page, "export-menu-list-kathara")

    # containerlab with the mouse: the long name as it is; the process limit said.
    toggle.click()
    expect(items).to_be_visible()
    with page.expect_download() as caught:
        items.get_by_role("button", name=re.compile("^containerlab")).click()
    expect(items).to_be_hidden()
    assert caught.value.suggested_filename == "export-me.clab.yml"
    clab = yaml.safe_load(open(caught.value.path(), encoding="utf-8"))
    assert set(clab["topology"]["nodes"]) == {LONG, "b"}
    expect(report).to_contain_text("Downloaded export-me.clab.yml. containerlab does not carry all of it (1 thing)")
    expect(report).to_contain_text("nodes[1].resources.pids")

    # Topolab JSON: the document whole, and nothing lost.
    toggle.click()
    with page.expect_download() as caught:
        items.get_by_role("button", name=re.compile("^Topolab JSON")).click()
    assert caught.value.suggested_filename == "export-me.json"
    assert json.loads(open(caught.value.path(), encoding="utf-8").read()) == topology.document
    expect(report).to_have_text(re.compile(r"^Downloaded export-me\.json\."))

    # A click elsewhere closes the list.
    toggle.click()
    expect(items).to_be_visible()
    page.locator("h1").click()
    expect(items).to_be_hidden()


def test_the_editors_export_menu_says_unsaved_changes_are_not_in_it_and_lists_the_losses(signed_in, owner):
    page = signed_in
    topology = services.import_topology(owner, document())
    open_editor(page, topology.pk)
    toggle = page.locator(".toolbar .export-toggle")
    items = page.locator(".toolbar .export-items")
    toggle.click()
    expect(items).to_be_visible()
    expect(items.locator(".export-note")).to_be_hidden()  # nothing unsaved
    page.keyboard.press("Escape")
    expect(items).to_be_hidden()

    # An unsaved change: the list says the download is the saved topology.
    page.evaluate("() => { const ed = window.topolab.ed; ed.commit({...ed.doc, description: 'Changed, not saved.'}); }")
    expect(page.locator("#unsaved")).to_be_visible()
    toggle.click()
    expect(items.locator(".export-note")).to_be_visible()
    expect(items.locator(".export-note")).to_contain_text("Unsaved changes are not in the download")
    shot(page, "export-menu-editor-open")
    with page.expect_download() as caught:
        items.get_by_role("button", name=re.compile("^Kathará")).click()
    files = read_zip(caught.value.path())
    assert "LAB_DESCRIPTION=\"Two hosts, one long name.\"" in files["lab.conf"].decode()  # the saved one
    report = page.locator("#export-report .notice")
    expect(report).to_contain_text("Downloaded export-me.kathara.zip")
    expect(report).to_contain_text("nodes[0].name")
    expect(report).to_contain_text("the positions of 2 nodes")
    shot(page, "export-menu-editor-report")
    report.get_by_role("button", name="Dismiss").click()
    expect(page.locator("#export-report .notice")).to_have_count(0)
    data = io.BytesIO(open(caught.value.path(), "rb").read())
    assert zipfile.is_zipfile(data)
