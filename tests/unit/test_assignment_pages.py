"""Unit tests of the assignment pages, the read-only editor and the supervisor's reads of the API.

Who gets what: the course's instructor (carol) the assignment's editor, its student (alice) the
instructions of a published assignment, a student of another course (dave) and anyone outside 404,
the anonymous the sign-in page. The editor of alice's copy opens read-only for carol (her course's
copy) and for nobody else; the API answers carol the copy's reads (document, export, lab) and none
of its changes.
"""
from __future__ import annotations

import json

import pytest
from django.test import Client
from django.utils import timezone

from tests.classroom import make_instructor
from tests.documents import reference_document
from tests.web import signed_in
from topology import courses, services
from topology.models import Assignment, CourseMember, Topology

API = "/api/v1"


def script(html: str, name: str) -> dict:
    return json.loads(html.split(f'id="{name}" type="application/json">', 1)[1].split("</script>", 1)[0])


@pytest.fixture
def assignment(course, carol) -> Assignment:
    """A published assignment of carol's course: the reference lab, one check."""
    return Assignment.objects.create(
        course=course, title="Static routes", instructions="Make **c1** reach c2.", template=reference_document(),
        checks=[{"node": "c1", "argv": ["ping", "-c1", "192.168.11.2"], "expect": "exit0", "description": "c1 reaches c2",
                 "points": 1, "hidden": False, "timeout": 10}],
        published=timezone.now(), created_by=carol)


@pytest.fixture
def draft(course, carol) -> Assignment:
    return Assignment.objects.create(course=course, title="Draft", template=reference_document(), created_by=carol)


@pytest.fixture
def other_course(django_user_model):
    """Another course, taught by erin, with dave as its student: neither is in carol's course."""
    erin = make_instructor(django_user_model.objects.create_user("erin", "erin@example.org", None))
    dave = django_user_model.objects.create_user("dave", "dave@example.org", None)
    c = courses.create_course(erin, "Other course")
    CourseMember.objects.create(course=c, user=dave, role=CourseMember.Role.STUDENT)
    return {"course": c, "instructor": erin, "student": dave}


@pytest.fixture
def copy(alice, assignment) -> Topology:
    """Alice's copy of the assignment (made as Start makes it)."""
    return services.import_topology(alice, reference_document(), assignment=assignment)


@pytest.fixture
def classmate(course, django_user_model):
    """Another student of carol's course (who must not see alice's copy)."""
    frank = django_user_model.objects.create_user("frank", "frank@example.org", None)
    CourseMember.objects.create(course=course, user=frank, role=CourseMember.Role.STUDENT)
    return frank


