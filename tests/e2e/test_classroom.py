"""A class in the browser, end to end: instructor and student in two contexts of one Chromium.

The instructor (group "instructors") creates a course on the Courses page, enrols the student on the
course page, and creates and publishes an assignment: the reference lab with two checks ("c1 pings c2",
exit status; "c1 routes through r1", a pattern). The student signs in elsewhere, starts the assignment,
deploys their copy in the editor and presses "Check my work" in the instructions panel: the score shows.
All the while the instructor's course page stays open, never reloaded, and its grid follows the
student's cell: not started, running, then the score. The lab is destroyed at the end (the fixtures check
that nothing is left).
"""
from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from tests.classroom import make_instructor
from tests.documents import REFERENCE_FILE, reference_document
from tests.e2e.conftest import PASSWORD, shot
from tests.e2e.helpers import add_check, new_page, sign_in
from topology.models import Assignment, Course, Lab, Topology

pytestmark = pytest.mark.integration

TEACHER_PASSWORD = "pw-teacher-1"


@pytest.fixture
def instructor(transactional_db):
    user = get_user_model().objects.create_user("teacher", password=TEACHER_PASSWORD, first_name="Tess")
    return make_instructor(user)


def test_an_instructor_sees_a_students_work_and_score_live(browser, web, labs, exec_worker, instructor, owner):
    errors: list[str] = []
    teacher_context, teacher = new_page(browser, web, errors)
    student_context, student = new_page(browser, web, errors)
    try:
        # The instructor creates the course on the Courses page and enrols the student on its page.
        sign_in(teacher, instructor.username, TEACHER_PASSWORD)
        teacher.goto("/courses/")
        teacher.locator("#course-name").fill("Networks 101")
        teacher.get_by_role("button", name="Create course").click()
        teacher.wait_for_url(re.compile(r"/courses/\d+/$"))
        course = Course.objects.get(name="Networks 101")
        teacher.locator("#enrol-username").fill(owner.username)
        teacher.get_by_role("button", name="Enrol", exact=True).click()
        expect(teacher.locator("#roster")).to_contain_text(owner.username)

        # The assignment, on its page: the reference lab uploaded as the template, two checks; saved, published.
        teacher.locator("#new-assignment").click()
        teacher.wait_for_url(f"**/courses/{course.pk}/assignments/new/")
        teacher.locator("#a-title").fill("Route between two clients")
        teacher.locator("#a-instructions").fill("Make **c1** reach c2 through r1.")
        teacher.locator("#a-template-file").set_input_files(str(REFERENCE_FILE))
        expect(teacher.locator("#a-template-summary")).to_contain_text("3 nodes, 2 links")
        add_check(teacher, 0, "c1", "ping -c1 -W2 192.168.11.2", "c1 pings c2", points=2)
        add_check(teacher, 1, "c1", "ip route", "c1 routes through r1", expect_="match",
                  pattern=r"default via 192\.168\.10\.1")
        teacher.locator("#a-save").click()
        expect(teacher.locator("#page-message")).to_contain_text("Saved as a draft")
        assignment = Assignment.objects.get(course=course)
        teacher.wait_for_url(f"**/courses/{course.pk}/assignments/{assignment.pk}/")
        teacher.locator("#a-publish").click()
        expect(teacher.locator("#a-state")).to_have_text("published")
        assignment.refresh_from_db()
        assert [(c["argv"], c["expect"]) for c in assignment.checks] == [
            (["ping", "-c1", "-W2", "192.168.11.2"], "exit0"), (["ip", "route"], "match")]
        assert assignment.template["nodes"] == reference_document()["nodes"] and assignment.published

        # The course page, opened once and never reloaded: the grid has the student, not started yet.
        teacher.goto(f"/courses/{course.pk}/")
        teacher.evaluate("() => { window.__sameDocument = true; }")
        cell = teacher.locator(f"[data-student='{owner.username}'][data-assignment='{assignment.pk}']")
        expect(cell).to_contain_text("not started")
        expect(teacher.locator(f"#assignments tr[data-id='{assignment.pk}'] td.num")).to_have_text("0")
        teacher.locator("#course-grid").scroll_into_view_if_needed()
        shot(teacher, "classroom-1-instructor-not-started")

        # The student starts the assignment from the course page and opens the copy.
        sign_in(student, owner.username, PASSWORD)
        student.goto(f"/courses/{course.pk}/")
        student.get_by_role("button", name="Start").click()
        student.wait_for_url(re.compile(r"/topologies/\d+/$"))
        copy = Topology.objects.get(owner=owner, assignment=assignment)
        labs.deployed.append(Lab.objects.get(topology=copy))  # destroyed by the fixture if the test fails
        student.wait_for_selector("body[data-ready=true]")
        expect(student.locator("#assign-title")).to_have_text("Route between two clients")
        expect(student.locator("#assign-instructions strong")).to_have_text("c1")
        expect(cell).to_contain_text("editing")
        started = teacher.locator(f"#assignments tr[data-id='{assignment.pk}'] td.num")
        expect(started).to_have_text("1")  # the assignments table's count follows too, without a reload

        # Deploy from the editor; the instructor's cell follows.
        student.get_by_role("button", name="Deploy ▶").click()
        student.wait_for_function("() => !window.topolab.ed.lab.busy && window.topolab.ed.lab.state === 'running'",
                                  timeout=180_000)
        expect(cell).to_contain_text("running", timeout=30_000)

        # "Check my work" in the instructions panel: the score, each check passed.
        student.locator("#check-my-work").click()
        result = student.locator("#check-result")
        expect(result).to_contain_text("Score 3/3", timeout=60_000)
        expect(result.locator(".check-result.pass")).to_have_count(2)
        shot(student, "classroom-2-student-checked")
        expect(cell).to_contain_text("3/3", timeout=30_000)
        assert teacher.evaluate("() => window.__sameDocument === true"), "the course page was reloaded"
        teacher.locator("#course-grid").scroll_into_view_if_needed()
        shot(teacher, "classroom-3-instructor-score")

        # Destroy from the editor: the cell goes back to editing, still with the score.
        student.get_by_role("button", name="Destroy ■").click()
        if student.locator("#confirm-ok").is_visible():
            student.locator("#confirm-ok").click()
        student.locator("#destroy-ok").click()  # it asks first (destroy-confirm.js)
        student.wait_for_function("() => !window.topolab.ed.lab.busy && window.topolab.ed.lab.state === 'stopped'",
                                  timeout=120_000)
        expect(cell).to_contain_text("editing", timeout=30_000)
        expect(cell).to_contain_text("3/3")
        assert teacher.evaluate("() => window.__sameDocument === true"), "the course page was reloaded"
        teacher.locator("#course-grid").scroll_into_view_if_needed()
        shot(teacher, "classroom-4-instructor-destroyed")
        assert Lab.objects.get(topology=copy).state == "stopped"
    finally:
        teacher_context.close()
        student_context.close()
    assert not errors, f"JavaScript errors on the pages: {errors}"
