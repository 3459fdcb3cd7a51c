"""The API's assignment routes: write, publish, list, start and reset assignments; the editor's Markdown preview.

Rules are :mod:`topology.assignments`'. An assignment of a course the caller is not in answers 404, as does
an unpublished one for the course's students, and its instructors' routes for them. Bodies are read raw,
bounded, and checked by the service, so every problem comes back with its JSON path (``template.nodes[0].name``,
``checks[2].pattern``, ``due``...).
"""
from __future__ import annotations

import json

from django.http import HttpRequest
from ninja import Router, Status
from ninja.throttling import SimpleRateThrottle

from .. import assignments, courses, markdown, schema, services
from ..schema.models import MAX_DOCUMENT_BYTES
from .assignment_schemas import (
    ASSIGNMENT_BODY,
    MARKDOWN_BODY,
    AssignmentItem,
    AssignmentOut,
    DeletedOut,
    MarkdownOut,
    PublishOut,
    ResetOut,
    StartOut,
)
from .routing import route_on
from .schemas import Detail, Errors
from .views import _invalid, _refused

router = Router(tags=["assignments"])
route = route_on(router)

# A template (5 MiB at most) with instructions and checks beside it; JSON escapes may make text six times longer.
MAX_ASSIGNMENT_BODY = MAX_DOCUMENT_BYTES + 8 * markdown.MAX_BYTES
MAX_SMALL_BODY = 6 * markdown.MAX_BYTES + 1024


PREVIEW_RATE = "60/m"  # per user: the editor renders as its author pauses typing, far below this


class _PreviewThrottle(SimpleRateThrottle):
    """At most :data:`PREVIEW_RATE` previews per user (a hostile 64 KiB text may cost seconds of CPU)."""

    scope = "markdown"

    def get_cache_key(self, request: HttpRequest) -> str:
        user = getattr(request, "auth", None)
        ident = user.pk if getattr(user, "pk", None) is not None else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class _BadBody(Exception):
    def __init__(self, problem: schema.Problem):
        self.problem = problem


