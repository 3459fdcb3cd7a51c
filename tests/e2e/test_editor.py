"""The editor in a real browser, against daphne and the real lab worker.

The reference lab, drawn with the mouse:

    c1 (192.168.10.2/24) --eth0-- r1 --eth1-- c2 (192.168.11.2/24)
                         .10.1/24    .11.1/24
"""
import copy
import re

from playwright.sync_api import expect

from tests.documents import reference_document
from topology import services
from topology.models import Topology

from .conftest import shot
from .helpers import click_node, document, drop_kind, link, node_point, node_states, open_editor, rename_selected


def create_from_list(page, name: str) -> int:
    page.get_by_placeholder("new-topology-name").fill(name)
    page.get_by_role("button", name="Create").click()
    page.wait_for_url(re.compile(r"/topologies/\d+/$"))
    page.wait_for_selector("body[data-ready=true]")
    return int(page.url.rstrip("/").rsplit("/", 1)[1])


def draw_reference_lab(page) -> None:
    drop_kind(page, "host", 380, 110)
    rename_selected(page, "c1")
    drop_kind(page, "router", 380, 300)
    drop_kind(page, "host", 380, 490)
    rename_selected(page, "c2")
    link(page, "c1", "r1")
    link(page, "c2", "r1")


def fill_in_panel(page, node: str, addresses: list[str], gateway: str | None = None) -> None:
    click_node(page, node)
    panel = page.locator("#panel")
    for i, address in enumerate(addresses):
        panel.get_by_label("Addresses").nth(i).fill(address)
    if gateway:
        panel.get_by_role("button", name="+ via a gateway").click()
        panel.get_by_label("Via").fill(gateway)


def save(page) -> None:
    page.locator("#cy").click(position={"x": 700, "y": 40})  # leave the panel, clear the selection
    page.keyboard.press("Control+s")
    page.wait_for_function("() => document.getElementById('dock-status').textContent === 'Saved.'")
    assert page.locator("#unsaved").is_hidden()


def without_positions(doc: dict) -> dict:
    doc = copy.deepcopy(doc)
    for node in doc["nodes"]:
        node.pop("position", None)
    doc.pop("description", None)
    return doc


def deploy_and_ping(page, topology_id: int, target: str, screenshot: str) -> None:
    page.get_by_role("button", name="Deploy ▶").click()
    page.wait_for_function(
        "() => { const s = Object.values(window.topolab.ed.states);"
        " return s.length === 3 && s.every((x) => x.state === 'running'); }",
        timeout=180_000)
    page.wait_for_function("() => !window.topolab.ed.lab.busy && window.topolab.ed.lab.state === 'running'")
    assert set(node_states(page).values()) == {"running"}
    assert page.locator("#lab-state").inner_text() == "running"
    assert page.locator("#progress-text").inner_text().split("/")[0] == page.locator("#progress-text").inner_text().split("/")[1]
    shot(page, screenshot)
    answer = page.evaluate("""async ([id, target]) => {
        const csrf = document.cookie.match(/csrftoken=([^;]+)/)[1];
        const r = await fetch(`/api/v1/topologies/${id}/nodes/c1/exec`, {method: 'POST',
            headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf},
            body: JSON.stringify({argv: ['ping', '-c', '1', '-W', '2', target]})});
        return [r.status, await r.json()]; }""", [topology_id, target])
    assert answer[0] == 200, answer
    assert answer[1]["exit_code"] == 0, answer
    assert re.search(r"ttl=63\b", answer[1]["output"]), answer
    assert page.locator("#btn-deploy").is_disabled()
    assert "destroy it first" in page.locator("#deploy-wrap").get_attribute("title")


def destroy(page, screenshot: str) -> None:
    page.get_by_role("button", name="Destroy ■").click()
    page.locator("#destroy-ok").click()  # it asks first (destroy-confirm.js)
    page.wait_for_function(
        "() => { const s = Object.values(window.topolab.ed.states);"
        " return s.length === 3 && s.every((x) => x.state === 'stopped')"
        " && window.topolab.ed.lab.state === 'stopped' && !window.topolab.ed.lab.busy; }",
        timeout=120_000)
    shot(page, f"{screenshot}-destroyed")


