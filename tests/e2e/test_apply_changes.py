"""Apply changes from the editor (issue 12), in a real browser, on the reference lab's real containers:

    c1 (192.168.10.2/24) --eth0-- r1 --eth1-- c2 (192.168.11.2/24)     + c3 (192.168.12.2/24) on r1 eth2
                         .10.1/24    .11.1/24                                                   .12.1/24

A person draws a third client c3 on the running lab, links it to r1 and addresses both ends from the panel,
saves: the toolbar says how many changes the lab does not run yet. "Apply changes…" shows them grouped (c3
under nodes created, its link under links added), Apply runs them live in the dock's log like a deploy, c3
turns running on the canvas, and c1's console reaches c3. Then an env variable on c2: the dialog says c2
restarts, and why. A failing command added to c2 makes the apply fail: the lab's reason says so in the
status line (the lab still runs as before; c1 still reaches c2). Refusals (400 by path, 409) show in the
dialog. Screenshots of the dialog go to tests/artifacts/.

Also here: the pure functions of static/topolab/apply-changes.js under node's test runner.
"""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.documents import reference_document
from topology.models import Lab

from .conftest import shot
from .helpers import (
    canvas_box,
    click_node,
    document,
    drop_kind,
    link,
    needs_node,
    node_states,
    open_editor,
    rename_selected,
    run_js_tests,
)
from .test_console import SHELL, open_console_by_double_click, screen, type_in

APPLY = 120_000  # ms: an apply that creates a node (or fails and puts one back)
LAB_SETTLED = "() => window.topolab.ed.lab.state === 'running' && !window.topolab.ed.lab.busy"


def save(page) -> None:
    """Ctrl-S from the canvas, and wait until the editor has the document saved."""
    page.locator("#cy").focus()
    page.keyboard.press("Control+s")
    page.wait_for_function("() => !window.topolab.ed.saving && JSON.stringify(window.topolab.ed.doc) === window.topolab.ed.saved")
    expect(page.locator("#unsaved")).to_be_hidden()


def group(page, key: str):
    return page.locator(f"#apply-dialog .apply-group[data-group='{key}']")


