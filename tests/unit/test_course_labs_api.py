"""The course-labs routes of the REST API: the grid, "destroy all labs of this course" and one student's
lab, with a fake broker standing for the lab worker; every refusal (404 for anyone who does not teach
the course, for a topology that is not a copy of its assignments; 401 anonymous) and nothing changed."""
from __future__ import annotations

import json

import pytest
from django.test import Client
from django.utils import timezone

from tests.documents import reference_document
from tests.web import post, signed_in
from topology import classview, leases, services
from topology.models import Assignment, Course, CourseMember, Lab, LabState, Topology

API = "/api/v1"


@pytest.fixture(autouse=True)
def _fast(fast_passwords, released):
    pass


def make_copy(user, assignment, state=LabState.STOPPED, name=None) -> Topology:
    topology = services.import_topology(user, {**reference_document(), "name": name or f"a{assignment.pk}"},
                                        assignment=assignment)
    Lab.objects.filter(topology=topology).update(state=state)
    return Topology.objects.select_related("lab").get(pk=topology.pk)


@pytest.fixture
def world(course, carol, alice, bob, django_user_model):
    """Carol's course with alice, ben, cara, dan enrolled; their copies of A1 running, failed, stopped and
    busy deploying; alice's own topology (no copy) running; dave teaching another course with a copy in it."""
    a1 = Assignment.objects.create(course=course, title="A1", template=reference_document(), published=timezone.now())
    users = {"alice": alice}
    for name in ("ben", "cara", "dan"):
        users[name] = django_user_model.objects.create_user(name, None, None)
        CourseMember.objects.create(course=course, user=users[name], role=CourseMember.Role.STUDENT)
    copies = {"alice": make_copy(alice, a1, LabState.RUNNING), "ben": make_copy(users["ben"], a1, LabState.FAILED),
              "cara": make_copy(users["cara"], a1, LabState.STOPPED),
              "dan": make_copy(users["dan"], a1, LabState.DEPLOYING)}
    assert leases.acquire(copies["dan"].lab.pk, "an-operation-under-way")
    own = services.import_topology(alice, reference_document())
    Lab.objects.filter(topology=own).update(state=LabState.RUNNING)
    dave = django_user_model.objects.create_user("dave", None, None)
    other = Course.objects.create(name="Other", slug="other", join_code="OTHER")
    CourseMember.objects.create(course=other, user=dave, role=CourseMember.Role.INSTRUCTOR)
    CourseMember.objects.create(course=other, user=bob, role=CourseMember.Role.STUDENT)
    b1 = Assignment.objects.create(course=other, title="B1", template=reference_document(), published=timezone.now())
    foreign = make_copy(bob, b1, LabState.RUNNING)
    return {"course": course, "a1": a1, "users": users, "copies": copies, "own": own, "dave": dave, "other": other,
            "foreign": foreign, "carol": carol, "bob": bob}


def states() -> dict[int, str]:
    return dict(Lab.objects.values_list("topology_id", "state"))


# -- the grid -------------------------------------------------------------------------------------------------
def test_the_grid_is_the_instructors(world):
    course = world["course"]
    response = signed_in(world["carol"]).get(f"{API}/courses/{course.pk}/grid")
    assert response.status_code == 200
    assert response.json() == json.loads(json.dumps(classview.grid(course)))
    assert response.json()["cells"]["alice"][str(world["a1"].pk)]["status"] == "running"
    assert signed_in(world["carol"]).get(f"{API}/courses/{course.pk}/grid/").status_code == 200


def test_the_grid_is_nobody_elses(world):
    course = world["course"]
    for user in (world["users"]["alice"], world["dave"], world["bob"]):
        response = signed_in(user).get(f"{API}/courses/{course.pk}/grid")
        assert response.status_code == 404, user
        assert response.json() == {"detail": "no such course"}
    assert signed_in(world["carol"]).get(f"{API}/courses/{world['other'].pk}/grid").status_code == 404
    assert signed_in(world["carol"]).get(f"{API}/courses/{course.pk + 1000}/grid").status_code == 404
    assert Client().get(f"{API}/courses/{course.pk}/grid").status_code == 401