def test_it_draws_the_reference_lab_fills_it_in_the_panel_saves_deploys_and_destroys(signed_in, owner, lab_worker):
    page = signed_in
    topology_id = create_from_list(page, "drawn")
    draw_reference_lab(page)
    doc = document(page)
    assert [(n["name"], n["kind"]) for n in doc["nodes"]] == [("c1", "host"), ("r1", "router"), ("c2", "host")]
    # Interface names proposed: each node's next free ethN.
    assert [[(e["node"], e["interface"]) for e in link["endpoints"]] for link in doc["links"]] == [
        [("c1", "eth0"), ("r1", "eth0")], [("c2", "eth0"), ("r1", "eth1")]]
    fill_in_panel(page, "c1", ["192.168.10.2/24"], gateway="192.168.10.1")
    fill_in_panel(page, "r1", ["192.168.10.1/24", "192.168.11.1/24"])
    fill_in_panel(page, "c2", ["192.168.11.2/24"], gateway="192.168.11.1")
    # An address checked as you type, with the server's rules.
    click_node(page, "c1")
    field = page.locator("#panel").get_by_label("Addresses")
    field.fill("192.168.10.0/24")
    error = page.locator("#panel .field:has(input[data-key^='node.ad']) .field-error")
    # The check runs on the panel's next render: wait for it (up to Playwright's default 5 s).
    expect(error).to_contain_text("network address")
    expect(field).to_have_attribute("aria-invalid", "true")
    field.fill("192.168.10.2/24")
    shot(page, "editor-drawn")
    save(page)

    stored = Topology.objects.get(pk=topology_id)
    expected = without_positions(reference_document())
    expected["name"] = "drawn"
    assert without_positions(stored.document) == expected
    assert all("position" in n for n in stored.document["nodes"])

    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert without_positions(document(page)) == expected
    assert page.evaluate("() => window.topolab.canvas.cy.elements('.doc').length") == 5
    deploy_and_ping(page, topology_id, "192.168.11.2", "editor-running")
    destroy(page, "editor-running")


def test_it_assigns_addresses_and_default_routes(signed_in, owner, lab_worker):
    page = signed_in
    topology_id = create_from_list(page, "assigned")
    draw_reference_lab(page)
    page.get_by_role("button", name="Assign addresses").click()
    doc = document(page)
    ends = {(e["node"], e["interface"]): e.get("addresses") for link in doc["links"] for e in link["endpoints"]}
    assert ends == {("c1", "eth0"): ["192.168.0.2/24"], ("r1", "eth0"): ["192.168.0.1/24"],
                    ("c2", "eth0"): ["192.168.1.2/24"], ("r1", "eth1"): ["192.168.1.1/24"]}
    routes = {n["name"]: n.get("routes") for n in doc["nodes"]}
    assert routes == {"c1": [{"to": "default", "via": "192.168.0.1"}], "r1": None,
                      "c2": [{"to": "default", "via": "192.168.1.1"}]}
    # Undo takes the whole assignment back; redo brings it again.
    page.keyboard.press("Control+z")
    assert "addresses" not in document(page)["links"][0]["endpoints"][0]
    page.keyboard.press("Control+Shift+z")
    assert document(page) == doc
    save(page)
    deploy_and_ping(page, topology_id, "192.168.1.2", "editor-assigned-running")

    # Deleting it from the list while it runs destroys the lab first.
    page.goto("/")
    row = page.locator("#topologies tbody tr[data-name='assigned']")
    assert row.locator(".badge").inner_text() == "running"
    row.get_by_role("button", name="Delete").click()
    assert "destroyed first" in page.locator("#confirm-text").inner_text()
    page.get_by_role("button", name="Destroy and delete").click()
    row.wait_for(state="detached", timeout=120_000)
    assert not Topology.objects.filter(pk=topology_id).exists()


def test_it_shows_a_server_error_on_the_element_it_is_about(signed_in, owner):
    page = signed_in
    topology = services.import_topology(owner, reference_document())
    open_editor(page, topology.pk)
    # c2 gets c1's address: the server names links[1].endpoints[0].addresses[0].
    click_node(page, "c2")
    page.locator("#panel").get_by_label("Addresses").fill("192.168.10.2/24")
    page.wait_for_function("() => window.topolab.canvas.cy.getElementById('l:1').hasClass('error')")
    assert not page.evaluate("() => window.topolab.canvas.cy.getElementById('l:0').hasClass('error')")
    assert page.locator("#btn-deploy").is_disabled()
    assert "error" in page.locator("#deploy-wrap").get_attribute("title")
    page.keyboard.press("Escape")
    page.locator("#cy").click(position={"x": 700, "y": 40})
    box = page.locator("#cy").bounding_box()
    mid = page.evaluate("() => window.topolab.canvas.cy.getElementById('l:1').renderedMidpoint()")
    page.mouse.move(box["x"] + mid["x"], box["y"] + mid["y"])
    tooltip = page.locator("#tooltip")
    tooltip.wait_for(state="visible")
    assert "192.168.10.2" in tooltip.inner_text()
    shot(page, "editor-error")
    # Undo puts the good address back and the mark goes away.
    page.keyboard.press("Control+z")
    page.wait_for_function("() => !window.topolab.canvas.cy.getElementById('l:1').hasClass('error')")