# -- the assignment page ----------------------------------------------------------------------------------------
def test_the_instructor_gets_the_assignment_editor_and_the_new_page(carol, course, assignment):
    c = signed_in(carol)
    response = c.get(f"/courses/{course.pk}/assignments/{assignment.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="assignment-form"' in html and "topolab/assignment.js" in html and "topolab/assignment.css" in html
    assert script(html, "assignment-config") == {"course": course.pk, "courseName": course.name, "role": "instructor",
                                                 "id": assignment.pk}
    new = c.get(f"/courses/{course.pk}/assignments/new/")
    assert new.status_code == 200
    assert script(new.content.decode(), "assignment-config")["id"] is None
    assert 'id="a-try"' in new.content.decode()


def test_the_instructor_sees_a_draft_too(carol, course, draft):
    assert signed_in(carol).get(f"/courses/{course.pk}/assignments/{draft.pk}/").status_code == 200


def test_a_student_gets_the_instructions_of_a_published_assignment_only(alice, course, assignment, draft):
    c = signed_in(alice)
    response = c.get(f"/courses/{course.pk}/assignments/{assignment.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="assignment-form"' not in html and 'id="a-instructions-html"' in html and 'id="reset-dialog"' in html
    assert script(html, "assignment-config")["role"] == "student"
    assert c.get(f"/courses/{course.pk}/assignments/{draft.pk}/").status_code == 404
    assert c.get(f"/courses/{course.pk}/assignments/new/").status_code == 404


def test_a_student_of_another_course_and_a_stranger_get_404(bob, course, assignment, other_course):
    for user in (other_course["student"], other_course["instructor"], bob):
        c = signed_in(user)
        assert c.get(f"/courses/{course.pk}/assignments/{assignment.pk}/").status_code == 404, user
        assert c.get(f"/courses/{course.pk}/assignments/new/").status_code == 404, user


def test_an_assignment_is_only_found_under_its_own_course(carol, course, assignment, other_course):
    """Carol also teaches the other course: its address with her assignment's id is no page."""
    CourseMember.objects.create(course=other_course["course"], user=carol, role=CourseMember.Role.INSTRUCTOR)
    c = signed_in(carol)
    assert c.get(f"/courses/{other_course['course'].pk}/assignments/{assignment.pk}/").status_code == 404
    assert c.get(f"/courses/{course.pk}/assignments/{assignment.pk + 1000}/").status_code == 404


def test_the_anonymous_are_sent_to_sign_in(course, assignment):
    for path in (f"/courses/{course.pk}/assignments/{assignment.pk}/", f"/courses/{course.pk}/assignments/new/"):
        response = Client().get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), path


def test_the_course_page_includes_the_assignments_section(carol, alice, course):
    for user, role in ((carol, "instructor"), (alice, "student")):
        html = signed_in(user).get(f"/courses/{course.pk}/").content.decode()
        assert 'id="course-assignments"' in html and "topolab/course-assignments.js" in html
        assert f'data-role="{role}"' in html and f'data-course="{course.pk}"' in html
        assert ('id="new-assignment"' in html) == (role == "instructor")


# -- the editor of a copy ------------------------------------------------------------------------------------------
def test_the_owner_of_a_copy_gets_the_editor_with_the_instructions_panel(alice, copy, assignment):
    html = signed_in(alice).get(f"/topologies/{copy.pk}/").content.decode()
    config = script(html, "editor-config")
    assert config["readonly"] is False and config["owner"] == "" and config["assignment"] == assignment.pk
    assert 'id="assign-panel"' in html and "has-assignment" in html and "topolab/instructions-panel.js" in html
    assert "Read-only" not in html and 'id="btn-save" title' in html


def test_a_topology_that_is_no_copy_has_no_panel(client, topology):
    html = client.get(f"/topologies/{topology.pk}/").content.decode()
    config = script(html, "editor-config")
    assert config["assignment"] is None and config["readonly"] is False
    assert 'id="assign-panel"' not in html and "instructions-panel.js" not in html


def test_the_instructor_of_the_course_gets_the_copy_read_only(carol, copy):
    response = signed_in(carol).get(f"/topologies/{copy.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    config = script(html, "editor-config")
    assert config["readonly"] is True and config["owner"] == "alice"
    assert "Read-only: alice&#x27;s topology" in html or "Read-only: alice's topology" in html
    # Save, Deploy, Destroy, undo and redo are hidden; the palette's editing tools too.
    for button in ("btn-save", "btn-undo", "btn-redo"):
        assert f'id="{button}" hidden' in html, button
    assert 'id="deploy-wrap" hidden' in html and 'id="destroy-wrap" hidden' in html
    assert 'id="palette-edit" hidden' in html and 'id="palette-tools" hidden' in html


def test_nobody_else_gets_a_copy_in_the_editor(copy, classmate, bob, other_course):
    for user in (classmate, bob, other_course["student"], other_course["instructor"]):
        assert signed_in(user).get(f"/topologies/{copy.pk}/").status_code == 404, user
    response = Client().get(f"/topologies/{copy.pk}/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_an_instructor_does_not_see_a_students_own_topology(carol, topology, course):
    """Alice is carol's student, but this topology is no copy of carol's assignments: not carol's to see."""
    assert signed_in(carol).get(f"/topologies/{topology.pk}/").status_code == 404
    assert signed_in(carol).get(f"{API}/topologies/{topology.pk}").status_code == 404


# -- the API: reads for a supervisor, changes for the owner only --------------------------------------------------
def test_a_supervisor_reads_the_copy_its_export_and_its_lab(carol, copy):
    c = signed_in(carol)
    got = c.get(f"{API}/topologies/{copy.pk}")
    assert got.status_code == 200 and got.json()["document"]["name"] == copy.name
    export = c.get(f"{API}/topologies/{copy.pk}/export")
    assert export.status_code == 200 and json.loads(export.content)["nodes"] == copy.document["nodes"]
    lab = c.get(f"{API}/topologies/{copy.pk}/lab")
    assert lab.status_code == 200 and lab.json()["state"] == "stopped"


def test_a_supervisor_changes_nothing(carol, copy, broker):
    c = signed_in(carol)
    before = Topology.objects.get(pk=copy.pk).document
    changed = {**copy.document, "description": "changed by the instructor"}
    assert c.put(f"{API}/topologies/{copy.pk}", json.dumps(changed), content_type="application/json").status_code == 404
    assert c.delete(f"{API}/topologies/{copy.pk}").status_code == 404
    assert c.post(f"{API}/topologies/{copy.pk}/deploy").status_code == 404
    assert c.post(f"{API}/topologies/{copy.pk}/destroy").status_code == 404
    assert c.post(f"{API}/topologies/{copy.pk}/nodes/c1/exec", json.dumps({"argv": ["true"]}),
                  content_type="application/json").status_code == 404
    assert Topology.objects.get(pk=copy.pk).document == before
    assert broker == []
    assert copy.name not in [t["name"] for t in c.get(f"{API}/topologies").json()]


def test_others_read_nothing_of_a_copy(copy, classmate, other_course):
    for user in (classmate, other_course["instructor"], other_course["student"]):
        c = signed_in(user)
        for path in (f"topologies/{copy.pk}", f"topologies/{copy.pk}/export", f"topologies/{copy.pk}/lab"):
            assert c.get(f"{API}/{path}").status_code == 404, (user, path)


def test_the_owner_still_reads_and_changes_their_copy(alice, copy):
    c = signed_in(alice)
    assert c.get(f"{API}/topologies/{copy.pk}").status_code == 200
    changed = {**copy.document, "description": "mine"}
    assert c.put(f"{API}/topologies/{copy.pk}", json.dumps(changed), content_type="application/json").status_code == 200
