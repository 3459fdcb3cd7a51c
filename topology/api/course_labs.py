"""The API's routes for the labs of a course, for its instructors: the grid, and destroying students' labs.

A course the caller does not instruct answers 404 (its students too: the grid is not theirs to see), as
does a topology that is not a copy of one of this course's assignments owned by the student named.
Destroying goes through :func:`topology.services.request_destroy`, as the owner's own Destroy does.
"""
from __future__ import annotations

from ninja import Router, Schema, Status

from .. import classview, courses, services
from ..models import LabState, Topology
from .routing import route_on
from .schemas import Detail, OperationOut
from .views import _refused

router = Router(tags=["course_labs"])

route = route_on(router)


class GridOut(Schema):
    """The grid as :mod:`topology.classview` builds it (cells keyed by username, then assignment ID)."""

    course: dict
    students: list[dict]
    assignments: list[dict]
    cells: dict


class QueuedLab(Schema):
    username: str
    topology: int
    name: str
    operation: str


class SkippedLab(Schema):
    username: str
    topology: int
    name: str
    reason: str


class DestroyAllOut(Schema):
    queued: list[QueuedLab]
    skipped: list[SkippedLab]


def _copies(course):
    """The copies of the course's assignments, with their labs and owners, by owner and name."""
    return (Topology.objects.filter(assignment__course=course).select_related("lab", "owner")
            .order_by("owner__username", "name"))


@route(["GET"], "/courses/{int:course_id}/grid", response={200: GridOut, 404: Detail},
       summary="The course's students x assignments grid: each cell's lab state, running nodes and grade "
               "(instructors only; the course's socket /ws/courses/<id>/ sends it live)")
def get_grid(request, course_id: int):
    try:
        course = courses.taught(request.auth, course_id)
    except services.ServiceError as exc:
        return _refused(exc)
    return classview.grid(course)


@route(["POST"], "/courses/{int:course_id}/labs/destroy", response={200: DestroyAllOut, 404: Detail},
       summary="Destroy every lab of the course's copies that is not stopped (the end of a class): each is "
               "queued, or skipped saying why (busy, no worker)")
def destroy_all(request, course_id: int):
    try:
        course = courses.taught(request.auth, course_id)
    except services.ServiceError as exc:
        return _refused(exc)
    queued, skipped = [], []
    for topology in _copies(course).exclude(lab__state=LabState.STOPPED):
        who = {"username": topology.owner.username, "topology": topology.pk, "name": topology.name}
        try:
            queued.append({**who, "operation": services.request_destroy(topology.lab)})
        except services.ServiceError as exc:
            skipped.append({**who, "reason": exc.message})
    return {"queued": queued, "skipped": skipped}


@route(["POST"], "/courses/{int:course_id}/students/{username}/topologies/{int:topology_id}/destroy",
       response={202: OperationOut, 404: Detail, 409: Detail, 503: Detail},
       summary="Destroy one student's lab (a copy of one of this course's assignments)")
def destroy_one(request, course_id: int, username: str, topology_id: int):
    try:
        course = courses.taught(request.auth, course_id)
        topology = _copies(course).filter(pk=topology_id, owner__username=username).first()
        if topology is None:
            raise courses.NotFound("no such topology in this course")
        operation = services.request_destroy(topology.lab)
    except services.ServiceError as exc:
        return _refused(exc)
    return Status(202, {"state": topology.lab.state, "operation": operation})
