"""Honest controls in the editor (issue 13), in a real browser against daphne, Redis and the real lab worker:

- what this host can deploy is said where the user chooses: a kind whose image is not built here has a badge
  in the palette (and stays addable), the node panel's image field warns, Deploy says which nodes and why;
  an impairment the kernel cannot do is said beside its field of the stopped lab's link panel too;
- Destroy asks first, in the page, naming the lab and how many of its nodes run (Enter confirms, Escape cancels);
- an editor open on a topology saved or deleted elsewhere says so at once, over the lab's websocket, and a save
  over a newer version is refused (409) and said, not made silently;
- the server's problems outline the exact field of the panel they are about;
- Validate says what it checked.

This host has every image built: the images answer (the real worker's) is changed in the browser's network
layer as a host without ``topolab/frr`` would answer it, and the capabilities answer as a kernel without netem's
jitter would; everything else is real.

The reference lab::

    c1 (192.168.10.2/24) --eth0-- r1 --eth1-- c2 (192.168.11.2/24)
"""
from __future__ import annotations

import copy
import re
from concurrent.futures import ThreadPoolExecutor

from playwright.sync_api import expect

from tests.documents import reference_document
from topology import services
from topology.models import Topology

from .conftest import shot
from .helpers import canvas_box, click_node, document, open_editor

STATUS = "#dock-status"


def status(page) -> str:
    return page.locator(STATUS).inner_text()


def without_frr_image(page) -> None:
    """The images answer of this host as one without topolab/frr built would give it."""
    def answer(route):
        response = route.fetch()
        images = response.json()
        assert any(i["name"] == "topolab/frr" for i in images), images
        for image in images:
            if image["name"] == "topolab/frr":
                image["present"] = False
        route.fulfill(response=response, json=images)
    page.route(re.compile(r".*/api/v1/images$"), answer)


def select_link(page, index: int) -> None:
    box = canvas_box(page)
    p = page.evaluate("(id) => window.topolab.canvas.cy.getElementById(id).renderedMidpoint()", f"l:{index}")
    page.mouse.click(box["x"] + p["x"], box["y"] + p["y"])
    expect(page.locator("#panel .pane-title").first).to_have_text(re.compile(r"^Link "))


# -- what this host can deploy ------------------------------------------------------------------------------


def test_a_kind_whose_image_is_not_built_here_is_marked_and_deploy_says_which_nodes_cannot_start(signed_in, owner, lab_worker):
    page = signed_in
    without_frr_image(page)
    topology = services.import_topology(owner, reference_document())
    open_editor(page, topology.pk)
    page.wait_for_function("() => window.topolab.ed.support.images !== null")

    # The palette: frr has a badge and the reason in its title; host does not.
    frr = page.locator(".kind-btn[data-kind=frr]")
    expect(frr.locator(".kind-badge")).to_have_text("not here")
    assert "Not deployable here: image topolab/frr is not built — run manage.py lab images --build" in frr.get_attribute("title")
    expect(page.locator(".kind-btn[data-kind=host] .kind-badge")).to_have_count(0)
    assert "not deployable" not in page.locator(".kind-btn[data-kind=host]").get_attribute("title")
    expect(page.locator("#btn-deploy")).to_be_enabled()

    # Still addable (the topology may be deployed elsewhere); Deploy now says which node cannot start, and why.
    frr.click()
    page.wait_for_function("() => window.topolab.ed.doc.nodes.some((n) => n.kind === 'frr')")
    name = next(n["name"] for n in document(page)["nodes"] if n["kind"] == "frr")
    expect(page.locator("#btn-deploy")).to_be_disabled()
    why = page.locator("#deploy-wrap").get_attribute("title")
    assert why == (f"Cannot deploy on this host: {name} needs image topolab/frr, which is not built. "
                   "Run manage.py lab images --build (as root), then reload."), why
    # The node's panel says it at the image field, before any Deploy.
    panel = page.locator("#panel")
    image = panel.get_by_label("Image")
    warning = panel.locator(".field-warning")
    expect(warning).to_have_text("Not deployable here: image topolab/frr is not built — run manage.py lab images --build")
    assert "f-node_image-warn" in image.get_attribute("aria-describedby")
    shot(page, "honest-frr-not-built")

    # An image typed that this host does not know: an inline warning naming the images it has.
    image.fill("alpine:3.20")
    expect(warning).to_contain_text("Not one of this host's images (topolab/base, topolab/frr)")
    expect(page.locator("#btn-deploy")).to_be_enabled()  # it may be in Docker: not refused, but said
    assert "alpine:3.20" in page.locator("#deploy-wrap").get_attribute("title")
    shot(page, "honest-unknown-image")
    # One of this host's built images: nothing to warn about, Deploy is free.
    image.fill("topolab/base")
    expect(warning).to_be_hidden()
    expect(warning).to_have_text("")
    expect(panel.locator("label.field:has(#f-node_image) .help")).to_have_text("on this host")
    assert page.locator("#deploy-wrap").get_attribute("title") == ""


