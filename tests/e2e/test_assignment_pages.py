"""The assignment pages in a browser: an instructor writes and publishes an assignment, a student starts it.

The instructor (on the course page, "New assignment") writes an assignment from the reference lab
(one of their topologies, picked as the template), with Markdown instructions previewed by the server
and two checks typed as command lines; a bad pattern is shown beside its cell, then fixed; Save and
Publish. "Try on my lab" makes their own copy and says to deploy it first. The student starts the
assignment from the course page and the editor shows the instructions panel beside the canvas and the
dock; Reset asks first and gives the template back. The instructor opens the student's copy: read-only,
nothing on the canvas or in the panel changes it. Screenshots in tests/artifacts/assignment-*.png.
"""
from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from tests.documents import reference_document
from tests.e2e.conftest import PASSWORD, shot
from topology import assignments, courses, services
from topology.models import Assignment, Course, CourseMember, Topology
from topology.testing.labs import wait_for

from .helpers import add_check, check_row, new_page, node_point, sign_in

pytestmark = pytest.mark.integration

TEACHER_PASSWORD = "pw-teacher-1"


@pytest.fixture
def teacher(transactional_db):
    """The course's instructor (a course member with that role: the group "instructors" only matters for
    creating courses)."""
    return get_user_model().objects.create_user("teacher", password=TEACHER_PASSWORD, first_name="Tess")


@pytest.fixture
def course(teacher, owner):
    c = Course.objects.create(name="Networks 101", slug="networks-101", join_code=courses.new_join_code(), created_by=teacher)
    CourseMember.objects.create(course=c, user=teacher, role=CourseMember.Role.INSTRUCTOR)
    CourseMember.objects.create(course=c, user=owner, role=CourseMember.Role.STUDENT)
    return c