def _json_body(request: HttpRequest, limit: int, *, empty=None):
    """The body's JSON data (``empty`` for no body), read no further than ``limit`` bytes; else :class:`_BadBody`."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise _BadBody(schema.Problem("", f"the body is {length} bytes; the limit is {limit}"))
    body = request._body if hasattr(request, "_body") else request.read(limit + 1)
    if len(body) > limit:
        raise _BadBody(schema.Problem("", f"the body is larger than {limit} bytes"))
    if not body.strip():
        if empty is not None:
            return empty
        raise _BadBody(schema.Problem("", "send a JSON object"))
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise _BadBody(schema.Problem("", "not valid JSON")) from None


def _answer(assignment, request, role) -> dict:
    return assignments.view(assignment, request.auth, role)


# -- a course's assignments -----------------------------------------------------------------------------------
@route(["GET"], "/courses/{int:course_id}/assignments", response={200: list[AssignmentItem], 404: Detail},
       summary="A course's assignments: all for its instructors, the published ones for its students")
def list_assignments(request, course_id: int):
    try:
        _, role, rows = assignments.list_for(request.auth, course_id)
    except services.ServiceError as exc:
        return _refused(exc)
    return [assignments.item(a, request.auth, role) for a in rows]


@route(["POST"], "/courses/{int:course_id}/assignments", response={201: AssignmentOut, 400: Errors, 404: Detail},
       openapi_extra=ASSIGNMENT_BODY,
       summary="Create a draft assignment (the course's instructors): title, instructions, template, checks, due, "
               "grading; every problem with its path, nothing saved unless all is right")
def create_assignment(request, course_id: int):
    try:
        course = courses.taught(request.auth, course_id)
        data = _json_body(request, MAX_ASSIGNMENT_BODY)
        assignment = assignments.create(request.auth, course, data)
    except _BadBody as exc:
        return _invalid([exc.problem])
    except services.ServiceError as exc:
        return _refused(exc)
    return Status(201, _answer(assignment, request, assignments.Role.INSTRUCTOR))


# -- one assignment -------------------------------------------------------------------------------------------
@route(["GET"], "/assignments/{int:assignment_id}", response={200: AssignmentOut, 404: Detail},
       summary="An assignment as you may see it (students: no commands, no hidden checks before the due date)")
def get_assignment(request, assignment_id: int):
    try:
        assignment, role = assignments.visible(request.auth, assignment_id)
    except services.ServiceError as exc:
        return _refused(exc)
    return _answer(assignment, request, role)


@route(["PUT"], "/assignments/{int:assignment_id}", response={200: AssignmentOut, 400: Errors, 404: Detail},
       openapi_extra=ASSIGNMENT_BODY,
       summary="Change an assignment (keys left out keep their values); copies already started keep theirs")
def put_assignment(request, assignment_id: int):
    try:
        assignment = assignments.taught(request.auth, assignment_id)
        data = _json_body(request, MAX_ASSIGNMENT_BODY)
        assignment = assignments.update(request.auth, assignment, data)
    except _BadBody as exc:
        return _invalid([exc.problem])
    except services.ServiceError as exc:
        return _refused(exc)
    return _answer(assignment, request, assignments.Role.INSTRUCTOR)


@route(["DELETE"], "/assignments/{int:assignment_id}", response={200: DeletedOut, 404: Detail},
       summary="Delete an assignment and its check results; the students' copies stay theirs, detached")
def delete_assignment(request, assignment_id: int):
    try:
        kept = assignments.delete(assignments.taught(request.auth, assignment_id))
    except services.ServiceError as exc:
        return _refused(exc)
    return {"deleted": True, "copies_kept": kept,
            "detail": f"deleted; {kept} copies kept as their owners' topologies, belonging to no assignment"}


@route(["POST"], "/assignments/{int:assignment_id}/publish", response={200: PublishOut, 404: Detail},
       summary="Publish: the course's students see the assignment and may start it")
def publish(request, assignment_id: int):
    try:
        assignment = assignments.publish(assignments.taught(request.auth, assignment_id))
    except services.ServiceError as exc:
        return _refused(exc)
    copies = assignment.copies.count()
    return {"published": assignment.published, "copies": copies, "detail": "published: the students may start it"}


@route(["POST"], "/assignments/{int:assignment_id}/unpublish", response={200: PublishOut, 404: Detail},
       summary="Back to a draft: students no longer see or start it; copies already made are kept")
def unpublish(request, assignment_id: int):
    try:
        copies = assignments.unpublish(assignments.taught(request.auth, assignment_id))
    except services.ServiceError as exc:
        return _refused(exc)
    detail = "unpublished: students no longer see it or start it"
    if copies:
        detail += f"; the {copies} copies already made are kept, with their labs"
    return {"published": None, "copies": copies, "detail": detail}


@route(["POST"], "/assignments/{int:assignment_id}/start",
       response={200: StartOut, 201: StartOut, 400: Errors, 404: Detail, 409: Detail, 429: Detail, 503: Detail},
       summary="Start: your own copy of the template (201 made now, 200 you had it already)")
def start(request, assignment_id: int):
    try:
        topology, created = assignments.start(request.auth, assignment_id)
    except services.ServiceError as exc:
        return _refused(exc)
    return Status(201 if created else 200, {"topology": {"id": topology.pk, "name": topology.name},
                                            "created": created})


@route(["POST"], "/assignments/{int:assignment_id}/reset",
       response={200: ResetOut, 400: Errors, 404: Detail, 409: Detail, 503: Detail},
       openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
           "type": "object", "properties": {"confirm": {"type": "boolean"}}, "example": {"confirm": True}}}}}},
       summary="Reset your copy to the template (destroying its lab first); without {\"confirm\": true} "
               "nothing is done and the answer (400) says what would be")
def reset(request, assignment_id: int):
    try:
        data = _json_body(request, MAX_SMALL_BODY, empty={})
        if not isinstance(data, dict):
            raise _BadBody(schema.Problem("", 'a JSON object: {"confirm": true}'))
        unknown = [k for k in data if k != "confirm"]
        if unknown:
            raise _BadBody(schema.Problem(unknown[0], "unknown key (allowed: confirm)"))
        confirm = data.get("confirm", False)
        if not isinstance(confirm, bool):
            raise _BadBody(schema.Problem("confirm", "true or false"))
        answer = assignments.reset(request.auth, assignment_id, confirm)
    except _BadBody as exc:
        return _invalid([exc.problem])
    except services.ServiceError as exc:
        return _refused(exc)
    return answer


@route(["GET"], "/topologies/{int:topology_id}/assignment", response={200: AssignmentOut, 404: Detail},
       tags=["assignments"],
       summary="The assignment a topology is a copy of (its owner, or an instructor of the course): the "
               "instructions panel")
def topology_assignment(request, topology_id: int):
    try:
        return assignments.for_topology(request.auth, topology_id)
    except services.ServiceError as exc:
        return _refused(exc)


# -- Markdown preview -----------------------------------------------------------------------------------------
@route(["POST"], "/markdown", response={200: MarkdownOut, 400: Errors, 403: Detail, 429: Detail},
       openapi_extra=MARKDOWN_BODY, throttle=[_PreviewThrottle(PREVIEW_RATE)],
       summary="Markdown rendered as the instructions are (no raw HTML, safe links): the assignment page's "
               "preview, for instructors (403 for others; at most 60 a minute per user: 429 past that)")
def render_markdown(request):
    # Rendering a hostile text costs CPU: only those who write instructions may ask for it.
    if not (courses.may_create(request.auth) or courses.CourseMember.objects.filter(
            user=request.auth, role=courses.Role.INSTRUCTOR).exists()):
        return Status(403, {"detail": "the Markdown preview is for instructors"})
    try:
        data = _json_body(request, MAX_SMALL_BODY)
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            raise _BadBody(schema.Problem("text", 'required: the Markdown, as {"text": "..."}'))
        unknown = [k for k in data if k != "text"]
        if unknown:
            raise _BadBody(schema.Problem(unknown[0], "unknown key (allowed: text)"))
        html = markdown.render(data["text"])
    except _BadBody as exc:
        return _invalid([exc.problem])
    except markdown.TooLong as exc:
        return _invalid([schema.Problem("text", str(exc))])
    return {"html": html}
