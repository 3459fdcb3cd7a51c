"""The course's live grid: what topology/coursefeed.py publishes (one cell for a copy, nothing for a non-copy,
bursts coalesced) and the socket ``/ws/courses/<id>/`` through the whole ASGI stack (snapshot, then cells;
who is refused with 4403)."""
from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone

from tests.documents import reference_document
from tests.websockets import browser_socket, refused, run
from topology import classview, coursefeed, labstate, services
from topology.models import Assignment, CheckRun, Course, CourseMember, Lab, LabState, Topology, UserFlags
from topology.websockets.access import FORBIDDEN

pytestmark = pytest.mark.django_db(transaction=True)  # the consumer and the feed's timer read from other threads


@pytest.fixture(autouse=True)
def _fresh(released, transactional_db):
    coursefeed.reset()
    yield
    coursefeed.reset()


@pytest.fixture
def a1(course) -> Assignment:
    return Assignment.objects.create(course=course, title="A1", template=reference_document(), published=timezone.now())


@pytest.fixture
def alices_copy(alice, a1) -> Topology:
    topology = services.import_topology(alice, {**reference_document(), "name": "a1"}, assignment=a1)
    time.sleep(coursefeed.COALESCE)  # its "Start" cell is out, and its interval over: each test begins afresh
    coursefeed.reset()
    return Topology.objects.select_related("lab").get(pk=topology.pk)


def listen(course_id: int, action, count: int = 1, quiet: float = 0.4):
    """Join the course's group, run ``action`` (sync), and return the messages received (``count`` expected,
    then nothing more for ``quiet`` seconds: what arrives then is returned too)."""

    async def body():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(coursefeed.group_name(course_id), channel)
        await sync_to_async(action)()
        got = []
        try:
            for _ in range(count):
                got.append(await asyncio.wait_for(layer.receive(channel), 5))
            while True:
                got.append(await asyncio.wait_for(layer.receive(channel), quiet))
        except asyncio.TimeoutError:
            pass
        await layer.group_discard(coursefeed.group_name(course_id), channel)
        return got

    return run(body)


# -- the feed -------------------------------------------------------------------------------------------------
def test_a_lab_change_of_a_copy_publishes_its_one_cell(course, alice, a1, alices_copy):
    lab = alices_copy.lab
    got = listen(course.pk, lambda: labstate.do_not_queued(lab, "", "the broker is down"))
    assert len(got) == 1
    message = got[0]["message"]
    assert got[0]["type"] == coursefeed.HANDLER
    assert message["type"] == "cell" and message["student"] == "alice" and message["assignment"] == a1.pk
    assert message["cell"] == classview.cell(course, alice.pk, a1.pk)
    assert message["cell"]["status"] == "failed" and message["cell"]["topology"] == alices_copy.pk


def test_a_lab_that_is_no_copy_publishes_nothing_and_costs_one_query(course, topology, alices_copy):
    got = listen(course.pk, lambda: labstate.do_not_queued(topology.lab, "", "the broker is down"), count=0)
    assert got == []
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        coursefeed.lab_changed(topology.lab.pk)
    assert len(queries) == 1


def test_starting_an_assignment_publishes_the_new_copys_cell(course, alice, a1):
    got = listen(course.pk, lambda: services.import_topology(alice, {**reference_document(), "name": "a1"},
                                                             assignment=a1))
    assert [(m["message"]["student"], m["message"]["cell"]["status"]) for m in got] == [("alice", "editing")]


def test_a_check_run_publishes_its_cell_and_a_trial_does_not(course, alice, carol, a1, alices_copy):
    def start():
        r = CheckRun.objects.create(assignment=a1, topology=alices_copy, user=alice, requested_by=alice)
        coursefeed.check_run_changed(r.pk)

    [got] = listen(course.pk, start)
    assert got["message"]["cell"]["checking"] is True

    def finish():
        r = CheckRun.objects.get()
        CheckRun.objects.filter(pk=r.pk).update(state=CheckRun.State.DONE, score=3, max_score=5,
                                                finished=timezone.now())
        time.sleep(coursefeed.COALESCE)  # a new interval: published at once
        coursefeed.check_run_changed(r.pk)

    [got] = listen(course.pk, finish)
    cell = got["message"]["cell"]
    assert cell["checking"] is False and (cell["grade"]["score"], cell["grade"]["max_score"]) == (3, 5)

    def trial():
        r = CheckRun.objects.create(assignment=a1, user=carol, requested_by=carol, trial=True)
        coursefeed.check_run_changed(r.pk)

    assert listen(course.pk, trial, count=0) == []


