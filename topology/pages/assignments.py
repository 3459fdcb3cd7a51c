"""The assignment pages: shells filled by static/topolab/assignment.js from ``/api/v1/assignments``.

``/courses/<course>/assignments/<id>/`` shows an instructor the assignment's editor (title, instructions,
template, due date, grading, checks, "Try on my lab", the class's results) and a student its instructions
with Start / Open my copy / Reset; ``/courses/<course>/assignments/new/`` is the same editor, empty, for
the course's instructors. A course the user is not in, another course's assignment, and (for a student)
an assignment not published yet are 404: existence is not revealed.
"""
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from .. import courses
from ..models import Assignment, CourseMember


def _course(user, course_id: int):
    try:
        return courses.visible(user, course_id)
    except courses.NotFound:
        raise Http404("no such course") from None


def _render(request, course, role: str, assignment: Assignment | None):
    config = {"course": course.pk, "courseName": course.name, "role": role,
              "id": assignment.pk if assignment is not None else None}
    return render(request, "topology/assignment.html",
                  {"course": course, "role": role, "assignment": assignment, "config": config})


@login_required
@ensure_csrf_cookie
def assignment_detail(request, course_id: int, pk: int):
    """One assignment of a course: its editor for the course's instructors, its instructions for a student."""
    course, role = _course(request.user, course_id)
    assignment = Assignment.objects.filter(pk=pk, course=course).first()
    if assignment is None or (role != CourseMember.Role.INSTRUCTOR and assignment.published is None):
        raise Http404("no such assignment")
    return _render(request, course, role, assignment)


@login_required
@ensure_csrf_cookie
def assignment_new(request, course_id: int):
    """A new assignment's editor: the course's instructors only (a student or a stranger gets 404)."""
    course, role = _course(request.user, course_id)
    if role != CourseMember.Role.INSTRUCTOR:
        raise Http404("no such course")
    return _render(request, course, role, None)
