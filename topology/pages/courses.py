"""The courses pages: shells filled by static/topolab/courses.js from ``/api/v1/courses``."""
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from .. import courses


@login_required
@ensure_csrf_cookie
def course_list(request):
    """Your courses, a "join a course" box, and "new course" for those who may create one."""
    return render(request, "topology/courses.html", {"may_create": courses.may_create(request.user)})


@login_required
@ensure_csrf_cookie
def course_detail(request, pk: int):
    """One course: its roster, enrolment and join code for its instructors; what a student may see else.
    404 for a course you are not in (existence is not revealed)."""
    try:
        course, role = courses.visible(request.user, pk)
    except courses.NotFound:
        raise Http404("no such course") from None
    return render(request, "topology/course.html", {"course": course, "role": role,
                                                     "config": {"id": course.pk, "role": role,
                                                                "username": request.user.get_username()}})