def test_an_instructor_publishes_an_assignment_and_a_student_starts_it(browser, web, teacher, owner, course):
    errors: list[str] = []
    mine = services.import_topology(teacher, reference_document())  # the template, one of the teacher's topologies
    teacher_context, tpage = new_page(browser, web, errors)
    student_context, spage = new_page(browser, web, errors)
    try:
        # -- the instructor writes the assignment on its page -------------------------------------------------
        sign_in(tpage, teacher.username, TEACHER_PASSWORD)
        tpage.goto(f"/courses/{course.pk}/")
        expect(tpage.locator("#assignments")).to_contain_text("No assignments yet")
        tpage.locator("#new-assignment").click()
        tpage.wait_for_url(f"**/courses/{course.pk}/assignments/new/")
        tpage.locator("#a-title").fill("Static routes")
        tpage.locator("#a-instructions").fill("Make **c1** reach c2 through `r1`.\n\n<script>alert(1)</script>")
        expect(tpage.locator("#a-preview strong")).to_have_text("c1")  # the server's rendering
        expect(tpage.locator("#a-preview code")).to_have_text("r1")
        assert tpage.locator("#a-preview script").count() == 0  # raw HTML is text, never markup
        tpage.locator("#a-template-pick").select_option(str(mine.pk))
        expect(tpage.locator("#a-template-summary")).to_contain_text("3 nodes, 2 links")
        add_check(tpage, 0, "c1", "ping -c1 -W2 192.168.11.2", "c1 pings c2", points=2)
        expect(check_row(tpage, 0).locator(".argv code")).to_have_text(["ping", "-c1", "-W2", "192.168.11.2"])
        add_check(tpage, 1, "c1", "sh -c 'ip route | grep \"default via\"'", "c1 routes through r1",
                  expect_="match", pattern="default via (192")
        expect(check_row(tpage, 1).locator(".argv code")).to_have_text(["sh", "-c", 'ip route | grep "default via"'])

        # A bad pattern: nothing is saved, the problem sits beside its cell.
        tpage.locator("#a-save").click()
        problem = check_row(tpage, 1).locator('.field-error[data-path="checks[1].pattern"]')
        expect(problem).not_to_be_empty()
        expect(tpage.locator("#page-message .notice-error")).to_contain_text("Not saved")
        assert not Assignment.objects.exists()
        shot(tpage, "assignment-1-instructor-problem")

        check_row(tpage, 1).locator("[data-field=pattern]").fill(r"default via 192\.168\.10\.1")
        tpage.locator("#a-save").click()
        expect(tpage.locator("#page-message")).to_contain_text("Saved as a draft")
        assignment = Assignment.objects.get(course=course, title="Static routes")
        tpage.wait_for_url(f"**/courses/{course.pk}/assignments/{assignment.pk}/")
        expect(problem).to_be_empty()
        assert [c["argv"] for c in assignment.checks] == [["ping", "-c1", "-W2", "192.168.11.2"],
                                                          ["sh", "-c", 'ip route | grep "default via"']]
        assert assignment.checks[1]["pattern"] == r"default via 192\.168\.10\.1" and assignment.checks[0]["points"] == 2
        assert [n["name"] for n in assignment.template["nodes"]] == [n["name"] for n in mine.document["nodes"]]
        assert assignment.published is None
        expect(tpage.locator("#a-state")).to_have_text("draft")

        tpage.locator("#a-publish").click()
        expect(tpage.locator("#a-state")).to_have_text("published")
        assignment.refresh_from_db()
        assert assignment.published is not None

        # "Try on my lab": the instructor's own copy is made, and it is not running: deploy it first.
        tpage.locator("#a-try").click()
        expect(tpage.locator("#try-results")).to_contain_text("not running")
        teacher_copy = Topology.objects.get(owner=teacher, assignment=assignment)
        expect(tpage.locator("#try-open-copy")).to_have_attribute("href", f"/topologies/{teacher_copy.pk}/")
        expect(tpage.locator("#results")).to_contain_text(owner.username)
        expect(tpage.locator("#a-csv")).to_have_attribute("href", f"/api/v1/assignments/{assignment.pk}/results.csv")
        shot(tpage, "assignment-2-instructor-published")

        # -- the student starts it from the course page ------------------------------------------------------------
        sign_in(spage, owner.username, PASSWORD)
        spage.goto(f"/courses/{course.pk}/")
        row = spage.locator(f"#assignments tr[data-id='{assignment.pk}']")
        expect(row).to_contain_text("Static routes")
        row.get_by_role("button", name="Start").click()
        spage.wait_for_url(re.compile(r"/topologies/\d+/$"))
        copy = Topology.objects.get(owner=owner, assignment=assignment)
        spage.wait_for_selector("body[data-ready=true]")
        expect(spage.locator("#assign-title")).to_have_text("Static routes")
        expect(spage.locator("#assign-instructions strong")).to_have_text("c1")
        assert spage.locator("#assign-instructions script").count() == 0
        expect(spage.locator("#assign-checks li")).to_have_count(2)
        expect(spage.locator("#check-my-work")).to_be_disabled()
        expect(spage.locator("#check-why")).to_contain_text("Deploy the lab first")
        # Beside the canvas and the dock, opened: the dock ends where the panel begins.
        spage.locator("#dock-toggle").click()
        panel, dock, cy = (spage.locator(s).bounding_box() for s in ("#assign-panel", "#dock", "#cy"))
        assert panel["width"] >= 240 and panel["x"] >= dock["x"] + dock["width"] - 1 and panel["x"] >= cy["x"] + cy["width"] - 1
        assert panel["y"] + panel["height"] >= dock["y"] + dock["height"] - 1  # it reaches down beside the dock
        shot(spage, "assignment-3-student-editor")
        # It folds to a strip, and comes back.
        spage.locator("#assign-toggle").click()
        expect(spage.locator("#assign-body")).to_be_hidden()
        assert spage.locator("#assign-panel").bounding_box()["width"] < 60
        spage.locator("#assign-toggle").click()
        expect(spage.locator("#assign-body")).to_be_visible()

        # Reset asks first; cancelled, nothing happens; confirmed, the template is back.
        Topology.objects.filter(pk=copy.pk).update(document={**copy.document, "description": "my changes"})
        spage.goto(f"/courses/{course.pk}/")
        row.get_by_role("link", name="Open my copy").wait_for()
        row.get_by_role("button", name="Reset").click()
        expect(spage.locator("#reset-dialog")).to_contain_text("destroys your lab and gives you the template back")
        spage.locator("#reset-cancel").click()
        assert Topology.objects.get(pk=copy.pk).document["description"] == "my changes"
        row.get_by_role("button", name="Reset").click()
        spage.locator("#reset-ok").click()
        expect(spage.locator("#assignments-message")).to_contain_text("template again")
        assert Topology.objects.get(pk=copy.pk).document.get("description", "") == reference_document().get("description", "")

        # -- the instructor opens the student's copy: read-only --------------------------------------------------
        tpage.goto(f"/courses/{course.pk}/")
        expect(tpage.locator(f"#assignments tr[data-id='{assignment.pk}']")).to_contain_text("published")
        tpage.goto(f"/topologies/{copy.pk}/")
        tpage.wait_for_selector("body[data-ready=true]")
        expect(tpage.locator("#readonly-banner")).to_have_text(f"Read-only: {owner.username}'s topology")
        for hidden in ("#btn-save", "#deploy-wrap", "#destroy-wrap", "#btn-undo", "#palette-edit", "#palette-tools"):
            expect(tpage.locator(hidden)).to_be_hidden()
        expect(tpage.locator("#assign-title")).to_have_text("Static routes")
        before = Topology.objects.get(pk=copy.pk).document
        positions = tpage.evaluate("() => window.topolab.ed.doc.nodes.map((n) => n.position)")
        x, y = node_point(tpage, "r1")
        tpage.mouse.move(x, y)
        tpage.mouse.down()
        tpage.mouse.move(x + 120, y + 80, steps=8)
        tpage.mouse.up()
        tpage.mouse.click(x, y)
        tpage.wait_for_function("() => window.topolab.canvas.selection().nodes.includes('r1')")
        name = tpage.locator("#panel").get_by_label("Name", exact=True)
        expect(name).to_be_disabled()
        tpage.keyboard.press("Delete")
        expect(tpage.locator("#dock-status")).to_contain_text("Read-only")
        tpage.keyboard.press("Control+s")
        assert tpage.evaluate("() => window.topolab.ed.doc.nodes.map((n) => n.position)") == positions
        assert [n["name"] for n in tpage.evaluate("() => window.topolab.ed.doc.nodes")] == [n["name"] for n in before["nodes"]]
        expect(tpage.locator("#unsaved")).to_be_hidden()
        shot(tpage, "assignment-4-instructor-readonly")
        assert Topology.objects.get(pk=copy.pk).document == before
    finally:
        teacher_context.close()
        student_context.close()
    assert not errors, f"JavaScript errors on the pages: {errors}"