def open_dialog(page):
    page.get_by_role("button", name="Apply changes…").click()
    dialog = page.locator("#apply-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).not_to_have_attribute("aria-busy", "true", timeout=SHELL)
    return dialog


def draw_c3(page) -> None:
    """A host right of r1, named c3, linked to r1 (c3 eth0 - r1 eth2), both ends addressed and c3 routed, in the panel."""
    box = canvas_box(page)
    r1 = page.evaluate("() => window.topolab.canvas.cy.getElementById('n:r1').renderedPosition()")
    drop_kind(page, "host", min(r1["x"] + 220, box["width"] - 60), r1["y"])
    rename_selected(page, "c3")
    link(page, "c3", "r1")
    c3_link = [i for i, lk in enumerate(document(page)["links"]) if {e["node"] for e in lk["endpoints"]} == {"c3", "r1"}]
    assert c3_link == [2], document(page)["links"]
    click_node(page, "c3")
    panel = page.locator("#panel")
    panel.get_by_label("Addresses").nth(0).fill("192.168.12.2/24")
    panel.get_by_role("button", name="+ via a gateway").click()
    panel.get_by_label("Via").fill("192.168.12.1")
    click_node(page, "r1")
    panel.get_by_label("Addresses").nth(2).fill("192.168.12.1/24")  # r1's third interface: eth2, to c3
    page.wait_for_function("() => window.topolab.ed.doc.links[2].endpoints.every((e) => (e.addresses || []).length)")


def test_a_third_client_drawn_on_the_running_lab_is_applied_live_and_reached(signed_in, labs, relay):
    page = signed_in
    lab = labs.deploy(reference_document())
    # Once the page knows the lab runs, it asks what the saved document would change: nothing.
    with page.expect_response(lambda r: "/apply?dry_run=true" in r.url, timeout=SHELL) as first:
        open_editor(page, lab.topology_id)
    assert first.value.status == 200 and first.value.json()["nothing_to_do"] is True, first.value.json()
    page.wait_for_function(LAB_SETTLED)
    indicator = page.locator("#apply-indicator")
    # Running as drawn: nothing to say, nothing to apply (the header has no room for words that say nothing).
    expect(indicator).to_be_hidden()
    expect(page.locator("#apply-wrap")).to_be_hidden()
    expect(page.get_by_role("button", name="Deploy ▶")).to_be_disabled()  # Deploy stays as it was
    before = {n.name: n.container_id for n in lab.nodes.all()}

    draw_c3(page)
    # Unsaved edits: "Apply changes…" is there (it saves first); what the lab lacks is said once saved.
    expect(page.locator("#btn-apply")).to_be_enabled()
    expect(page.locator("#unsaved")).to_be_visible()
    save(page)
    expect(indicator).to_have_text(re.compile(r"^\d+ changes not applied$"), timeout=SHELL)
    expect(indicator).to_have_attribute("data-level", "warning")
    # Saving a running lab's topology says what happened to the change.
    expect(page.locator("#dock-status")).to_contain_text("the running lab does not have it yet")
    expect(page.locator("#btn-apply")).to_be_enabled()

    dialog = open_dialog(page)
    expect(group(page, "nodes_created")).to_contain_text("c3")
    expect(group(page, "links_added")).to_contain_text("c3:eth0 - r1:eth2")
    expect(group(page, "addresses_added")).to_contain_text("c3:eth0 192.168.12.2/24")
    # r1's end of the new link: the server does not list it under addresses (yet); the link says it, from the document.
    expect(group(page, "links_added")).to_contain_text("c3 192.168.12.2/24 · r1 192.168.12.1/24")
    expect(group(page, "nodes_restarted")).to_have_count(0)  # nothing that runs restarts
    expect(page.locator("#apply-confirm")).to_be_focused()
    shot(page, "apply-dialog-c3")
    # Escape closes it, nothing applied; the keyboard opens it again.
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert Lab.objects.get(pk=lab.pk).state == "running"
    page.locator("#btn-apply").focus()
    page.keyboard.press("Enter")
    expect(dialog).to_be_visible()
    expect(group(page, "nodes_created")).to_contain_text("c3")

    # Apply: the dialog closes, the lab's log and progress show it live, and it ends running as drawn.
    page.locator("#apply-confirm").click()
    expect(dialog).to_be_hidden()
    page.wait_for_function("() => window.topolab.ed.states.c3?.state === 'running'", timeout=APPLY)
    page.wait_for_function(LAB_SETTLED, timeout=APPLY)
    expect(page.locator("#dock-body")).to_contain_text("apply requested")
    expect(page.locator("#dock-body")).to_contain_text("c3")
    assert node_states(page)["c3"] == "running"
    expect(page.locator("#lab-state")).to_have_text("running")
    expect(page.locator("#dock-status")).to_have_text(re.compile("Changes applied"))
    expect(indicator).to_be_hidden(timeout=SHELL)  # nothing left to apply
    expect(page.locator("#apply-wrap")).to_be_hidden()
    progress = page.locator("#progress-text").inner_text().split("/")
    assert progress[0] == progress[1], progress
    shot(page, "apply-done-c3-running")
    after = {n.name: n.container_id for n in Lab.objects.get(pk=lab.pk).nodes.all()}
    assert all(after[name] == container for name, container in before.items()), (before, after)  # none restarted

    c1 = open_console_by_double_click(page, "c1")
    type_in(c1, page, "ping -c 1 -W 2 192.168.12.2")
    expect(screen(c1)).to_contain_text(re.compile(r"from 192\.168\.12\.2: icmp_seq=1 ttl=63\b"), timeout=SHELL)

    # An env variable on c2: the dialog says c2 restarts, and why.
    click_node(page, "c2")
    panel = page.locator("#panel")
    env = panel.locator("details.section", has=page.locator("summary", has_text="Environment"))
    env.locator("summary").click()
    env.get_by_role("button", name="+ add").click()
    env.get_by_label("Variable key").fill("GREETING")
    env.get_by_label("Variable value").fill("hello")
    page.wait_for_function("() => window.topolab.ed.doc.nodes.find((n) => n.name === 'c2').env?.GREETING === 'hello'")
    save(page)
    expect(indicator).to_have_text(re.compile(r"changes? not applied$"), timeout=SHELL)
    open_dialog(page)
    restarted = group(page, "nodes_restarted")
    expect(restarted).to_contain_text("c2")
    expect(restarted).to_contain_text("env changed")
    expect(page.locator("#apply-summary")).to_contain_text("restarted")
    shot(page, "apply-dialog-c2-restarts")

    # Refusals in the dialog: a 400's problems outlined where they are, a 409's words.
    page.keyboard.press("Escape")
    api = re.compile(r".*/api/v1/topologies/\d+/apply.*")
    page.route(api, lambda route: route.fulfill(status=400, content_type="application/json", json={
        "errors": [{"path": "nodes[3].image", "message": "refused for this test"}]}))
    open_dialog(page)
    expect(page.locator("#apply-summary")).to_have_text(re.compile("Cannot be applied: 1 problem"))
    expect(page.locator("#apply-body")).to_contain_text("c3")
    expect(page.locator("#apply-body")).to_contain_text("refused for this test")
    expect(page.locator("#apply-confirm")).to_be_disabled()
    page.wait_for_function("() => window.topolab.canvas.cy.getElementById('n:c3').hasClass('error')")
    shot(page, "apply-dialog-refused-400")
    page.keyboard.press("Escape")
    page.unroute(api)
    page.route(api, lambda route: route.fulfill(status=409, content_type="application/json", json={
        "detail": "the lab is stopped: Apply changes is for a running lab (save and deploy instead)"}))
    open_dialog(page)
    expect(page.locator("#apply-summary")).to_have_text(re.compile("Cannot be applied: the lab is stopped"))
    page.keyboard.press("Escape")
    page.unroute(api)

    # A command that fails on c2: the apply fails, the lab runs as before and the page says so.
    click_node(page, "c2")
    commands = panel.locator("details.section", has=page.locator("summary", has_text="Commands"))
    commands.locator("summary").click()
    commands.locator("textarea").fill("echo no way >&2; exit 5")
    page.wait_for_function("() => (window.topolab.ed.doc.nodes.find((n) => n.name === 'c2').exec || []).length === 1")
    save(page)
    open_dialog(page)
    expect(restarted).to_contain_text("exec commands changed")
    page.locator("#apply-confirm").click()
    expect(page.locator("#apply-dialog")).to_be_hidden(timeout=SHELL)  # queued
    page.wait_for_function(LAB_SETTLED, timeout=APPLY)
    status = page.locator("#dock-status")
    expect(status).to_have_text(re.compile("^The changes were not applied: .*no way.*the lab runs as before"), timeout=SHELL)
    expect(status).to_have_attribute("data-level", "error")
    expect(page.locator("#lab-state")).to_have_text("running")
    expect(indicator).to_have_text(re.compile(r"changes? not applied$"), timeout=SHELL)
    expect(indicator).to_have_attribute("data-level", "error")
    expect(indicator).to_have_attribute("title", re.compile("The last apply failed: the changes were not applied"))
    shot(page, "apply-failed-reason")
    page.wait_for_function("() => window.topolab.ed.states.c2?.state === 'running'", timeout=SHELL)
    c1 = open_console_by_double_click(page, "c1")  # the apply put the dock's Events in front: c1's console again
    type_in(c1, page, "ping -c 1 -W 2 192.168.11.2")
    expect(screen(c1)).to_contain_text(re.compile(r"from 192\.168\.11\.2: icmp_seq=1 ttl=63\b"), timeout=SHELL)


@needs_node
def test_it_passes_the_apply_changes_unit_tests():
    run_js_tests("apply-changes.test.js")
