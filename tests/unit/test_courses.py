"""Courses: who may create them, enrolment by name and by join code, removal (keep or delete their work),
the forced change of a one-time password, and the pages."""
from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import Client

from tests.classroom import make_instructor
from tests.documents import reference_document
from tests.web import signed_in
from topology import courses, services
from topology.models import Assignment, Course, CourseMember, Lab, LabState, Topology, UserFlags

User = get_user_model()


@pytest.fixture(autouse=True)
def _released(released):
    """Removal with "delete" takes and gives back lab leases."""


def course_copy(course, student, name: str | None = None) -> Topology:
    """A topology of ``student`` that belongs to ``course``: their copy of one of its assignments."""
    doc = reference_document()
    if name:
        doc["name"] = name
    assignment = Assignment.objects.create(course=course, title=f"lab {uuid.uuid4().hex[:8]}", template=doc)
    topology = services.import_topology(student, doc)
    Topology.objects.filter(pk=topology.pk).update(assignment=assignment)
    topology.refresh_from_db()
    return topology


# -- roles ----------------------------------------------------------------------------------------------------
def test_the_instructors_group_holds_the_permission_to_create_courses(db):
    group = Group.objects.get(name="instructors")
    assert list(group.permissions.values_list("content_type__app_label", "codename")) == [("topology", "add_course")]
    assert Permission.objects.filter(codename="add_course", content_type__app_label="topology").count() == 1


