""""Ping all" in a real browser: the toolbar's button on the running reference lab, the matrix it shows, and
the holes after c1 loses its default route. Pings run for real, in the exec worker, in the lab's containers.

    c1 (192.168.10.2/24) --eth0-- r1 --eth1-- c2 (192.168.11.2/24)
                         .10.1/24    .11.1/24
"""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.documents import reference_document

from .conftest import shot
from .helpers import needs_node, open_editor, run_js_tests

PING = 45_000  # ms: the whole matrix, with its holes waiting their 1 s each


def test_the_ping_all_button_shows_who_reaches_whom_and_the_holes_of_a_removed_route(signed_in, labs):
    page = signed_in
    lab = labs.deploy(reference_document())
    open_editor(page, lab.topology_id)
    page.wait_for_function("() => window.topolab.ed.lab.state === 'running'")

    button = page.get_by_role("button", name="Ping all")
    expect(button).to_be_enabled()
    button.click()
    dialog = page.locator("#ping-dialog")
    expect(dialog).to_be_visible()
    summary = dialog.locator("#ping-summary")
    expect(summary).to_have_text(re.compile(r"^All 8 reachable \(took \d+\.\d s\)\.$"), timeout=PING)

    matrix = dialog.locator("#ping-matrix")
    expect(matrix.locator("thead th.ping-group")).to_have_text(["c1", "r1", "c2"])  # addresses grouped by node
    expect(matrix.locator("thead th.ping-address")).to_have_text(
        ["eth0192.168.10.2", "eth0192.168.10.1", "eth1192.168.11.1", "eth0192.168.11.2"])
    expect(matrix.locator("tbody th.ping-source")).to_have_text(["c1", "r1", "c2"])
    expect(matrix.locator("td.ping-ok")).to_have_count(8)
    expect(matrix.locator("td.ping-self")).to_have_count(4)  # r1 has two addresses of its own
    expect(matrix.locator("td.ping-fail")).to_have_count(0)
    for text in matrix.locator("td.ping-ok").all_inner_texts():
        assert re.fullmatch(r"✓\s*(\d+(\.\d+)? ms)?", text.strip()), text  # the mark, then the time
    expect(dialog.get_by_text("Every node reaches every address of the lab.")).to_be_visible()
    shot(page, "ping-matrix-all-reachable")

    # c1 loses its default route: run it again, and exactly three cells say so.
    code, output = labs.run(lab, "c1", "ip", "route", "del", "default")
    assert code == 0, output
    dialog.get_by_role("button", name="Run again").click()
    expect(summary).to_have_text(re.compile(r"^5 of 8 reachable, 3 not"), timeout=PING)
    expect(matrix.locator("td.ping-fail")).to_have_count(3)
    expect(matrix.locator("td.ping-ok")).to_have_count(5)
    c1_row = matrix.locator("tbody tr").nth(0)
    expect(c1_row.locator("td")).to_have_text([re.compile("—"), re.compile("✓"), re.compile("✗"), re.compile("✗")])
    c2_row = matrix.locator("tbody tr").nth(2)
    expect(c2_row.locator("td")).to_have_text([re.compile("✗"), re.compile("✓"), re.compile("✓"), re.compile("—")])
    expect(c2_row.locator("td").nth(0)).to_have_attribute("title", re.compile(r"c2 does not reach 192\.168\.10\.2 .*no reply"))
    holes = dialog.locator(".ping-holes li")
    expect(holes).to_have_count(3)
    expect(holes.nth(0)).to_contain_text("c1 → 192.168.11.1 (r1 eth1)")
    shot(page, "ping-matrix-holes")

    # Closed, and the lab destroyed: the button says why it cannot ping.
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    labs.destroy(lab)
    page.wait_for_function("() => window.topolab.ed.lab.state === 'stopped'")
    expect(button).to_be_disabled()
    expect(page.locator("#ping-wrap")).to_have_attribute("title", "The lab is not running: deploy it first.")


@needs_node
def test_it_passes_the_ping_matrix_unit_tests():
    run_js_tests("ping-matrix.test.js")
