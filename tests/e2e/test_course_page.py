"""The instructor's course page in a real browser: the live grid follows a student's cell (state, running
nodes, score) without a reload, and "Destroy all labs of this course" asks first, saying how many.

The changes are driven server-side, as the lab worker and the check runs make them: labstate's calls
(which publish the lab's news and, through coursefeed, the course's cell), a CheckRun written then
coursefeed called. Those run in a thread of their own: Playwright keeps an event loop in the test's
thread, where the channel layer's async_to_sync refuses to run.
"""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from tests.documents import reference_document
from topology import coursefeed, labstate, services
from topology.models import Assignment, CheckRun, Course, CourseMember, Lab, LabState, Topology

from .conftest import shot
from .helpers import sign_in

pytestmark = pytest.mark.integration

TEACHER_PASSWORD = "pw-teacher-2"


def server_side(action, *args):
    """Run ``action`` as the worker would: in a thread without an event loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(action, *args).result()


@pytest.fixture
def classroom(transactional_db, owner):
    """Tess teaches "Networks 101"; `owner` (the student) has a copy of A1 (stopped); A2 is a draft."""
    teacher = get_user_model().objects.create_user("tess", password=TEACHER_PASSWORD, first_name="Tess",
                                                   last_name="Teacher")
    course = Course.objects.create(name="Networks 101", slug="networks-101", join_code="E2E-GRID")
    CourseMember.objects.create(course=course, user=teacher, role=CourseMember.Role.INSTRUCTOR)
    CourseMember.objects.create(course=course, user=owner, role=CourseMember.Role.STUDENT)
    a1 = Assignment.objects.create(course=course, title="A1 static routes", template=reference_document(),
                                   published=timezone.now())
    a2 = Assignment.objects.create(course=course, title="A2 OSPF", template=reference_document())
    copy = services.import_topology(owner, {**reference_document(), "name": "a1-static-routes"}, assignment=a1)
    coursefeed.reset()
    return {"teacher": teacher, "course": course, "a1": a1, "a2": a2, "copy": Topology.objects.get(pk=copy.pk)}


def to_grid(page) -> None:
    page.locator("#course-grid").evaluate("(e) => e.scrollIntoView({block: 'start'})")


def test_the_grid_follows_a_students_cell_live(page, classroom, owner):
    course, a1, a2, copy = classroom["course"], classroom["a1"], classroom["a2"], classroom["copy"]
    lab = copy.lab
    page.set_viewport_size({"width": 1280, "height": 900})
    refused: list[str] = []  # what the strict Content-Security-Policy blocked (inline script or style)
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    sign_in(page, "tess", TEACHER_PASSWORD)
    page.goto(f"/courses/{course.pk}/")
    expect(page.locator("#grid-live")).to_have_text("live")
    page.evaluate("() => { window.__sameDocument = true; }")
    cell = page.locator(f"#grid td[data-student='{owner.username}'][data-assignment='{a1.pk}']")
    other = page.locator(f"#grid td[data-student='{owner.username}'][data-assignment='{a2.pk}']")
    expect(cell).to_have_attribute("data-status", "editing")
    expect(cell.locator(".cell-state")).to_have_text("✎ editing")
    expect(other).to_have_attribute("data-status", "not started")
    expect(page.locator("#grid thead")).to_contain_text("draft")
    expect(page.get_by_role("button", name="Destroy all labs")).to_be_disabled()

    # A deploy begins (the web tier's labstate call): the cell says deploying.
    server_side(labstate.do_begin, lab, LabState.DEPLOYING, "deploy requested", "op-e2e", ["c1", "r1", "c2"])
    expect(cell).to_have_attribute("data-status", "deploying")
    expect(cell.locator(".cell-state")).to_have_text("◐ deploying")

    # The worker's build ends: running, with a console menu of its running nodes.
    def built():
        labstate.do_nodes_running(lab, {name: ("ab" * 32, []) for name in ("c1", "r1", "c2")})
        labstate.do_finish(lab, "op-e2e", LabState.RUNNING)

    server_side(built)
    expect(cell).to_have_attribute("data-status", "running")
    expect(cell.locator(".cell-score")).to_have_text("—")
    to_grid(page)
    cell.get_by_text("Watch ▾").click()
    links = cell.locator(".cell-menu-list a")
    expect(links).to_have_text(["c1", "c2", "r1"])
    expect(links.first).to_be_visible()
    shot(page, "course-grid-console-menu")
    page.locator("#grid-title").click()  # a click elsewhere closes the menu
    expect(links.first).to_be_hidden()
    assert links.first.get_attribute("href") == f"/topologies/{copy.pk}/nodes/c1/console/?mode=watch"
    assert cell.get_by_role("link", name="Open").get_attribute("href") == f"/topologies/{copy.pk}/"
    expect(page.get_by_role("button", name="Destroy all labs")).to_be_enabled()

    # A check run starts, then finishes with 3 of 5 points: "checking…", then the score.
    run = CheckRun.objects.create(assignment=a1, topology=copy, user=owner, requested_by=owner)
    server_side(coursefeed.check_run_changed, run.pk)
    expect(cell.locator(".cell-checking")).to_have_text("checking…")
    CheckRun.objects.filter(pk=run.pk).update(state=CheckRun.State.DONE, score=3, max_score=5, finished=timezone.now())
    server_side(coursefeed.check_run_changed, run.pk)
    expect(cell.locator(".cell-score")).to_have_text("3/5")
    expect(cell.locator(".cell-checking")).to_have_count(0)
    assert page.evaluate("() => window.__sameDocument === true"), "the course page was reloaded"
    to_grid(page)
    shot(page, "course-grid-running")

    # The socket drops (a proxy restarts, the laptop sleeps): "reconnecting…", then live again, no reload.
    page.evaluate("() => window.topolab.courseGrid.feed.ws.close()")
    expect(page.locator("#grid-live")).to_have_text("reconnecting…")
    expect(page.locator("#grid-live")).to_have_text("live")
    expect(cell.locator(".cell-score")).to_have_text("3/5")

    # "Destroy all labs": it asks first, saying how many; cancelled, nothing happens.
    page.get_by_role("button", name="Destroy all labs").click()
    dialog = page.locator("#grid-confirm")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("1 lab(s)")
    page.locator("#grid-confirm-cancel").click()
    expect(dialog).to_be_hidden()
    expect(cell).to_have_attribute("data-status", "running")

    # Confirmed: with no lab worker for the lab's host (the integration tests' worker may still run for this
    # run's queue, so the lab is moved to a queue nobody serves), the page says which lab could not be
    # destroyed and why.
    Lab.objects.filter(pk=lab.pk).update(queue=f"nobody-{uuid.uuid4().hex}")
    page.get_by_role("button", name="Destroy all labs").click()
    page.locator("#grid-confirm-ok").click()
    message = page.locator("#grid-message .notice")
    expect(message).to_contain_text("0 lab(s) are being destroyed; 1 could not be")
    expect(message).to_contain_text(f"{owner.username} (a1-static-routes): no lab worker is running")

    # The lab is destroyed after all (the worker's teardown): the cell is back to editing, the score kept.
    def torn_down():
        labstate.do_begin(lab, LabState.DESTROYING, "destroy requested", "op-e2e-2")
        labstate.do_nodes_stopped(lab)
        labstate.do_finish(lab, "op-e2e-2", LabState.STOPPED)

    server_side(torn_down)
    expect(cell).to_have_attribute("data-status", "editing")
    expect(cell.locator(".cell-score")).to_have_text("3/5")
    expect(cell.locator(".cell-menu")).to_have_count(0)
    expect(page.get_by_role("button", name="Destroy all labs")).to_be_disabled()
    assert page.evaluate("() => window.__sameDocument === true"), "the course page was reloaded"
    to_grid(page)
    shot(page, "course-grid-stopped")
    assert refused == []


def test_co_instructors_are_managed_from_the_roster(page, classroom, owner):
    """Add an instructor by name, promote a student, take one off; the last instructor stays."""
    course = classroom["course"]
    get_user_model().objects.create_user("ivan", password="pw-ivan-12345")
    page.on("dialog", lambda d: d.accept())  # the confirm before taking an instructor off
    sign_in(page, "tess", TEACHER_PASSWORD)
    page.goto(f"/courses/{course.pk}/")
    roster = page.locator("#roster")
    expect(roster.locator("tr[data-username='tess']")).to_contain_text("instructor")
    page.locator("#instructor-username").fill("ivan")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#list-message")).to_contain_text("ivan is an instructor of this course")
    expect(roster.locator("tr[data-username='ivan'] .badge")).to_have_text("instructor")
    roster.locator(f"tr[data-username='{owner.username}']").get_by_role("button", name="Make instructor").click()
    expect(roster.locator(f"tr[data-username='{owner.username}'] .badge")).to_have_text("instructor")
    assert CourseMember.objects.get(course=course, user=owner).role == "instructor"
    roster.locator("tr[data-username='ivan']").get_by_role("button", name="Remove as instructor").click()
    expect(roster.locator("tr[data-username='ivan']")).to_have_count(0)
    page.locator("#instructor-username").fill("nobody-here")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#list-message")).to_contain_text("nobody-here was not made an instructor")
    shot(page, "course-co-instructors")
    assert set(CourseMember.objects.filter(course=course, role="instructor").values_list("user__username", flat=True)) \
        == {"tess", owner.username}