def test_who_may_create_a_course(carol, alice, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.org", None)
    assert courses.may_create(carol) and courses.may_create(admin)
    assert not courses.may_create(alice)
    with pytest.raises(courses.Forbidden, match="only instructors may create courses"):
        courses.create_course(alice, "Mine")
    course = courses.create_course(carol, "Networks 101")
    assert course.slug == "networks-101" and course.created_by == carol
    assert courses.create_course(carol, "Networks 101").slug == "networks-101-2"
    assert list(course.members.values_list("user__username", "role")) == [("carol", "instructor")]


def test_instructor_of_one_course_student_of_another(course, carol, alice):
    make_instructor(alice)
    alice = User.objects.get(pk=alice.pk)  # permissions are cached per user object
    hers = courses.create_course(alice, "Alice's seminar")
    assert courses.visible(alice, hers.pk)[1] == "instructor"
    assert courses.visible(alice, course.pk)[1] == "student"
    with pytest.raises(courses.NotFound):
        courses.taught(alice, course.pk)  # a student: the instructors' side of the course does not exist
    with pytest.raises(courses.NotFound):
        courses.visible(carol, hers.pk)


# -- join codes -----------------------------------------------------------------------------------------------
def test_a_join_code_is_random_readable_and_forgiving_to_type():
    codes = {courses.new_join_code() for _ in range(200)}
    assert len(codes) == 200
    code = next(iter(codes))
    assert len(code) == 19 and code.count("-") == 3
    assert courses.normalise_code(code.lower().replace("-", " ")) == code
    assert courses.normalise_code("abcd-oil0") == "ABCD-0110"


def test_join_by_code_and_regenerate(course, bob, carol):
    with pytest.raises(courses.NotFound):
        courses.join(bob, "WRONG-CODE")
    with pytest.raises(courses.NotFound):
        courses.join(bob, "")
    old = course.join_code
    assert courses.join(bob, old.lower()) == (course, True)
    assert courses.join(bob, old) == (course, False)
    with pytest.raises(services.Conflict):
        courses.join(carol, old)
    new = courses.regenerate_code(course)
    assert new != old
    dave = User.objects.create_user("dave")
    with pytest.raises(courses.NotFound):
        courses.join(dave, old)
    assert courses.join(dave, new)[1] is True


def test_enrol_one(course, bob, carol):
    with pytest.raises(services.ServiceError, match="no such user"):
        courses.enrol(course, "nobody")
    courses.enrol(course, "bob")
    with pytest.raises(services.Conflict, match="already in this course \\(as student\\)"):
        courses.enrol(course, "bob")
    with pytest.raises(services.Conflict, match="as instructor"):
        courses.enrol(course, "carol")


# -- removal --------------------------------------------------------------------------------------------------
def test_remove_keeping_their_work(course, alice):
    topology = services.import_topology(alice, reference_document())
    report = courses.remove_student(course, "alice", "keep")
    assert report == {"username": "alice", "removed": True, "deleted": [], "left": []}
    assert not course.members.filter(user=alice).exists()
    assert Topology.objects.filter(pk=topology.pk).exists()


def test_remove_deleting_their_work(course, alice, broker, django_capture_on_commit_callbacks):
    stopped = course_copy(course, alice)
    running = course_copy(course, alice, "busy-one")
    Lab.objects.filter(topology=running).update(state=LabState.RUNNING)
    with django_capture_on_commit_callbacks(execute=True):
        report = courses.remove_student(course, "alice", "delete")
    assert report["removed"] is False
    assert report["deleted"] == [stopped.name]
    assert report["left"] == [{"name": "busy-one", "reason": "its lab was not stopped: destroy requested; remove the "
                                                             "student again once it is stopped"}]
    assert [action for action, _ in broker] == ["destroy"]
    assert course.members.filter(user=alice).exists()  # still enrolled until the lab is gone
    assert not Topology.objects.filter(pk=stopped.pk).exists()


def test_remove_deleting_with_no_worker_says_so(course, alice):
    t = course_copy(course, alice)
    Lab.objects.filter(topology=t).update(state=LabState.RUNNING, queue=f"nobody-{uuid.uuid4().hex}")
    report = courses.remove_student(course, "alice", "delete")
    assert report["removed"] is False
    assert report["left"][0]["reason"].startswith("its lab is running and could not be destroyed: no lab worker")
    assert Topology.objects.filter(pk=t.pk).exists()


def test_remove_deleting_everything_stopped_removes_them(course, alice):
    course_copy(course, alice)
    report = courses.remove_student(course, "alice", "delete")
    assert report["removed"] is True and len(report["deleted"]) == 1
    assert not Topology.objects.filter(owner=alice).exists()
    assert User.objects.filter(pk=alice.pk).exists()  # the account stays


def test_delete_removes_only_this_courses_copies(course, alice, carol):
    """Their own topologies and their copies of another course's assignments are theirs, not this course's."""
    other = courses.create_course(carol, "Other")
    CourseMember.objects.create(course=other, user=alice, role="student")
    own = services.import_topology(alice, {**reference_document(), "name": "my-own"})
    elsewhere = course_copy(other, alice, "other-course")
    here = course_copy(course, alice, "this-course")
    report = courses.remove_student(course, "alice", "delete")
    assert report["removed"] is True and report["deleted"] == ["this-course"]
    assert set(Topology.objects.filter(owner=alice).values_list("pk", flat=True)) == {own.pk, elsewhere.pk}
    assert not Topology.objects.filter(pk=here.pk).exists()
    assert CourseMember.objects.filter(course=other, user=alice).exists()
    with pytest.raises(courses.NotFound):
        courses.remove_student(course, "carol", "keep")  # an instructor is not a student
    with pytest.raises(services.ServiceError, match="bad mode"):
        courses.remove_student(other, "alice", "shred")


def test_a_removed_students_copy_is_no_longer_supervised(course, alice, carol, django_user_model):
    """Removed keeping their work, the copy is theirs alone: the course's instructors lose sight of it."""
    admin = django_user_model.objects.create_superuser("root", "root@example.org", None)
    copy = course_copy(course, alice)
    assert courses.supervises(carol, copy) and courses.supervises(admin, copy)
    courses.remove_student(course, "alice", "keep")
    copy.refresh_from_db()
    assert not courses.supervises(carol, copy) and not courses.supervises(admin, copy)
    assert not courses.supervises(alice, copy)  # the owner is never "supervising" their own work


# -- co-instructors -------------------------------------------------------------------------------------------
def test_add_and_remove_co_instructors(course, carol, alice, bob):
    with pytest.raises(services.ServiceError, match="no such user"):
        courses.add_instructor(course, "nobody")
    courses.add_instructor(course, "bob")  # not a member: joins as an instructor
    assert courses.role_in(bob, course) == "instructor"
    CourseMember.objects.filter(course=course, user=alice).update(role="student")
    courses.add_instructor(course, "alice")  # a student of it: promoted
    assert courses.role_in(alice, course) == "instructor"
    assert CourseMember.objects.filter(course=course, user=alice).count() == 1
    with pytest.raises(services.Conflict, match="already teaches"):
        courses.add_instructor(course, "bob")
    courses.remove_instructor(course, "bob")
    courses.remove_instructor(course, "alice")
    assert courses.role_in(bob, course) is None
    with pytest.raises(services.Conflict, match="last instructor"):
        courses.remove_instructor(course, "carol")
    with pytest.raises(courses.NotFound):
        courses.remove_instructor(course, "bob")


def test_an_inactive_user_is_not_made_an_instructor(course, bob):
    bob.is_active = False
    bob.save()
    with pytest.raises(services.ServiceError, match="no such user"):
        courses.add_instructor(course, "bob")


# -- the forced password change -------------------------------------------------------------------------------
@pytest.fixture
def flagged(db, fast_passwords):
    user = User.objects.create_user("newbie", "n@example.org", "ONE-TIME-PASS-1")
    UserFlags.objects.create(user=user, must_change_password=True)
    return user


def test_a_flagged_user_is_sent_to_change_their_password(flagged):
    c = signed_in(flagged)
    for path in ("/", "/courses/", "/tokens/", "/help/format/"):
        response = c.get(path)
        assert response.status_code == 302 and response["Location"] == "/password/change/", path
    assert c.get("/password/change/").status_code == 200
    response = c.get("/api/v1/topologies")
    assert response.status_code == 403 and response.json() == {"detail": "change your one-time password first"}
    assert c.get("/static/topolab/topolab.css").status_code != 302
    assert c.post("/logout/").status_code == 302 and c.post("/logout/")["Location"] != "/password/change/"


def test_a_flagged_users_token_is_refused(flagged):
    from topology.models import ApiToken

    _, secret = ApiToken.issue(flagged, "script")
    response = Client().get("/api/v1/topologies", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 403 and response.json() == {"detail": "change your one-time password first"}


def test_changing_the_password_clears_the_flag(flagged):
    c = signed_in(flagged)
    response = c.post("/password/change/", {"old_password": "ONE-TIME-PASS-1", "new_password1": "a-Better-pass-42",
                                            "new_password2": "a-Better-pass-42"})
    assert response.status_code == 302 and response["Location"] == "/password/change/done/"
    assert not UserFlags.objects.get(user=flagged).must_change_password
    assert c.get("/").status_code == 200
    assert c.get("/api/v1/topologies").status_code == 200


def test_a_wrong_old_password_keeps_the_flag(flagged):
    c = signed_in(flagged)
    response = c.post("/password/change/", {"old_password": "wrong", "new_password1": "a-Better-pass-42",
                                            "new_password2": "a-Better-pass-42"})
    assert response.status_code == 200
    assert UserFlags.objects.get(user=flagged).must_change_password


# -- pages ----------------------------------------------------------------------------------------------------
def test_the_courses_pages(course, carol, alice, bob):
    page = signed_in(carol).get("/courses/").content.decode()
    assert 'id="course-create-form"' in page and 'href="/courses/"' in page
    assert 'id="course-create-form"' not in signed_in(alice).get("/courses/").content.decode()
    mine = signed_in(carol).get(f"/courses/{course.pk}/").content.decode()
    assert 'id="roster"' in mine and 'id="csv-form"' in mine
    theirs = signed_in(alice).get(f"/courses/{course.pk}/").content.decode()
    assert 'id="roster"' not in theirs and course.join_code not in theirs
    assert signed_in(bob).get(f"/courses/{course.pk}/").status_code == 404
    assert signed_in(bob).get("/courses/9999/").status_code == 404
    assert Client().get("/courses/").status_code == 302


def test_the_admin_lists_courses(course, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.org", None)
    c = signed_in(admin)
    assert c.get("/admin/topology/course/").status_code == 200
    assert c.get(f"/admin/topology/course/{course.pk}/change/").status_code == 200
    assert c.get("/admin/topology/coursemember/?role=student").status_code == 200
    assert c.get("/admin/topology/userflags/").status_code == 200
    assert Course.objects.count() == 1
