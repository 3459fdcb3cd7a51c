"""Honest controls on the site's pages (issue 13), in a real browser at 1280x720.

- The list's create and rename dialogs: Enter submits; a bad name gets the server's own rule in words
  (``topology.schema.messages.PATTERN_HINTS``, handed to the page in its config), and the dialog stays open.
- An import whose name you already have offers "Replace the existing one" and "Import as a copy" in the page
  (a topolab/v1 file and a containerlab one); over a running lab it says what Replace does (the API's way:
  the document is saved, the lab keeps running as deployed).
- The token page: creating a token redirects (a reload makes no second token), the secret shows once, and
  Copy puts it on the clipboard (or, without the clipboard API, selects and copies it), saying "Copied".
- Pages that are not found (the real 404 handler: the e2e server runs with DEBUG off) and the API docs have
  the site's header and a way back to the list.
- The header's account menu opens with Enter, closes with Escape, and no header's part runs off the right
  edge of a 1280 px window: the list, the editor with changes not applied, a course, a capture, the tokens.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.documents import reference_document
from topology import services
from topology.models import ApiToken, Course, CourseMember, Lab, LabState, Topology
from topology.schema.messages import PATTERN_HINTS
from topology.schema.models import DOCUMENT_NAME_RE

from .conftest import shot
from .helpers import open_editor

pytestmark = pytest.mark.integration

NAME_RULE = PATTERN_HINTS[DOCUMENT_NAME_RE]
CLAB = Path(__file__).resolve().parents[1] / "data" / "interop" / "clab-bridge" / "lan.clab.yml"
REF = "router-between-two-clients"

# Every visible element of the page's header, and how far right it reaches (the capture page's header is its
# own .cap-bar; every other page has base.html's .topbar).
HEADER_PARTS = """() => {
  const header = document.querySelector('header.topbar, header.cap-bar');
  const parts = [header, ...header.querySelectorAll('*')].filter((e) => e.getClientRects().length
    && getComputedStyle(e).visibility !== 'hidden' && !e.closest('[hidden]'));
  return {width: document.documentElement.clientWidth, header: header.className,
          parts: parts.map((e) => ({what: `${e.tagName.toLowerCase()}#${e.id}.${e.className}`.slice(0, 80),
                                    text: (e.textContent || '').trim().slice(0, 30), right: e.getBoundingClientRect().right}))};
}"""


def row(page, name: str):
    return page.locator(f"#topologies tbody tr[data-name='{name}']")


def clipped(page) -> list[dict]:
    """The header's parts whose right edge is past the window's (nothing, when the header fits)."""
    seen = page.evaluate(HEADER_PARTS)
    assert seen["parts"], seen
    return [p for p in seen["parts"] if p["right"] > seen["width"] + 0.5]


# -- create and rename ------------------------------------------------------------------------------------------
def test_create_and_rename_submit_with_enter_and_say_the_name_rule(signed_in, owner):
    page = signed_in
    services.import_topology(owner, reference_document())
    page.reload()
    row(page, REF).wait_for()

    # A bad new name: the rule, in the server's words, under the field; nothing created, still on the list.
    create = page.get_by_label("Name of the new topology")
    create.fill("My Lab")
    create.press("Enter")
    expect(page.locator("#create-error")).to_contain_text(NAME_RULE)
    expect(create).to_have_attribute("aria-invalid", "true")
    assert page.url.endswith("/") and not Topology.objects.filter(owner=owner, name="My Lab").exists()
    shot(page, "pages-create-rule")
    create.fill("my-lab")  # typing clears the complaint
    expect(page.locator("#create-error")).to_be_empty()

    # Rename: Enter submits; a bad name keeps the dialog open with the rule; a name you have is the server's refusal.
    row(page, REF).get_by_role("button", name="Rename").click()
    dialog = page.locator("#rename-dialog")
    field = dialog.get_by_label("New name")
    expect(field).to_be_focused()
    field.fill("Bad Name!")
    field.press("Enter")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#rename-error")).to_have_text(f"“Bad Name!” {NAME_RULE}.")
    shot(page, "pages-rename-rule")
    services.import_topology(owner, {**reference_document(), "name": "taken-name"})
    field.fill("taken-name")
    field.press("Enter")
    expect(dialog.locator("#rename-error")).to_contain_text("you already have a topology named 'taken-name'")
    expect(dialog).to_be_visible()
    field.fill("better-name")
    field.press("Enter")
    expect(dialog).to_be_hidden()
    row(page, "better-name").wait_for()
    assert Topology.objects.filter(owner=owner, name="better-name").exists()
    assert not Topology.objects.filter(owner=owner, name=REF).exists()

    # Escape leaves it as it was.
    row(page, "better-name").get_by_role("button", name="Rename").click()
    field.fill("never-saved")
    field.press("Escape")
    expect(dialog).to_be_hidden()
    assert not Topology.objects.filter(owner=owner, name="never-saved").exists()

    create.fill("fresh-by-enter")
    create.press("Enter")
    page.wait_for_selector("body[data-ready=true]")
    assert Topology.objects.filter(owner=owner, name="fresh-by-enter").exists()


def test_the_editors_name_field_says_the_same_rule(signed_in, owner):
    page = signed_in
    topology = services.import_topology(owner, reference_document())
    open_editor(page, topology.pk)
    field = page.locator("#panel").get_by_label("Name", exact=True)
    field.fill("Not OK")
    expect(page.locator("#panel")).to_contain_text(f"“Not OK” {NAME_RULE}")


# -- a duplicate import -----------------------------------------------------------------------------------------
def test_a_duplicate_import_offers_replace_or_a_copy(signed_in, owner, tmp_path):
    page = signed_in
    original = services.import_topology(owner, reference_document())
    page.reload()
    row(page, REF).wait_for()
    changed = {**reference_document(), "description": "from the file"}
    path = tmp_path / "again.json"
    path.write_text(json.dumps(changed))

    dialog = page.locator("#taken-dialog")
    page.locator("#import-file").set_input_files(str(path))
    expect(dialog).to_be_visible()
    expect(dialog.locator("#taken-title")).to_have_text(f"You already have a topology named {REF}")
    expect(dialog).to_contain_text(f"import that as a copy named {REF}-copy")
    expect(dialog).to_contain_text("its lab is not running")
    shot(page, "pages-import-taken")
    dialog.get_by_role("button", name="Import as a copy").click()
    row(page, f"{REF}-copy").wait_for()
    assert Topology.objects.get(owner=owner, name=f"{REF}-copy").document.get("description") == "from the file"
    original.refresh_from_db()
    assert "description" not in original.document or original.document["description"] != "from the file"

    page.locator("#import-file").set_input_files(str(path))
    expect(dialog).to_contain_text(f"as a copy named {REF}-copy-2")
    dialog.get_by_role("button", name="Replace the existing one").click()
    expect(page.locator("#list-message")).to_contain_text(f"Replaced {REF}")
    original.refresh_from_db()
    assert original.document["description"] == "from the file"
    assert Topology.objects.filter(owner=owner).count() == 2

    # Cancel saves nothing, and says so.
    page.locator("#import-file").set_input_files(str(path))
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.locator("#list-message")).to_contain_text(f"Not imported: you already have {REF}")
    assert Topology.objects.filter(owner=owner).count() == 2

    # A containerlab file: its name is known only once the server converted it; a copy is saved under another name.
    clab = tmp_path / "lan.clab.yml"
    clab.write_bytes(CLAB.read_bytes())
    page.locator("#import-file").set_input_files(str(clab))
    page.locator("#list-message").get_by_role("link", name="Open it").wait_for()
    clab_name = Topology.objects.exclude(name__startswith=REF).get(owner=owner).name
    page.locator("#import-file").set_input_files(str(clab))
    expect(dialog.locator("#taken-title")).to_have_text(f"You already have a topology named {clab_name}")
    dialog.get_by_role("button", name="Import as a copy").click()
    row(page, f"{clab_name}-copy").wait_for()
    assert Topology.objects.get(owner=owner, name=f"{clab_name}-copy").node_count == 6


def test_replacing_a_topology_whose_lab_runs_says_the_lab_keeps_running(signed_in, owner, tmp_path):
    page = signed_in
    original = services.import_topology(owner, reference_document())
    # The list's word for the lab is all the dialog reads: the row says running (no containers needed).
    Lab.objects.filter(pk=original.lab.pk).update(state=LabState.RUNNING)
    try:
        page.reload()
        expect(row(page, REF).locator(".badge")).to_have_text("running")
        path = tmp_path / "again.json"
        path.write_text(json.dumps({**reference_document(), "description": "replaced while running"}))
        page.locator("#import-file").set_input_files(str(path))
        dialog = page.locator("#taken-dialog")
        expect(dialog).to_contain_text("Its lab is running. Replacing saves the new document and does not touch the lab")
        expect(dialog).to_contain_text("the new document applies at the next deploy")
        shot(page, "pages-import-taken-running")
        dialog.get_by_role("button", name="Replace the existing one").click()
        expect(page.locator("#list-message")).to_contain_text(f"Replaced {REF}")
        original.refresh_from_db()
        assert original.document["description"] == "replaced while running"
        assert Lab.objects.get(pk=original.lab.pk).state == LabState.RUNNING  # what the dialog said
    finally:
        Lab.objects.filter(pk=original.lab.pk).update(state=LabState.STOPPED)


# -- the token page ---------------------------------------------------------------------------------------------
def test_a_new_token_redirects_shows_once_and_copies(signed_in, owner):
    page = signed_in
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/tokens/")
    page.get_by_label("Name of a new token").fill("laptop script")
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/tokens/")) as posted:
        page.get_by_role("button", name="Create token").click()
    assert posted.value.status == 302 and posted.value.headers["location"] == "/tokens/"
    secret = page.locator("#token-secret-value")
    expect(secret).to_be_visible()
    value = secret.input_value()
    assert value.startswith("tl_") and ApiToken.user_for(value) == owner

    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#token-copied")).to_have_text("Copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == value
    shot(page, "pages-token-copied")

    page.reload()
    expect(page.locator("#tokens")).to_contain_text("laptop script")
    expect(secret).to_have_count(0)
    assert value not in page.content()
    assert ApiToken.objects.filter(user=owner).count() == 1


def test_copy_without_the_clipboard_api_selects_and_copies_the_old_way(signed_in, owner):
    page = signed_in
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/tokens/")
    page.get_by_label("Name of a new token").fill("no clipboard api")
    page.get_by_role("button", name="Create token").click()
    value = page.locator("#token-secret-value").input_value()
    page.evaluate("() => Object.defineProperty(navigator, 'clipboard', {value: undefined, configurable: true})")
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#token-copied")).to_have_text(re.compile(r"^(Copied|Selected: press Ctrl-C to copy)$"))
    assert page.evaluate("() => { const s = document.getElementById('token-secret-value');"
                         " return document.activeElement === s && s.selectionStart === 0 && s.selectionEnd === s.value.length; }")
    if page.locator("#token-copied").inner_text() == "Copied":
        other = page.context.new_page()
        other.goto("/tokens/")
        assert other.evaluate("() => navigator.clipboard.readText()") == value
        other.close()


# -- not found, the API docs ------------------------------------------------------------------------------------
def test_not_found_pages_and_the_api_docs_have_the_header_and_a_way_back(signed_in, owner, django_user_model):
    page = signed_in
    mallory = django_user_model.objects.create_user("mallory", password="pw-mallory-1")
    theirs = services.import_topology(mallory, reference_document())

    for path in ("/no/such/page/", f"/topologies/{theirs.pk}/"):  # no route; a view's Http404 (not yours)
        response = page.goto(path)
        assert response.status == 404
        assert "URLconf" not in page.content() and "Traceback" not in page.content()  # the real handler, DEBUG off
        expect(page.locator("header.topbar .brand")).to_be_visible()
        expect(page.get_by_role("button", name=owner.get_username(), exact=True)).to_be_visible()
        expect(page.get_by_role("heading", name="This page does not exist")).to_be_visible()
    shot(page, "pages-404")
    page.get_by_role("link", name="Back to your topologies").click()
    page.wait_for_url(re.compile(r"/$"))
    expect(page.locator("#topologies")).to_be_visible()

    page.goto("/api/v1/docs")
    expect(page.locator(".opblock").first).to_be_visible(timeout=15000)
    expect(page.locator("header.topbar .brand")).to_be_visible()
    expect(page.get_by_role("button", name=owner.get_username(), exact=True)).to_be_visible()
    assert clipped(page) == []
    shot(page, "pages-api-docs")
    page.get_by_role("link", name="Back to your topologies").click()
    page.wait_for_url(re.compile(r"/$"))


# -- the header -------------------------------------------------------------------------------------------------
def test_the_account_menu_works_by_keyboard(signed_in, owner):
    page = signed_in
    toggle = page.get_by_role("button", name=owner.get_username(), exact=True)
    items = page.locator("#account-items")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(items).to_be_hidden()

    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    for name in ("API tokens", "API docs", "Change password"):
        expect(items.get_by_role("link", name=name)).to_be_visible()
    expect(items.get_by_role("button", name="Sign out")).to_be_visible()
    shot(page, "pages-account-menu")
    page.keyboard.press("ArrowDown")
    expect(items.get_by_role("link", name="API tokens")).to_be_focused()
    page.keyboard.press("Escape")
    expect(items).to_be_hidden()
    expect(toggle).to_be_focused()
    expect(toggle).to_have_attribute("aria-expanded", "false")

    toggle.click()  # a click elsewhere closes it
    page.locator("h1").click()
    expect(items).to_be_hidden()

    toggle.click()
    items.get_by_role("link", name="API tokens").click()
    page.wait_for_url("**/tokens/")
    page.get_by_role("button", name=owner.get_username(), exact=True).click()
    page.locator("#account-items").get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login/**")


def test_no_header_runs_off_a_1280_px_window(signed_in, owner, labs):
    page = signed_in
    # The editor at its widest: a running lab whose saved document it does not run yet ("N changes not applied").
    lab = labs.deploy(reference_document())
    topology = Topology.objects.get(pk=lab.topology_id)
    changed = reference_document()
    changed["nodes"].append({"name": "c9", "kind": "host", "position": {"x": 200, "y": 150}})
    services.update_topology(topology, changed)
    course = Course.objects.create(name="Networks 101: routing, switching and the rest", slug="networks-101",
                                   join_code="E2E-HEAD")
    CourseMember.objects.create(course=course, user=owner, role=CourseMember.Role.INSTRUCTOR)

    pages = {
        "list": "/",
        "tokens": "/tokens/",
        "course": f"/courses/{course.pk}/",
        "capture": f"/topologies/{topology.pk}/capture/?target=r1:eth0",
        "format": "/help/format/",
    }
    for name, path in pages.items():
        page.goto(path)
        page.wait_for_load_state("networkidle")
        assert clipped(page) == [], name
        shot(page, f"pages-header-{name}")

    open_editor(page, topology.pk)
    expect(page.locator("#apply-indicator")).to_be_visible(timeout=15000)
    expect(page.locator("#apply-indicator")).to_contain_text("not applied")
    expect(page.get_by_role("button", name="Apply changes…")).to_be_visible()
    assert clipped(page) == [], "editor"
    toggle = page.get_by_role("button", name=owner.get_username(), exact=True)
    toggle.click()
    menu = page.locator("#account-items")
    expect(menu).to_be_visible()
    box = menu.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 1280
    shot(page, "pages-header-editor")