def test_an_impairment_this_kernel_cannot_do_is_said_in_the_stopped_labs_link_panel(signed_in, owner, lab_worker):
    """Already done by link-live.js (documentHelp): checked here on a lab that is not running. Whatever this
    kernel can do, jitter is made one it cannot (and loss one it can), so that both cases are seen."""
    page = signed_in
    seen = {}

    def answer(route):
        response = route.fetch()
        caps = response.json() if response.ok else {"impairments": {}, "missing": []}
        caps["impairments"] = {**caps.get("impairments", {}), "jitter": False, "loss": True}
        caps["missing"] = [*caps.get("missing", []), "jitter needs netem's delay distribution tables"]
        seen.update(caps)
        route.fulfill(status=200, content_type="application/json", json=caps)
    page.route(re.compile(r".*/api/v1/capabilities$"), answer)
    topology = services.import_topology(owner, reference_document())
    open_editor(page, topology.pk)
    assert page.evaluate("() => window.topolab.ed.lab.state") == "stopped"
    select_link(page, 1)
    panel = page.locator("#panel")
    panel.locator("summary", has_text="Impairment").click()
    jitter = panel.locator("label.field:has(#f-link_imp_jitter_ms)")
    expect(jitter.locator(".help")).to_have_text(re.compile(r"^Not on this host: .*jitter"))
    expect(panel.locator("label.field:has(#f-link_imp_loss_percent) .help")).to_have_count(0)
    expect(jitter.locator("input")).to_be_editable()  # a document field: it may be deployed on another host
    assert seen["impairments"]["jitter"] is False
    jitter.scroll_into_view_if_needed()
    shot(page, "honest-impairment-not-here")


# -- Destroy asks first -------------------------------------------------------------------------------------


def test_destroy_asks_in_the_page_naming_the_lab_and_its_running_nodes(signed_in, labs):
    page = signed_in
    lab = labs.deploy(reference_document())
    open_editor(page, lab.topology_id)
    page.wait_for_function("() => window.topolab.ed.lab.state === 'running' && window.topolab.ed.states.c2?.state === 'running'")
    page.on("dialog", lambda d: (_ for _ in ()).throw(AssertionError(f"a browser dialog: {d.message}")))
    # The page's own first check has said its word (a late one would overwrite what the cancel says).
    expect(page.locator(STATUS)).to_contain_text("No errors", timeout=15_000)

    page.locator("#btn-destroy").click()
    dialog = page.locator("#destroy-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#destroy-text")).to_have_text(
        "Destroy lab ‘router-between-two-clients’ and its 3 running nodes? Consoles close; the topology is kept.")
    expect(dialog.get_by_role("button", name="Destroy")).to_be_focused()
    shot(page, "honest-destroy-confirm")
    page.keyboard.press("Escape")  # cancels: nothing asked of the server
    expect(dialog).to_be_hidden()
    page.wait_for_timeout(500)
    lab.refresh_from_db()
    assert lab.state == "running"
    assert page.evaluate("() => window.topolab.ed.lab.state") == "running"
    expect(page.locator(STATUS)).to_have_text("Not destroyed: nothing changed.")

    page.locator("#btn-destroy").click()
    expect(dialog).to_be_visible()
    page.keyboard.press("Enter")  # confirms
    expect(dialog).to_be_hidden()
    page.wait_for_function("() => window.topolab.ed.lab.state === 'stopped' && !window.topolab.ed.lab.busy", timeout=120_000)
    lab.refresh_from_db()
    assert lab.state == "stopped"
    assert Topology.objects.filter(pk=lab.topology_id).exists()


# -- changed or deleted elsewhere ---------------------------------------------------------------------------


