"""Course, assignment and instructor setup the tests share.

The group "instructors" is never made here: migration 0005 makes it, and topology/apps.py makes it again
after every ``flush`` (``post_migrate``), so a transactional test's emptied database has it too.
"""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from tests.documents import reference_document
from topology import courses
from topology.apps import INSTRUCTORS
from topology.models import Assignment, Course, CourseMember, Topology

SUPERVISOR_PASSWORD = "pw-tess-1"  # the password of :func:`supervised`'s instructor


def instructors() -> Group:
    """The group "instructors": its members may create courses (permission ``topology.add_course``)."""
    return Group.objects.get(name=INSTRUCTORS)


def make_instructor(user):
    """``user``, now in the group "instructors" (so may create courses)."""
    user.groups.add(instructors())
    return user


def other_instructor(username: str = "dave"):
    """An instructor of a course of his own ("Other course"): nothing of another course is his to see."""
    user = make_instructor(get_user_model().objects.create_user(username, f"{username}@example.org", None))
    courses.create_course(user, "Other course")
    return user


def assign(topology_id: int, course: Course, created_by) -> Assignment:
    """Make topology ``topology_id`` its owner's copy of a new assignment "Lab 1" (the reference lab) of
    ``course``: the course's instructors supervise it."""
    assignment = Assignment.objects.create(course=course, title="Lab 1", template=reference_document(),
                                           created_by=created_by)
    Topology.objects.filter(pk=topology_id).update(assignment=assignment)
    return assignment


def supervised(lab):
    """Tess Ng (password :data:`SUPERVISOR_PASSWORD`), who teaches the course whose assignment the lab's
    topology copies; the topology's owner is a student of it (a removed student's copy is no one's to supervise)."""
    instructor = get_user_model().objects.create_user("tess", password=SUPERVISOR_PASSWORD, first_name="Tess",
                                                      last_name="Ng")
    course = Course.objects.create(name="Networks", slug="networks", join_code=courses.new_join_code(),
                                   created_by=instructor)
    CourseMember.objects.create(course=course, user=instructor, role=CourseMember.Role.INSTRUCTOR)
    CourseMember.objects.create(course=course, user_id=lab.topology.owner_id, role=CourseMember.Role.STUDENT)
    assign(lab.topology_id, course, instructor)
    return instructor