# -- destroy all ----------------------------------------------------------------------------------------------
def test_destroy_all_queues_every_lab_not_stopped_and_says_what_it_skipped(world, broker,
                                                                         django_capture_on_commit_callbacks):
    copies, before = world["copies"], states()
    with django_capture_on_commit_callbacks(execute=True):
        response = post(signed_in(world["carol"]), f"{API}/courses/{world['course'].pk}/labs/destroy")
    assert response.status_code == 200
    answer = response.json()
    assert [(q["username"], q["topology"], q["name"]) for q in answer["queued"]] == [
        ("alice", copies["alice"].pk, copies["alice"].name), ("ben", copies["ben"].pk, copies["ben"].name)]
    [skipped] = answer["skipped"]
    assert (skipped["username"], skipped["topology"]) == ("dan", copies["dan"].pk)
    assert "busy" in skipped["reason"]
    labs = {name: Lab.objects.get(topology=t) for name, t in copies.items()}
    assert [q["operation"] for q in answer["queued"]] == [labs["alice"].operation, labs["ben"].operation]
    assert broker == [("destroy", {"args": [labs[n].pk, labs[n].operation], "queue": labs[n].queue})
                      for n in ("alice", "ben")]
    after = states()
    assert after[copies["alice"].pk] == after[copies["ben"].pk] == LabState.DESTROYING
    # the rest is as it was: the stopped and the busy copies, alice's own lab, the other course's copy
    assert {k: v for k, v in after.items() if k not in (copies["alice"].pk, copies["ben"].pk)} == \
        {k: v for k, v in before.items() if k not in (copies["alice"].pk, copies["ben"].pk)}


def test_destroy_all_without_a_worker_skips_each_saying_why(world, broker, monkeypatch):
    monkeypatch.setattr("topology.leases.worker_alive", lambda queue: None)
    before = states()
    answer = post(signed_in(world["carol"]), f"{API}/courses/{world['course'].pk}/labs/destroy").json()
    assert answer["queued"] == []
    assert [s["username"] for s in answer["skipped"]] == ["alice", "ben", "dan"]
    assert "no lab worker is running" in answer["skipped"][0]["reason"]
    assert states() == before and broker == []


def test_destroy_all_is_refused_to_anyone_who_does_not_teach_the_course(world, broker):
    before, url = states(), f"{API}/courses/{world['course'].pk}/labs/destroy"
    for user in (world["users"]["alice"], world["dave"], world["bob"]):
        assert post(signed_in(user), url).status_code == 404
    assert post(Client(), url).status_code == 401
    assert states() == before and broker == []


# -- one student's lab ----------------------------------------------------------------------------------------
def test_destroy_one_students_lab(world, broker, django_capture_on_commit_callbacks):
    copy = world["copies"]["alice"]
    url = f"{API}/courses/{world['course'].pk}/students/alice/topologies/{copy.pk}/destroy"
    with django_capture_on_commit_callbacks(execute=True):
        response = post(signed_in(world["carol"]), url)
    assert response.status_code == 202
    lab = Lab.objects.get(topology=copy)
    assert response.json() == {"state": "destroying", "operation": lab.operation}
    assert broker == [("destroy", {"args": [lab.pk, lab.operation], "queue": lab.queue})]
    response = post(signed_in(world["carol"]), url)  # the lab is busy now
    assert response.status_code == 409 and "busy" in response.json()["detail"]


def test_destroy_one_is_404_for_what_is_not_this_courses_copy_or_not_theirs(world, broker):
    course, carol, copies = world["course"], world["carol"], world["copies"]
    before = states()
    base = f"{API}/courses/{course.pk}/students"
    refusals = [
        (carol, f"{base}/alice/topologies/{world['own'].pk}/destroy"),          # alice's own, no copy
        (carol, f"{base}/ben/topologies/{copies['alice'].pk}/destroy"),         # alice's copy, named as ben's
        (carol, f"{base}/bob/topologies/{world['foreign'].pk}/destroy"),        # another course's copy
        (carol, f"{API}/courses/{world['other'].pk}/students/bob/topologies/{world['foreign'].pk}/destroy"),
        (carol, f"{base}/alice/topologies/{copies['alice'].pk + 1000}/destroy"),  # no such topology
        (world["dave"], f"{base}/alice/topologies/{copies['alice'].pk}/destroy"),  # another course's instructor
        (world["users"]["ben"], f"{base}/alice/topologies/{copies['alice'].pk}/destroy"),  # a classmate
        (world["users"]["alice"], f"{base}/alice/topologies/{copies['alice'].pk}/destroy"),  # herself, here
    ]
    for user, url in refusals:
        response = post(signed_in(user), url)
        assert response.status_code == 404, (user, url)
    assert post(Client(), f"{base}/alice/topologies/{copies['alice'].pk}/destroy").status_code == 401
    assert states() == before and broker == []