def test_a_burst_is_coalesced_and_the_last_state_arrives(course, alice, a1, alices_copy):
    lab = alices_copy.lab

    def burst():
        for state in (LabState.DEPLOYING, LabState.FAILED, LabState.DEPLOYING, LabState.RUNNING):
            Lab.objects.filter(pk=lab.pk).update(state=state)
            coursefeed.lab_changed(lab.pk)

    started = time.monotonic()
    got = listen(course.pk, burst, count=2)
    assert [m["message"]["cell"]["status"] for m in got] == ["deploying", "running"]  # first at once, last after
    assert time.monotonic() - started >= coursefeed.COALESCE


def test_copy_changed_publishes_the_cell(course, alice, a1, alices_copy):
    [got] = listen(course.pk, lambda: coursefeed.copy_changed(alices_copy.pk))
    assert got["message"]["cell"]["status"] == "editing"


# -- the socket -----------------------------------------------------------------------------------------------
def socket(course_id, user=None):
    return browser_socket(f"/ws/courses/{course_id}/", user)


def test_it_sends_an_instructor_the_grid_then_each_cell(course, carol, alice, a1, alices_copy):
    ws = socket(course.pk, carol)

    async def body():
        connected, _ = await ws.connect()
        assert connected
        snapshot = await ws.receive_json_from(timeout=5)
        await sync_to_async(labstate.do_not_queued)(alices_copy.lab, "", "broken")
        other = await sync_to_async(Course.objects.create)(name="Other", slug="other", join_code="OTHER")
        await sync_to_async(coursefeed.publish_cell)(other.pk, alice.pk, a1.pk)  # not this course's group
        cell = await ws.receive_json_from(timeout=5)
        nothing_else = await ws.receive_nothing(timeout=0.4)
        await ws.disconnect()
        return snapshot, cell, nothing_else

    snapshot, cell, nothing_else = run(body)
    assert snapshot["type"] == "snapshot"
    assert snapshot["grid"]["students"] == [{"username": "alice", "name": ""}]
    assert snapshot["grid"]["cells"]["alice"][str(a1.pk)]["status"] == "editing"
    assert cell == {"type": "cell", "student": "alice", "assignment": a1.pk,
                    "cell": classview.cell(course, alice.pk, a1.pk)}
    assert cell["cell"]["status"] == "failed"
    assert nothing_else


def test_a_superuser_may_follow_any_course(course, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.org", None)
    ws = socket(course.pk, admin)

    async def body():
        assert (await ws.connect())[0]
        message = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return message

    assert run(body)["type"] == "snapshot"


def test_it_refuses_a_student_of_the_course(course, alice):
    assert run(refused, socket(course.pk, alice)) == FORBIDDEN == 4403


def test_it_refuses_another_courses_instructor(course, django_user_model):
    from topology import courses

    dave = django_user_model.objects.create_superuser("tmp", None, None)  # only to create dave's course
    other = courses.create_course(dave, "Other")
    dave = django_user_model.objects.create_user("dave", None, None)
    CourseMember.objects.create(course=other, user=dave, role=CourseMember.Role.INSTRUCTOR)
    assert run(refused, socket(course.pk, dave)) == FORBIDDEN
    assert run(refused, socket(other.pk + 1000, dave)) == FORBIDDEN  # no such course: the same


def test_it_refuses_the_anonymous(course):
    assert run(refused, socket(course.pk)) == FORBIDDEN


def test_it_refuses_an_instructor_who_must_change_a_password(course, carol):
    UserFlags.objects.create(user=carol, must_change_password=True)
    assert run(refused, socket(course.pk, carol)) == FORBIDDEN


def test_it_says_gone_when_the_instructor_no_longer_teaches(course, carol, monkeypatch):
    from topology.websockets.course import CourseConsumer

    monkeypatch.setattr(CourseConsumer, "recheck", 0.2)
    ws = socket(course.pk, carol)

    async def body():
        assert (await ws.connect())[0]
        await ws.receive_json_from(timeout=5)
        await sync_to_async(CourseMember.objects.filter(course=course, user=carol).delete)()
        gone = await ws.receive_json_from(timeout=5)
        closed = await ws.receive_output(timeout=5)
        await ws.disconnect()
        return gone, closed

    gone, closed = run(body)
    assert gone["type"] == "gone" and gone["reason"] == "forbidden"
    assert closed == {"type": "websocket.close", "code": FORBIDDEN}