def elsewhere(function, *args):
    """Call a service as another request would, from a thread of its own: this one runs Playwright's event loop,
    where the channel layer's publish (async_to_sync) refuses to run."""
    from django.db import connection

    def call():
        try:
            return function(*args)
        finally:
            connection.close()
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result()


def saved_elsewhere(topology: Topology, description: str) -> None:
    """Another tab's save (the same service the API's PUT calls)."""
    topology.refresh_from_db()
    doc = copy.deepcopy(topology.document)
    doc["description"] = description
    elsewhere(services.update_topology, topology, doc)


def test_a_save_elsewhere_shows_a_banner_at_once_and_reload_or_keep_mine_settle_it(signed_in, owner):
    page = signed_in
    topology = services.import_topology(owner, reference_document())
    open_editor(page, topology.pk)
    banner = page.locator("#stale-banner")

    # The page's own save is no news.
    click_node(page, "r1")
    page.locator("#panel").get_by_label("Image").fill("topolab/base")
    page.locator("#cy").click(position={"x": 700, "y": 40})
    page.keyboard.press("Control+s")
    page.wait_for_function("() => document.getElementById('dock-status').textContent === 'Saved.'")
    page.wait_for_timeout(1500)
    expect(banner).to_be_hidden()

    # Saved from elsewhere: the banner comes without a click, saying when.
    saved_elsewhere(topology, "changed from another tab")
    expect(banner).to_be_visible(timeout=5000)
    expect(banner).to_contain_text("This topology was changed elsewhere")
    expect(banner.get_by_role("button", name="Reload")).to_be_visible()
    expect(banner.get_by_role("button", name="Keep mine (overwrite)")).to_be_visible()
    shot(page, "honest-changed-elsewhere")
    banner.get_by_role("button", name="Reload").click()
    expect(banner).to_be_hidden()
    assert document(page)["description"] == "changed from another tab"
    expect(page.locator("#unsaved")).to_be_hidden()

    # Again, with an edit of mine unsaved: Keep mine saves it over theirs.
    click_node(page, "c1")
    page.locator("#panel").get_by_label("Image").fill("topolab/base")
    saved_elsewhere(topology, "second change elsewhere")
    expect(banner).to_be_visible(timeout=5000)
    banner.get_by_role("button", name="Keep mine (overwrite)").click()
    page.wait_for_function("() => document.getElementById('dock-status').textContent === 'Saved.'")
    expect(banner).to_be_hidden()
    topology.refresh_from_db()
    assert topology.document["nodes"][0]["image"] == "topolab/base"
    assert topology.document["description"] == "changed from another tab"  # mine, over theirs


def test_a_save_over_a_newer_version_is_refused_and_said_not_made(signed_in, owner):
    page = signed_in
    topology = services.import_topology(owner, reference_document())
    open_editor(page, topology.pk)
    # A change that sends no message (a row written directly): only the save's precondition can catch it.
    doc = copy.deepcopy(topology.document)
    doc["description"] = "written behind the editor's back"
    from django.utils import timezone
    Topology.objects.filter(pk=topology.pk).update(document=doc, updated=timezone.now())
    click_node(page, "c1")
    page.locator("#panel").get_by_label("Image").fill("topolab/base")
    page.locator("#cy").click(position={"x": 700, "y": 40})
    page.keyboard.press("Control+s")
    expect(page.locator(STATUS)).to_contain_text("Not saved: this topology was changed elsewhere")
    expect(page.locator("#stale-banner")).to_be_visible()
    expect(page.locator("#unsaved")).to_be_visible()
    topology.refresh_from_db()
    assert topology.document["description"] == "written behind the editor's back"
    assert "image" not in topology.document["nodes"][0]


def test_a_topology_deleted_elsewhere_is_said_at_once(signed_in, owner):
    page = signed_in
    topology = services.import_topology(owner, reference_document())
    open_editor(page, topology.pk)
    page.wait_for_function("() => !document.getElementById('lab-state').classList.contains('offline')")
    expect(page.locator(STATUS)).to_have_text("No errors.")
    elsewhere(services.delete_topology, topology)
    expect(page.locator("#stale-banner")).to_contain_text("This topology was deleted.", timeout=3000)
    expect(page.locator(STATUS)).to_have_text("This topology was deleted.")
    # A later check of the drawing keeps saying it.
    page.locator("#btn-validate").click()
    expect(page.locator(STATUS)).to_contain_text("This topology was deleted.")
    shot(page, "honest-deleted-elsewhere")