CHECKS = [
    {"node": "c1", "argv": ["ping", "-c1", "-W2", "192.168.11.2"], "expect": "exit0", "description": "c1 pings c2",
     "points": 2, "hidden": False, "timeout": 10},
    {"node": "c1", "argv": ["ip", "route"], "expect": "match", "pattern": r"default via 192\.168\.10\.1",
     "description": "c1 routes through r1", "points": 1, "hidden": False, "timeout": 10},
]


def test_try_on_my_lab_runs_the_unsaved_checks_on_the_instructors_deployed_copy(browser, web, labs, exec_worker,
                                                                                 no_leftovers, teacher, course):
    """The instructor's own copy, deployed: "Try on my lab" runs the checks as the table holds them (a change
    not saved included) and shows each pass/fail with what was seen; the saved checks do not change."""
    errors: list[str] = []
    assignment = Assignment.objects.create(course=course, title="Static routes", template=reference_document(),
                                           checks=CHECKS, created_by=teacher)
    mine, _ = assignments.start(teacher, assignment.pk)
    labs.deployed.append(mine.lab)  # destroyed by the fixture whatever happens
    context, tpage = new_page(browser, web, errors)
    try:
        sign_in(tpage, teacher.username, TEACHER_PASSWORD)
        tpage.goto(f"/courses/{course.pk}/assignments/{assignment.pk}/")
        expect(check_row(tpage, 1).locator("[data-field=pattern]")).to_have_value(CHECKS[1]["pattern"])
        tpage.locator("#a-try").click()
        expect(tpage.locator("#try-results")).to_contain_text("not running")

        assert wait_for(mine.lab, services.request_deploy(mine.lab)).state == "running"
        tpage.locator("#a-try").click()
        result = tpage.locator("#try-results")
        expect(result).to_contain_text("Score 3/3", timeout=60_000)
        expect(result.locator(".check-result.pass")).to_have_count(2)
        expect(result.locator(".check-result").nth(1).locator(".check-seen")).to_contain_text("default via 192.168.10.1")

        # An unsaved change is what runs: c1 cannot ping an address nobody has.
        check_row(tpage, 0).locator("[data-field=command]").fill("ping -c1 -W1 192.168.11.99")
        tpage.locator("#a-try").click()
        expect(result).to_contain_text("Score 1/3", timeout=60_000)
        failed = result.locator(".check-result.fail")
        expect(failed).to_have_count(1)
        expect(failed).to_contain_text("c1 pings c2")
        expect(failed.locator(".check-seen")).not_to_be_empty()
        shot(tpage, "assignment-5-try-on-my-lab")
        assignment.refresh_from_db()
        assert assignment.checks[0]["argv"] == CHECKS[0]["argv"]  # a trial saves nothing

        # "In a probe": the route check runs with Topolab's own tools in c1's network, and still passes.
        check_row(tpage, 0).locator("[data-field=command]").fill(" ".join(CHECKS[0]["argv"]))
        check_row(tpage, 1).locator("[data-field=in]").select_option("probe")
        tpage.locator("#a-try").click()
        expect(result).to_contain_text("Score 3/3", timeout=60_000)
        tpage.locator("#a-save").click()
        expect(tpage.locator("#page-message")).to_contain_text("Saved.")
        assignment.refresh_from_db()
        assert [c.get("in", "node") for c in assignment.checks] == ["node", "probe"]
    finally:
        context.close()
        mine.lab.refresh_from_db()
        if mine.lab.state != "stopped":
            wait_for(mine.lab, services.request_destroy(mine.lab))
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_a_copy_of_an_assignment_taken_back_keeps_its_editor_without_the_panel(signed_in, course, owner):
    """Unpublished (or deleted) after the student started it: the copy stays theirs, the panel says why it is
    empty and offers no "Check my work"."""
    from django.utils import timezone

    assignment = Assignment.objects.create(course=course, title="Taken back", template=reference_document(),
                                           published=timezone.now())
    copy = services.import_topology(owner, {**reference_document(), "name": "taken-back"}, assignment=assignment)
    Assignment.objects.filter(pk=assignment.pk).update(published=None)
    page = signed_in
    page.goto(f"/topologies/{copy.pk}/")
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator("#assign-instructions")).to_contain_text("no longer available to you; it stays yours")
    expect(page.locator("#check-my-work")).to_be_hidden()
    expect(page.locator("#assign-body")).to_be_hidden()  # folded away: the canvas gets the room
