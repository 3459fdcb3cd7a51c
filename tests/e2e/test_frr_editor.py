"""FRR in the editor (issue 12), in a real browser on real FRR nodes (examples/frr-ospf-triangle.json, deployed
through the real lab worker; FRR's checker and the running configurations through the real exec worker):

- f1's panel has an FRR section: Starting config… → OSPF and BGP → Make it shows the generated frr.conf and daemons (the
  server's, from the saved document); Use it asks first (f1 has an frr.conf) and then the node's files are those;
- Check with FRR: "FRR accepts this configuration"; a broken line: the error with its line number and the line's
  text, and a click on it selects that line in the file's text area;
- on the running lab, a route added to f1's running configuration through vtysh on the node: Save configs… saves
  the editor's changes first, shows each node's diff (f1's added line in green), Save writes it into the
  topology and the panel shows f1's new frr.conf;
- a "vtysh" console (its own dock tab "f1 · vtysh", beside the shell) once the web side passes `program` on
  (skipped until topology/websockets/console.py knows it: the lead adds it).

Also here: the pure functions of static/topolab/frr-panel.js under node's test runner.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from topology import frr, kinds, schema
from topology.models import Topology

from .conftest import shot
from .helpers import click_node, needs_node, open_editor, run_js_tests
from .test_console import SHELL, screen, tab, type_in

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EXAMPLE = ROOT / "examples" / "frr-ospf-triangle.json"
CHECK = 45_000  # ms: FRR's checker in a throwaway container (its first start may pull nothing but still takes seconds)
ROUTE = "ip route 10.99.0.0/24 blackhole"
BROKEN = " this is not frr"
# The web side passes ?program=vtysh to the relay once the console's consumer knows it (the lead's part).
VTYSH_READY = "program" in (ROOT / "topology" / "websockets" / "console.py").read_text()

FRR_CONF = """(name) => {
    const n = window.topolab.ed.doc.nodes.find((x) => x.name === name);
    const f = (n.files || []).find((x) => x.path === '/etc/frr/frr.conf');
    return f ? f.content : null;
}"""


def example() -> dict:
    return json.loads(EXAMPLE.read_text())


def starting_files(document: dict, node: str, daemons: list[str]) -> list[dict]:
    """What the server makes for the node (topology.frr's own function, on the same document)."""
    parsed = schema.parse(document)
    return frr.starting_config(parsed, node, daemons, {n.name: kinds.kind(n.kind) for n in parsed.nodes})


def frr_section(page):
    return page.locator("#panel .frr-tools")


def conf_area(page, name: str):
    """The text area of the node's frr.conf in its panel's Files section."""
    index = page.evaluate("(name) => window.topolab.ed.doc.nodes.find((x) => x.name === name).files"
                          ".findIndex((f) => f.path === '/etc/frr/frr.conf')", name)
    assert index >= 0
    return page.locator(f"#panel textarea[data-key='node.file{index}.content']")


def open_lab(page, labs, document: dict):
    lab = labs.deploy(document)
    assert lab.state == "running", lab.reason
    open_editor(page, lab.topology_id)
    page.wait_for_function("() => window.topolab.ed.lab.state === 'running' && window.topolab.ed.states.f1?.state === 'running'")
    return lab


def test_starting_config_check_with_frr_and_save_configs_in_the_editor(signed_in, labs):
    page = signed_in
    document = example()
    lab = open_lab(page, labs, document)
    topology = Topology.objects.get(pk=lab.topology_id)
    # Only an frr node has the section; h1 has none.
    click_node(page, "h1")
    expect(page.locator("#panel .panel-head")).to_contain_text("h1 · host")
    expect(frr_section(page)).to_have_count(0)
    expect(page.locator("#panel .node-actions").get_by_role("button", name="vtysh")).to_have_count(0)

    page.wait_for_timeout(600)  # two clicks in quick succession on the canvas are a double-click (a console)
    click_node(page, "f1")
    section = frr_section(page)
    expect(section).to_be_visible()
    expect(page.locator("#panel .node-actions").get_by_role("button", name="vtysh")).to_be_visible()
    expect(conf_area(page, "f1")).to_be_visible()  # the Files section is open on an frr node

    # Starting config… → OSPF (chosen already) and BGP → Make it: the server's files for f1, shown before anything changes.
    section.get_by_role("button", name="Starting config…").click()
    chooser = section.locator(".frr-chooser")
    expect(chooser.get_by_label("OSPF")).to_be_checked()
    expect(chooser.get_by_label("BGP")).not_to_be_checked()
    chooser.get_by_label("BGP").check()  # the example's f1 runs OSPF as its starting config would: BGP as well
    chooser.get_by_role("button", name="Make it").click()
    wanted = starting_files(document, "f1", ["ospf", "bgp"])
    expect(chooser.locator(".frr-generated")).to_have_count(len(wanted))
    for i, f in enumerate(wanted):
        expect(chooser.locator(".frr-generated .frr-path").nth(i)).to_have_text(f["path"])
        assert chooser.locator(".frr-generated pre").nth(i).text_content() == f["content"]
    conf = next(f["content"] for f in wanted if f["path"] == frr.CONF)
    assert conf != page.evaluate(FRR_CONF, "f1")
    shot(page, "frr-starting-config")

    # Use it: f1 has an frr.conf, so it asks first; Replace puts the starting files in (the document, not yet saved).
    chooser.get_by_role("button", name="Use it").click()
    expect(chooser.locator(".frr-confirm")).to_have_text("Replace f1's /etc/frr/frr.conf? Its other files stay.")
    assert page.evaluate(FRR_CONF, "f1") == next(f["content"] for f in document["nodes"][0]["files"])  # not yet
    chooser.get_by_role("button", name="Replace").click()
    expect(section.locator(".frr-chooser")).to_have_count(0)
    assert page.evaluate(FRR_CONF, "f1") == conf
    files = page.evaluate("() => window.topolab.ed.doc.nodes.find((x) => x.name === 'f1').files")
    assert {f["path"] for f in files} == {f["path"] for f in wanted}
    expect(conf_area(page, "f1")).to_have_value(conf)
    expect(page.locator("#unsaved")).to_be_visible()

    # Check with FRR: accepted.
    section.get_by_role("button", name="Check with FRR").click()
    expect(section.locator(".frr-check .frr-ok")).to_have_text("✓ FRR accepts this configuration.", timeout=CHECK)
    expect(section.locator(".frr-check .frr-bad")).to_have_count(0)
    expect(section.locator(".frr-stale")).to_be_hidden()
    shot(page, "frr-check-ok")

    # A broken line: FRR's error with its line, the line's text under it; a click selects it in the file.
    broken = conf.replace("router ospf\n", f"router ospf\n{BROKEN}\n", 1)
    line = broken.split("\n").index(BROKEN) + 1
    conf_area(page, "f1").fill(broken)
    expect(section.locator(".frr-stale")).to_be_visible()  # the old answer says it is about an older file
    section.get_by_role("button", name="Check with FRR").click()
    error = section.locator(".frr-err")
    expect(error).to_have_count(1, timeout=CHECK)
    expect(section.locator(".frr-bad")).to_have_text("✕ FRR refuses this configuration: 1 error.")
    expect(error).to_have_attribute("data-line", str(line))
    expect(error.locator(".frr-line")).to_have_text(f"line {line}")
    expect(error.locator(".frr-msg")).to_contain_text("this is not frr")
    expect(error.locator(".frr-here")).to_have_text(f"{line}{BROKEN}")
    section.locator(".frr-check").scroll_into_view_if_needed()
    shot(page, "frr-check-error")
    error.locator(".frr-line").click()
    selected = conf_area(page, "f1").evaluate("(t) => t.value.slice(t.selectionStart, t.selectionEnd)")
    assert selected == BROKEN
    shot(page, "frr-check-error-line-selected")
    conf_area(page, "f1").fill(conf)  # mended again: the document has the starting config, unsaved

    # The running f1 gets a route nobody wrote into the topology.
    code, out = labs.run(lab, "f1", "vtysh", "-c", "configure terminal", "-c", ROUTE)
    assert code == 0, out

    # Save configs…: the editor's changes are saved first, then each running frr node's diff.
    expect(page.locator("#btn-frr-save")).to_be_enabled()
    page.locator("#btn-frr-save").click()
    dialog = page.locator("#frr-save-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator(".frr-node-diff")).to_have_count(3, timeout=30_000)
    expect(dialog.locator(".frr-save-summary")).to_contain_text("Your changes were saved first.")
    topology.refresh_from_db()
    assert next(f["content"] for f in topology.document["nodes"][0]["files"] if f["path"] == frr.CONF) == conf
    f1 = dialog.locator(".frr-node-diff[data-node='f1']")
    expect(f1).to_have_attribute("data-changed", "true")
    expect(f1.locator(".frr-tag")).to_have_text("changed")
    expect(f1.locator(".d-add", has_text=ROUTE)).to_have_count(1)
    expect(f1.locator(".d-meta").first).to_contain_text("f1:/etc/frr/frr.conf (document)")
    colours = f1.locator(".d-add").first.evaluate("(e) => [getComputedStyle(e).color, getComputedStyle(e.closest('pre')).color]")
    assert colours[0] != colours[1], colours  # added lines stand out
    expect(dialog.get_by_role("button", name="Save", exact=True)).to_be_enabled()
    shot(page, "frr-save-configs-diff")

    dialog.get_by_role("button", name="Save", exact=True).click()
    expect(dialog).to_be_hidden(timeout=30_000)
    expect(page.locator("#dock-status")).to_contain_text("Saved the running configs of f1")
    topology.refresh_from_db()
    saved = next(f["content"] for f in topology.document["nodes"][0]["files"] if f["path"] == frr.CONF)
    assert ROUTE in saved.splitlines()
    # The editor has the server's document: f1's panel shows the new frr.conf, nothing unsaved.
    expect(conf_area(page, "f1")).to_have_value(saved)
    assert page.evaluate(FRR_CONF, "f1") == saved
    expect(page.locator("#unsaved")).to_be_hidden()
    expect(page.locator("#dock-tabs .dock-tab[data-key]")).to_have_count(0)  # no console was opened on the way
    shot(page, "frr-saved-configs")

    # Again: nothing left to save.
    page.locator("#btn-frr-save").click()
    expect(dialog.locator(".frr-save-summary")).to_contain_text("nothing to save", timeout=30_000)
    expect(dialog.get_by_role("button", name="Save", exact=True)).to_be_disabled()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()


def one_router() -> dict:
    """f1 alone, running OSPF on no interface: a quick FRR node for a console."""
    conf = "hostname f1\nrouter ospf\n ospf router-id 10.9.9.9\nexit\n"
    return {"format": "topolab/v1", "name": "frr-vtysh",
            "nodes": [{"name": "f1", "kind": "frr", "files": [{"path": frr.CONF, "content": conf}]}]}


BAD = "hostname f1\nrouter ospf\n ospf router-id 10.0.0.1\n this is not frr\n"


def test_a_deploy_that_fails_at_frrs_check_shows_the_line_in_the_nodes_panel(signed_in, labs):
    page = signed_in
    lab = labs.deploy({"format": "topolab/v1", "name": "frr-bad",
                       "nodes": [{"name": "f1", "kind": "frr", "files": [{"path": frr.CONF, "content": BAD}]}]})
    assert lab.state == "failed" and "line 4" in lab.reason, lab.reason
    open_editor(page, lab.topology_id)
    page.wait_for_function("() => window.topolab.ed.states.f1?.state === 'failed'")
    click_node(page, "f1")
    failed = frr_section(page).locator(".frr-deploy-failed")
    expect(failed.locator(".frr-bad")).to_have_text(f"✕ The deploy stopped at FRR's check of {frr.CONF}:")
    expect(failed.locator(".frr-err")).to_have_attribute("data-line", "4")
    expect(failed.locator(".frr-msg")).to_contain_text("this is not frr")
    expect(failed.locator(".frr-here")).to_have_text(f"4{BROKEN}")
    failed.locator(".frr-line").click()
    assert conf_area(page, "f1").evaluate("(t) => t.value.slice(t.selectionStart, t.selectionEnd)") == BROKEN
    failed.scroll_into_view_if_needed()
    shot(page, "frr-deploy-failed-line")
    # Mended, the panel says the deploy's answer is about the file as it was.
    conf_area(page, "f1").fill(BAD.replace(BROKEN + "\n", ""))
    click_node(page, "f1")  # drawn again
    expect(failed).to_contain_text(f"{frr.CONF} changed since the deploy.")


def test_the_vtysh_button_asks_for_vtysh_in_a_console_tab_of_its_own(signed_in, labs, relay):
    page = signed_in
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    open_lab(page, labs, one_router())
    click_node(page, "f1")
    page.locator("#panel .node-actions").get_by_role("button", name="vtysh").click()
    expect(tab(page, "f1", "vtysh").locator(".tab-label")).to_have_text("f1 · vtysh")
    vtysh = page.locator("#dock-terms .term-pane[data-key='vtysh:f1']")
    expect(vtysh.locator(".term-title")).to_have_text("f1 · vtysh")
    expect(vtysh.get_by_role("button", name="Pop out f1 · vtysh")).to_have_count(1)  # it pops out as vtysh too
    page.wait_for_function("() => window.topolab.dock.terms.get('vtysh:f1')?.session?.ws")
    asked = [u for u in sockets if "/nodes/f1/console?" in u]
    assert len(asked) == 1 and "program=vtysh" in asked[0], sockets
    page.locator("#panel .node-actions").get_by_role("button", name="Console").click()
    expect(tab(page, "f1")).to_have_attribute("data-state", "open", timeout=SHELL)
    expect(tab(page, "f1").locator(".tab-label")).to_have_text("f1")
    asked = [u for u in sockets if "/nodes/f1/console?" in u]
    assert len(asked) == 2 and "program=" not in asked[1], sockets


@pytest.mark.skipif(not VTYSH_READY, reason="the console's web side does not pass ?program=vtysh to the relay yet")
def test_a_vtysh_console_is_a_tab_of_its_own_beside_the_shell(signed_in, labs, relay):
    page = signed_in
    open_lab(page, labs, one_router())
    click_node(page, "f1")
    page.locator("#panel .node-actions").get_by_role("button", name="vtysh").click()
    expect(tab(page, "f1", "vtysh")).to_have_attribute("data-state", "open", timeout=SHELL)
    expect(tab(page, "f1", "vtysh").locator(".tab-label")).to_have_text("f1 · vtysh")
    vtysh = page.locator("#dock-terms .term-pane[data-key='vtysh:f1']")
    expect(vtysh.locator(".term-title")).to_have_text("f1 · vtysh")
    type_in(vtysh, page, "show running-config")
    expect(screen(vtysh)).to_contain_text("ospf router-id 10.9.9.9", timeout=SHELL)
    shot(page, "frr-vtysh-console")

    # The shell is another tab, another program.
    page.locator("#panel .node-actions").get_by_role("button", name="Console").click()
    expect(tab(page, "f1")).to_have_attribute("data-state", "open", timeout=SHELL)
    expect(page.locator("#dock-tabs .dock-tab[data-key$=':f1']")).to_have_count(2)
    shell = page.locator("#dock-terms .term-pane[data-key='console:f1']")
    type_in(shell, page, "echo shell-$((6*7))")
    expect(screen(shell)).to_contain_text("shell-42", timeout=SHELL)


@needs_node
def test_it_passes_the_frr_panel_unit_tests():
    run_js_tests("frr-panel.test.js")
