"""An instructor captures packets on a student's running lab (issue 14, with the classroom issue's supervisors):
in the read-only editor, a link's panel has no Live section (nothing of the lab changes from there) but has
its Capture buttons; the capture page they open starts a capture that shows the student's pings as they pass.

    c1 (192.168.10.2/24) --eth0-- r1 --eth1-- c2 (192.168.11.2/24)
"""
from __future__ import annotations

import threading

from playwright.sync_api import expect

from tests.classroom import SUPERVISOR_PASSWORD, supervised
from tests.documents import reference_document

from .conftest import shot
from .helpers import open_editor, sign_in
from .test_live_links import select_link


def test_an_instructor_captures_on_a_students_lab_from_the_read_only_editor(browser, web, labs, relay, capture):
    lab = labs.deploy(reference_document())
    assert lab.state == "running", lab.reason
    instructor = supervised(lab)
    context = browser.new_context(viewport={"width": 1280, "height": 720}, base_url=web.url)
    context.set_default_timeout(15000)
    errors: list[str] = []
    context.on("weberror", lambda e: errors.append(str(e.error)))
    try:
        page = context.new_page()
        sign_in(page, instructor.get_username(), SUPERVISOR_PASSWORD)
        open_editor(page, lab.topology_id)
        expect(page.locator("#readonly-banner")).to_contain_text("Read-only: student's topology")
        page.wait_for_function("() => window.topolab.ed.lab.state === 'running'")
        select_link(page)
        panel = page.locator("#panel")
        expect(panel.get_by_text("Capture (the running lab)")).to_be_visible()
        expect(panel.get_by_text("Live (the running lab)")).to_have_count(0)  # no state toggle, no impairment
        expect(panel.get_by_role("switch")).to_have_count(0)
        button = panel.get_by_role("link", name="Capture c2 eth0")
        expect(button).to_be_visible()
        expect(panel.get_by_role("link", name="Capture r1 eth1")).to_be_visible()
        shot(page, "capture-supervisor-panel")

        with context.expect_page() as opened:
            button.click()
        view = opened.value
        view.wait_for_load_state()
        expect(view.get_by_label("Interface (node:interface)")).to_have_value("c2:eth0")
        view.get_by_label("Capture filter (tcpdump's syntax; empty: everything)").fill("icmp")
        view.get_by_role("button", name="Start capture").click()
        expect(view.locator("#cap-state")).to_have_text("capturing", timeout=15_000)

        # The student pings c2 from c1 (here straight into the container: the instructor has no shell there).
        pinging = threading.Thread(target=labs.run, args=(lab, "c1", "ping", "-c", "3", "-i", "0.3", "192.168.11.2"))
        pinging.start()
        rows = view.locator("#cap-rows tr[data-no]")
        expect(rows).to_have_count(6, timeout=20_000)
        pinging.join(timeout=20)
        expect(rows.first.locator(".c-info")).to_contain_text("echo request")
        shot(view, "capture-supervisor-live")
        view.get_by_role("button", name="Stop").click()
        expect(view.locator("#cap-state")).to_contain_text("ended: stopped by", timeout=15_000)
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the pages: {errors}"