# -- errors on their field, and what Validate did -------------------------------------------------------------


def test_a_servers_problem_outlines_the_exact_field_it_is_about(signed_in, owner):
    page = signed_in
    doc = reference_document()
    doc["links"][0]["endpoints"][1]["addresses"] = ["192.168.10.2/24"]  # r1 eth0 takes c1's address
    doc["links"][1]["mtu"] = 1400
    topology = services.import_topology(owner, reference_document())
    topology.document = doc
    Topology.objects.filter(pk=topology.pk).update(document=doc)  # saved as is: the editor's check finds it
    open_editor(page, topology.pk)
    page.wait_for_function("() => window.topolab.ed.problems.some((p) => p.path === 'links[0].endpoints[1].addresses[0]')")

    click_node(page, "r1")
    panel = page.locator("#panel")
    bad = panel.locator("[data-path='links[0].endpoints[1].addresses']")
    expect(bad).to_have_attribute("aria-invalid", "true")
    expect(bad).to_have_class(re.compile(r"\binvalid\b"))
    assert page.evaluate("(e) => getComputedStyle(e).borderColor", bad.element_handle()) != \
        page.evaluate("(e) => getComputedStyle(e).borderColor", panel.get_by_label("Name", exact=True).element_handle())
    beside = panel.locator(f"#{bad.get_attribute('id')}-err")
    expect(beside).to_contain_text("192.168.10.2 is already used at")
    # Only that field: r1's other interface and its name are fine.
    expect(panel.locator("[data-path='links[1].endpoints[1].addresses']")).to_have_attribute("aria-invalid", "false")
    expect(panel.get_by_label("Name", exact=True)).to_have_attribute("aria-invalid", "false")
    shot(page, "honest-field-outlined")

    # Typing a fix there: the outline goes with the server's next answer, the focus stays in the field.
    bad.fill("192.168.10.1/24")
    expect(bad).to_have_attribute("aria-invalid", "false")
    expect(bad).to_be_focused()
    expect(beside).to_have_text("")

    # The link panel: a field the server refuses (MTU too small) outlined with its sentence.
    page.keyboard.press("Escape")
    select_link(page, 1)
    mtu = panel.get_by_label("MTU")
    mtu.fill("10")
    expect(mtu).to_have_attribute("aria-invalid", "true")  # the field's own check first
    expect(panel.locator("#f-link_mtu-err")).to_have_text("a whole number from 68 to 65535")


def test_a_servers_problem_on_a_field_without_a_check_of_its_own_outlines_it(signed_in, owner):
    page = signed_in
    doc = reference_document()
    doc["nodes"][1]["sysctls"] = {"kernel.panic": "1"}
    doc["nodes"][0]["routes"] = [{"to": "default", "via": "192.168.99.1"}]
    topology = services.import_topology(owner, reference_document())
    Topology.objects.filter(pk=topology.pk).update(document=doc)
    open_editor(page, topology.pk)
    page.wait_for_function("() => window.topolab.ed.problems.some((p) => p.path.startsWith('nodes[1].sysctls'))")
    click_node(page, "r1")
    key = page.locator("#panel input[data-key='node.sysctls.k0']")
    expect(key).to_be_visible()  # its section opens: the problem is in it
    expect(key).to_have_attribute("aria-invalid", "true")
    expect(key).to_have_class(re.compile(r"\binvalid\b"))


def test_validate_says_what_it_checked(signed_in, owner):
    page = signed_in
    topology = services.import_topology(owner, reference_document())
    open_editor(page, topology.pk)
    page.locator("#btn-validate").click()
    expect(page.locator(STATUS)).to_have_text("Checked 3 nodes and 2 links: no errors.")
    # With an error: the counts, and the first problem in words.
    click_node(page, "c2")
    page.locator("#panel").get_by_label("Addresses").fill("192.168.10.2/24")
    page.wait_for_function("() => window.topolab.ed.problems.length > 0")
    page.locator("#btn-validate").click()
    expect(page.locator(STATUS)).to_have_text(
        re.compile(r"^Checked 3 nodes and 2 links: 1 error(, \d+ warnings?)?\. c2 eth0 address 1: .*192\.168\.10\.2"))
    shot(page, "honest-validate")
