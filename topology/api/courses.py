"""The API's course routes: courses, their rosters, enrolment (one, CSV, join code) and removal.

Rules are :mod:`topology.courses`'; a course the caller is not a member of answers 404, as another
user's topology does. Its students see the course (name, instructors, their own enrolment), never
its roster or code; its instructors see both.
"""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Router, Status

from .. import courses
from ..models import Course, CourseMember
from .routing import route_on
from .schemas import (
    CSV_BODY,
    CodeOut,
    CourseFull,
    CourseIn,
    CourseItem,
    Detail,
    EnrolCsvOut,
    EnrolIn,
    Errors,
    JoinIn,
    JoinOut,
    RemovalOut,
    RemoveIn,
)
from .views import _refused

router = Router(tags=["courses"])


route = route_on(router)


def _item(course: Course, user, role: str) -> dict:
    joined = CourseMember.objects.filter(course=course, user=user).values_list("joined", flat=True).first()
    return {"id": course.pk, "name": course.name, "slug": course.slug, "created": course.created, "role": role,
            "instructors": [u.get_full_name() or u.username for u in courses.instructors(course)], "joined": joined}


def _full(course: Course, user, role: str) -> dict:
    data = _item(course, user, role)
    if role == CourseMember.Role.INSTRUCTOR:
        data.update(join_code=course.join_code, members=courses.roster(course))
    return data


@route(["GET"], "/courses", response={200: list[CourseItem]}, summary="List your courses (as instructor or student)")
def list_courses(request):
    roles = dict(CourseMember.objects.filter(user=request.auth).values_list("course_id", "role"))
    return [_item(c, request.auth, roles[c.pk]) for c in courses.courses_of(request.auth)]


@route(["POST"], "/courses", response={201: CourseFull, 400: Errors, 403: Detail},
       summary="Create a course (members of the group 'instructors' only: 403 otherwise); you teach it")
def create_course(request, body: CourseIn):
    try:
        course = courses.create_course(request.auth, body.name)
    except courses.services.ServiceError as exc:
        return _refused(exc)
    return Status(201, _full(course, request.auth, CourseMember.Role.INSTRUCTOR))


@route(["GET"], "/courses/{int:course_id}", response={200: CourseFull, 404: Detail},
       summary="A course; its roster and join code for its instructors only")
def get_course(request, course_id: int):
    try:
        course, role = courses.visible(request.auth, course_id)
    except courses.services.ServiceError as exc:
        return _refused(exc)
    return _full(course, request.auth, role)


def _taught(request: HttpRequest, course_id: int) -> Course:
    return courses.taught(request.auth, course_id)


@route(["POST"], "/courses/{int:course_id}/students",
       response={201: CourseFull, 400: Errors, 404: Detail, 409: Detail},
       summary="Enrol an existing user (by username) as a student; answers the course with its roster")
def enrol_one(request, course_id: int, body: EnrolIn):
    try:
        course = _taught(request, course_id)
        courses.enrol(course, body.username)
    except courses.services.ServiceError as exc:
        return _refused(exc)
    return Status(201, _full(course, request.auth, CourseMember.Role.INSTRUCTOR))


@route(["POST"], "/courses/{int:course_id}/students/csv",
       response={200: EnrolCsvOut, 400: Errors, 404: Detail}, openapi_extra=CSV_BODY,
       summary="Enrol students from a CSV file (multipart/form-data, field 'file': username,name,email; "
               "header optional; UTF-8, 256 KiB, 100 rows): new accounts' one-time passwords are in this "
               "answer only; each bad row is listed with its line")
def enrol_csv(request, course_id: int, response: HttpResponse):
    response["Cache-Control"] = "no-store"  # one-time passwords must not sit in a cache
    try:
        course = _taught(request, course_id)
        upload = request.FILES.get("file")
        if upload is None:
            raise courses.InvalidCsv("send the CSV as a multipart/form-data field named 'file'")
        if upload.size > courses.MAX_CSV_BYTES:
            raise courses.InvalidCsv(f"the file is {upload.size} bytes; the limit is {courses.MAX_CSV_BYTES} (256 KiB)")
        answer = courses.enrol_csv(course, upload.read(courses.MAX_CSV_BYTES + 1))
    except courses.services.ServiceError as exc:
        return _refused(exc)
    return answer


@route(["POST"], "/courses/join", response={200: JoinOut, 201: JoinOut, 404: Detail, 409: Detail, 429: Detail},
       summary="Join a course as a student with its code (201 joined, 200 already a student; a wrong code is 404; "
               "too many wrong codes lately: 429 with Retry-After, every code refused until then)")
def join_course(request, body: JoinIn, response: HttpResponse):
    try:
        course, new = courses.join(request.auth, body.code)
    except courses.TooManyCodes as exc:
        response["Retry-After"] = str(exc.retry_after)
        return _refused(exc)
    except courses.services.ServiceError as exc:
        return _refused(exc)
    role = CourseMember.Role.STUDENT
    return Status(201 if new else 200, {"course": _item(course, request.auth, role), "joined": new})


@route(["POST"], "/courses/{int:course_id}/code", response={200: CodeOut, 404: Detail},
       summary="Make a new join code for the course (the old one stops working)")
def regenerate_code(request, course_id: int):
    try:
        course = _taught(request, course_id)
    except courses.services.ServiceError as exc:
        return _refused(exc)
    return {"join_code": courses.regenerate_code(course)}


@route(["POST"], "/courses/{int:course_id}/students/{username}/remove",
       response={200: RemovalOut, 400: Errors, 404: Detail, 409: RemovalOut | Detail},
       summary="Remove a student: body {\"mode\": \"keep\"} keeps their work, \"delete\" deletes their topologies "
               "(a lab not stopped is destroyed first: 409 with what is left; the student stays until it is gone)")
def remove_student(request, course_id: int, username: str, body: RemoveIn):
    try:
        course = _taught(request, course_id)
        report = courses.remove_student(course, username, body.mode)
    except courses.services.ServiceError as exc:
        return _refused(exc)
    return report if report["removed"] else Status(409, report)


@route(["POST"], "/courses/{int:course_id}/instructors",
       response={201: CourseFull, 400: Errors, 404: Detail, 409: Detail},
       summary="Make an existing user an instructor of the course (a student of it is promoted, keeping their work)")
def add_instructor(request, course_id: int, body: EnrolIn):
    try:
        course = _taught(request, course_id)
        courses.add_instructor(course, body.username)
    except courses.services.ServiceError as exc:
        return _refused(exc)
    return Status(201, _full(course, request.auth, CourseMember.Role.INSTRUCTOR))


@route(["POST"], "/courses/{int:course_id}/instructors/{username}/remove",
       response={200: CourseFull | Detail, 404: Detail, 409: Detail},
       summary="Take an instructor off the course (yourself too); the last instructor stays (409)")
def remove_instructor(request, course_id: int, username: str):
    try:
        course = _taught(request, course_id)
        courses.remove_instructor(course, username)
    except courses.services.ServiceError as exc:
        return _refused(exc)
    role = courses.role_in(request.auth, course)
    if role != CourseMember.Role.INSTRUCTOR:
        return {"detail": "you no longer teach this course"}
    return _full(course, request.auth, role)
