"""The topologies page: create, rename, duplicate, delete, import (errors listed), export."""
import json
import re

from tests.documents import reference_document
from topology import services
from topology.models import Topology

from .conftest import shot


def row(page, name: str):
    return page.locator(f"#topologies tbody tr[data-name='{name}']")


def test_it_signs_in_and_lists_creates_renames_duplicates_and_deletes(signed_in, owner):
    page = signed_in
    services.import_topology(owner, reference_document())
    page.reload()
    r = row(page, "router-between-two-clients")
    r.wait_for()
    assert r.locator("td").nth(1).inner_text() == "3" and r.locator("td").nth(2).inner_text() == "2"
    assert r.locator(".badge").inner_text() == "not running"

    page.get_by_role("button", name="Rename").click()
    page.locator("#rename-name").fill("renamed-lab")
    page.locator("#rename-ok").click()
    row(page, "renamed-lab").wait_for()
    assert Topology.objects.filter(owner=owner, name="renamed-lab").exists()

    row(page, "renamed-lab").get_by_role("button", name="Duplicate").click()
    row(page, "renamed-lab-copy").wait_for()
    assert Topology.objects.get(owner=owner, name="renamed-lab-copy").document["nodes"] == \
        Topology.objects.get(owner=owner, name="renamed-lab").document["nodes"]

    row(page, "renamed-lab").get_by_role("button", name="Export").click()  # its menu (export-menu.js): JSON first
    with page.expect_download() as download:
        row(page, "renamed-lab").get_by_role("button", name=re.compile("^Topolab JSON")).click()
    exported = json.loads(open(download.value.path()).read())
    assert exported["name"] == "renamed-lab" and len(exported["nodes"]) == 3
    shot(page, "list")

    row(page, "renamed-lab-copy").get_by_role("button", name="Delete").click()
    assert page.locator("#confirm-dialog").is_visible()
    page.locator("#confirm-cancel").click()
    assert Topology.objects.filter(owner=owner, name="renamed-lab-copy").exists()
    row(page, "renamed-lab-copy").get_by_role("button", name="Delete").click()
    page.locator("#confirm-ok").click()
    row(page, "renamed-lab-copy").wait_for(state="detached")
    assert not Topology.objects.filter(owner=owner, name="renamed-lab-copy").exists()

    page.get_by_placeholder("new-topology-name").fill("fresh")
    page.get_by_role("button", name="Create").click()
    page.wait_for_selector("body[data-ready=true]")
    assert Topology.objects.get(owner=owner, name="fresh").document["nodes"] == []


def test_it_lists_every_error_of_an_imported_file_and_saves_nothing(signed_in, owner, tmp_path):
    page = signed_in
    bad = reference_document()
    bad["links"][1]["endpoints"][0]["node"] = "r9"
    bad["nodes"][0]["name"] = "C1"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(bad))
    page.locator("#import-file").set_input_files(str(path))
    notice = page.locator("#list-message .notice-error")
    notice.wait_for()
    text = notice.inner_text()
    assert "nothing was saved" in text
    assert "links[1].endpoints[0].node" in text
    assert "nodes[0].name" in text
    assert not Topology.objects.filter(owner=owner).exists()
    shot(page, "list-import-errors")

    path.write_text(json.dumps(reference_document()))
    page.locator("#import-file").set_input_files(str(path))
    row(page, "router-between-two-clients").wait_for()
    assert Topology.objects.filter(owner=owner).count() == 1


def test_it_refuses_another_users_editor(signed_in, owner, django_user_model):
    other = django_user_model.objects.create_user("mallory", password="pw-mallory-1")
    theirs = services.import_topology(other, reference_document())
    response = signed_in.goto(f"/topologies/{theirs.pk}/")
    assert response.status == 404