def test_it_edits_with_the_keyboard_copy_paste_delete_undo(signed_in, owner):
    page = signed_in
    topology = services.import_topology(owner, reference_document())
    open_editor(page, topology.pk)
    click_node(page, "c1")
    click_node(page, "r1", shift=True)
    page.keyboard.press("Control+c")
    page.keyboard.press("Control+v")
    doc = document(page)
    assert [n["name"] for n in doc["nodes"]] == ["c1", "r1", "c2", "c3", "r2"]
    assert len(doc["links"]) == 3
    pasted = doc["links"][2]["endpoints"]
    assert "addresses" not in pasted[0]
    before = document(page)["nodes"][3]["position"]
    page.keyboard.press("ArrowRight")
    assert document(page)["nodes"][3]["position"]["x"] == before["x"] + 8
    page.keyboard.press("Delete")
    assert len(document(page)["nodes"]) == 3
    page.keyboard.press("Control+z")
    assert len(document(page)["nodes"]) == 5
    assert page.locator("#unsaved").is_visible()
    page.keyboard.press("?")
    assert page.locator("#help-dialog").is_visible()
    shot(page, "editor-help")
    page.keyboard.press("Escape")
    # Box selection: Shift-drag on empty space.
    page.keyboard.press("Escape")
    box = page.locator("#cy").bounding_box()
    page.keyboard.down("Shift")
    page.mouse.move(box["x"] + 20, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] - 20, box["y"] + box["height"] - 20, steps=10)
    page.mouse.up()
    page.keyboard.up("Shift")
    page.wait_for_function("() => window.topolab.canvas.selection().nodes.length === 5")
    page.keyboard.press("Escape")
    # Link mode: the whole node is a handle; drag c1 onto c2.
    page.keyboard.press("l")
    x1, y1 = node_point(page, "c1")
    x2, y2 = node_point(page, "c2")
    page.mouse.move(x1, y1)
    page.mouse.down()
    page.mouse.move(x2, y2, steps=12)
    page.wait_for_timeout(150)
    page.mouse.move(x2 + 1, y2, steps=2)
    page.mouse.up()
    page.wait_for_function("() => window.topolab.ed.doc.links.length === 4")
    assert document(page)["links"][3]["endpoints"] == [{"node": "c1", "interface": "eth1"}, {"node": "c2", "interface": "eth1"}]
    assert document(page)["nodes"][0]["position"] == {"x": 0, "y": -150}  # linked, not moved
    page.keyboard.press("Escape")
    # Labels at link ends can be hidden.
    page.get_by_label("Labels").uncheck()
    assert page.evaluate("() => window.topolab.canvas.cy.getElementById('l:0').style('source-label')") == ""


def test_it_shows_a_failure_and_its_reason_on_the_node(signed_in, owner, lab_worker):
    page = signed_in
    document_ = reference_document()
    document_["nodes"][2]["exec"] = ["ip link set nosuchdev up"]
    topology = services.import_topology(owner, document_)
    open_editor(page, topology.pk)
    page.get_by_role("button", name="Deploy ▶").click()
    page.wait_for_function("() => window.topolab.ed.lab.state === 'failed' && !window.topolab.ed.lab.busy", timeout=120_000)
    page.wait_for_function("() => (window.topolab.ed.states.c2 || {}).state === 'failed'")
    label = page.evaluate("() => window.topolab.canvas.cy.getElementById('n:c2').data('label')")
    assert "failed" in label and "ip link set nosuchdev" in label
    assert "nosuchdev" in page.locator("#dock-status").inner_text()
    assert page.locator("#dock-body .ev-failed").count() >= 1
    shot(page, "editor-failed")
    destroy(page, "editor-failed")
