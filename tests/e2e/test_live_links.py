"""Links changed live from the editor (issue 11), in a real browser, on the reference lab's real containers:

    c1 (192.168.10.2/24) --eth0-- r1 --eth1-- c2 (192.168.11.2/24)

A person pings c2 from c1's console in the dock, selects the link r1-c2, sets it down from its panel
and sees the pings stop (and the link dashed); sets it up and sees them come back. The console is
read from xterm's own buffer (scrollback included), so no line is missed by scrolling.

Also here: the impairment fields on this host (what /api/v1/capabilities says it cannot do is
disabled, with the reason in words), an impairment applied live and drawn as a label, the
drawing after a reload (from the saved document), a refusal shown beside its field, and the pure
functions of static/topolab/link-live.js under node's test runner.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.documents import reference_document
from topology import links, services

from .conftest import shot
from .helpers import (
    THROUGH_R1,
    canvas_box,
    console_text,
    document,
    echo_replies,
    needs_node,
    open_editor,
    run_js_tests,
    wait_for_reply_after,
)
from .test_console import SHELL, open_console_by_double_click, open_running_lab, screen, type_in

LINK = "l:1"  # the reference lab's second link: c2 eth0 -- r1 eth1


def select_link(page, link_id: str = LINK) -> None:
    """Click the middle of the link on the canvas: its panel opens."""
    box = canvas_box(page)
    p = page.evaluate("(id) => window.topolab.canvas.cy.getElementById(id).renderedMidpoint()", link_id)
    page.mouse.click(box["x"] + p["x"], box["y"] + p["y"])
    expect(page.locator("#panel .pane-title").first).to_have_text(re.compile(r"^Link c2 eth0 — r1 eth1"))


def edge(page, link_id: str = LINK) -> dict:
    return page.evaluate("""(id) => { const e = window.topolab.canvas.cy.getElementById(id);
        return {lineStyle: e.style('line-style'), label: e.style('label'), state: e.data('linkState'),
                opacity: Number(e.style('line-opacity'))}; }""",
                         link_id)


def toggle(page):
    return page.locator("#panel").get_by_role("switch")


def test_cutting_a_link_from_its_panel_stops_pings_in_a_console_and_setting_it_up_brings_them_back(signed_in, labs, relay):
    page = signed_in
    lab = open_running_lab(page, labs)

    c1 = open_console_by_double_click(page, "c1")
    type_in(c1, page, "ping 192.168.11.2")
    expect(screen(c1)).to_contain_text(THROUGH_R1, timeout=SHELL)
    first = wait_for_reply_after(page, 0, SHELL / 1000)

    select_link(page)
    expect(toggle(page)).to_have_attribute("aria-checked", "true")
    expect(toggle(page)).to_contain_text("Up")
    assert edge(page)["lineStyle"] == "solid"
    toggle(page).focus()
    page.keyboard.press("Enter")  # the keyboard path: the switch is a button
    expect(toggle(page)).to_have_attribute("aria-checked", "false", timeout=SHELL)
    expect(toggle(page)).to_contain_text("Down")
    # The server's answer is drawn at once: dashed, faint, and labelled "down".
    look = edge(page)
    assert look["state"] == "down" and look["lineStyle"] == "dashed" and look["label"] == "down", look
    assert look["opacity"] < 1, look
    assert document(page)["links"][1]["state"] == "down"
    expect(page.locator("#unsaved")).to_be_hidden()  # saved by the server, not an unsaved edit

    # The pings stop: a reply in flight may still land in the first second; none after that.
    page.wait_for_timeout(1500)
    before = max(echo_replies(page))
    assert before >= first
    page.wait_for_timeout(4000)
    assert max(echo_replies(page)) == before, console_text(page)[-800:]
    shot(page, "live-link-down")

    # Saved in the topology: the next deploy would start with it down.
    lab.topology.refresh_from_db()
    assert lab.topology.document["links"][1].get("state") == "down"

    # Up from the same switch (a click this time): the pings come back, numbered on.
    toggle(page).click()
    expect(toggle(page)).to_have_attribute("aria-checked", "true", timeout=SHELL)
    wait_for_reply_after(page, before, 15)
    assert edge(page)["lineStyle"] == "solid" and edge(page)["label"] == "", edge(page)
    assert "state" not in document(page)["links"][1]
    shot(page, "live-link-up-again")

    type_in(c1, page, "\x03")  # Ctrl-C ends the ping


def test_impairment_fields_follow_the_host_apply_live_and_draw_a_label_that_survives_a_reload(signed_in, labs, relay):
    page = signed_in
    lab = open_running_lab(page, labs)
    caps = page.request.get("/api/v1/capabilities")
    assert caps.ok, caps.status
    caps = caps.json()
    select_link(page)
    panel = page.locator("#panel")
    fields = {"delay": "Delay (ms)", "jitter": "Jitter (ms)", "loss": "Loss (%)", "duplicate": "Duplication (%)",
              "corrupt": "Corruption (%)", "rate": "Rate (kbit/s)"}
    for cap, label in fields.items():
        field = panel.get_by_label(label, exact=True)
        if caps["impairments"][cap]:
            expect(field).to_be_enabled()
        else:
            # Disabled, and why in words beside it (and as its tooltip), not by colour alone.
            expect(field).to_be_disabled()
            why = field.get_attribute("title")
            assert why, label
            expect(panel.locator(f"label.live-field:has(#{field.get_attribute('id')}) .cannot-why")).to_contain_text(why)
    shot(page, "live-link-impairment-fields")

    usable = {cap: v for cap, v in caps["impairments"].items() if v}
    if "loss" not in usable or "rate" not in usable:
        pytest.skip(f"this host can do neither loss nor rate live ({caps.get('missing')})")
    # An edit of the document first (unsaved, undoable), then a live change.
    panel.get_by_label("MTU").fill("1400")
    page.wait_for_function("() => window.topolab.ed.doc.links[1].mtu === 1400")
    panel.get_by_label("Loss (%)", exact=True).fill("50")
    panel.get_by_label("Rate (kbit/s)", exact=True).fill("1000")
    panel.get_by_role("button", name="Apply").click()
    expect(panel).to_contain_text("Impairment now: 50% loss · 1 Mbit/s", timeout=SHELL)
    assert edge(page)["label"] == "50% loss · 1 Mbit/s"
    assert document(page)["links"][1]["impairment"] == {"loss_percent": 50, "rate_kbit": 1000}
    lab.topology.refresh_from_db()
    assert lab.topology.document["links"][1]["impairment"]["loss_percent"] == 50
    assert "mtu" not in lab.topology.document["links"][1]  # the unsaved edit stayed in the editor
    shot(page, "live-link-impaired")
    # Undo takes back the user's edit, not the live change (it happened to the lab): nothing left unsaved.
    expect(page.locator("#unsaved")).to_be_visible()
    page.locator("#cy").focus()
    page.keyboard.press("Control+z")
    page.wait_for_function("() => window.topolab.ed.doc.links[1].mtu === undefined")
    assert document(page)["links"][1]["impairment"] == {"loss_percent": 50, "rate_kbit": 1000}
    assert edge(page)["label"] == "50% loss · 1 Mbit/s"
    expect(page.locator("#unsaved")).to_be_hidden()

    # A reload draws what the document says.
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_function("() => window.topolab.ed.lab.state === 'running'")
    assert edge(page)["label"] == "50% loss · 1 Mbit/s"
    shot(page, "live-link-impaired-after-reload")

    # A refusal is shown beside the field it is about (the server's path).
    select_link(page)

    def refuse(route):
        route.fulfill(status=400, content_type="application/json",
                      json={"errors": [{"path": "impairment.loss_percent", "message": "refused for this test"}]})

    page.route(re.compile(r".*/api/v1/topologies/\d+/links/.*"), refuse)
    panel.get_by_label("Loss (%)", exact=True).fill("20")
    panel.get_by_label("Loss (%)", exact=True).press("Enter")
    loss_id = panel.get_by_label("Loss (%)", exact=True).get_attribute("id")
    expect(panel.locator(f"#{loss_id}-err")).to_have_text("refused for this test")
    expect(panel.get_by_label("Loss (%)", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(panel.get_by_label("Loss (%)", exact=True)).to_have_value("20")  # what was typed stays
    page.unroute(re.compile(r".*/api/v1/topologies/\d+/links/.*"))

    # Clear: no impairment, no label.
    panel.get_by_role("button", name="Clear").click()
    expect(panel).to_contain_text("No impairment.", timeout=SHELL)
    assert edge(page)["label"] == ""
    assert "impairment" not in document(page)["links"][1]

    # A change made elsewhere (the API, the CLI; here its service, by the other end's name) shows at once
    # through the lab websocket's "link" message: the canvas, the panel's switch and the document.
    lab.topology.refresh_from_db()
    assert links.change(lab.topology, "r1:eth1", {"state": "down", "impairment": {"loss_percent": 100}})["applied"]
    page.wait_for_function("() => window.topolab.canvas.cy.getElementById('l:1').data('linkState') === 'down'")
    assert edge(page)["label"] == "down · 100% loss" and edge(page)["lineStyle"] == "dashed"
    expect(panel.get_by_role("switch")).to_have_attribute("aria-checked", "false")
    assert document(page)["links"][1]["state"] == "down"
    expect(page.locator("#unsaved")).to_be_hidden()
    expect(page.locator("#dock-status")).to_have_text("Link c2 eth0 — r1 eth1 changed: down · 100% loss.")
    shot(page, "live-link-changed-elsewhere")


def test_on_a_stopped_lab_the_link_fields_edit_the_document(signed_in, owner):
    page = signed_in
    topology = services.import_topology(owner, reference_document(), replace=True)
    open_editor(page, topology.pk)
    select_link(page)
    panel = page.locator("#panel")
    expect(panel.get_by_role("switch")).to_have_count(0)
    panel.get_by_label("State").select_option("down")
    assert edge(page)["lineStyle"] == "dashed"
    panel.get_by_text("Impairment (both directions)").click()  # a folded section while the link has none
    panel.get_by_label("Loss (%)", exact=True).fill("30")
    page.wait_for_function("() => window.topolab.ed.doc.links[1].impairment?.loss_percent === 30")
    assert edge(page)["label"] == "down · 30% loss"
    expect(page.locator("#unsaved")).to_be_visible()  # a document edit: saved with the topology
    page.keyboard.press("Control+s")
    expect(page.locator("#unsaved")).to_be_hidden()
    topology.refresh_from_db()
    assert topology.document["links"][1]["state"] == "down"
    assert topology.document["links"][1]["impairment"] == {"loss_percent": 30}
    shot(page, "stopped-link-down-impaired")


@needs_node
def test_it_passes_the_link_live_unit_tests():
    run_js_tests("link-live.test.js")
