"""What a course looks like to its instructors: one row per student, one column per assignment, one cell each.

Read-only and neutral (the root worker builds cells too, through :mod:`topology.coursefeed`, when a lab
changes), so it imports neither side: no permissions here, the callers check who asks. The REST API's
``GET /courses/<id>/grid``, the course socket's ``snapshot`` and its ``cell`` messages all show the
shapes built here::

    grid = {"course": {"id": 3, "name": "Networks 101"},
            "students": [{"username": "ana", "name": "Ana Silva"}, ...],          # by username
            "assignments": [{"id": 7, "title": "A1 static routes", "published": true,
                             "due": "2026-12-08T12:00:00+00:00" | null}, ...],    # drafts too
            "cells": {"ana": {"7": <cell>, ...}, ...}}                             # every (student, assignment)

    cell = {"status": "not started|editing|deploying|running|degraded|failed|destroying",
            "topology": 41 | null,        # the student's copy (null: not started)
            "name": "a1-static-routes" | "",
            "reason": "",                 # why the lab failed / which nodes a degraded lab lost
            "nodes": ["c1", "r1"],        # the lab's running nodes (console links)
            "checking": false,            # a check run of it is running now
            "grade": {"score", "max_score", "late", "run", "finished", "counted"} | null}

A grid costs a fixed handful of queries whatever the class's size (students, assignments, copies with
their labs, running nodes, check runs): nothing is asked per cell.
"""
from __future__ import annotations

from collections import defaultdict

from . import grading
from .models import Assignment, CheckRun, Course, CourseMember, LabNode, LabState, NodeStatus, Topology

NOT_STARTED = "not started"
EDITING = "editing"  # a copy whose lab is stopped
STATUSES = (NOT_STARTED, EDITING, LabState.DEPLOYING.value, LabState.RUNNING.value, LabState.DEGRADED.value,
            LabState.FAILED.value, LabState.DESTROYING.value)


def status_of(lab_state: str | None) -> str:
    """A cell's status from its copy's lab state (None: there is no copy)."""
    if lab_state is None:
        return NOT_STARTED
    if lab_state == LabState.STOPPED:
        return EDITING
    return str(lab_state)


def _assignment(a: Assignment) -> dict:
    return {"id": a.pk, "title": a.title, "published": a.published is not None,
            "due": a.due.isoformat() if a.due else None}


def _copies(course: Course, user_ids: list[int] | None = None, assignment_id: int | None = None):
    copies = Topology.objects.filter(assignment__course=course)
    if user_ids is not None:
        copies = copies.filter(owner_id__in=user_ids)
    if assignment_id is not None:
        copies = copies.filter(assignment_id=assignment_id)
    return copies.values("pk", "name", "owner_id", "assignment_id", "lab__id", "lab__state", "lab__reason")


def _running_nodes(lab_ids: list[int]) -> dict[int, list[str]]:
    nodes: dict[int, list[str]] = defaultdict(list)
    if lab_ids:
        for lab_id, name in (LabNode.objects.filter(lab_id__in=lab_ids, state=NodeStatus.RUNNING)
                             .order_by("lab_id", "name").values_list("lab_id", "name")):
            nodes[lab_id].append(name)
    return nodes


def _runs(course: Course, user_ids: list[int] | None = None, assignment_id: int | None = None):
    """The graded runs (trials are not) of the course, newest first, without their (big) results."""
    runs = CheckRun.objects.filter(assignment__course=course, trial=False).defer("results")
    if user_ids is not None:
        runs = runs.filter(user_id__in=user_ids)
    if assignment_id is not None:
        runs = runs.filter(assignment_id=assignment_id)
    by_cell: dict[tuple[int, int], list[CheckRun]] = defaultdict(list)
    for run in runs.order_by("-started", "-id"):
        by_cell[(run.assignment_id, run.user_id)].append(run)
    return by_cell


def _grade(assignment: Assignment, runs: list[CheckRun]) -> dict | None:
    """What :func:`topology.grading.grade` answers, from runs already read (a grid reads them all at once)."""
    # grading's own choice among the graded runs (done, finished, no trial), without its query per student
    return grading._pick(assignment, [r for r in runs if r.state == CheckRun.State.DONE and r.finished is not None])


def _cell(copy: dict | None, nodes: dict[int, list[str]], assignment: Assignment, user_id: int,
          runs: list[CheckRun]) -> dict:
    lab_state = copy["lab__state"] if copy else None
    return {
        "status": status_of(lab_state),
        "topology": copy["pk"] if copy else None,
        "name": copy["name"] if copy else "",
        "reason": (copy["lab__reason"] or "") if copy and lab_state in (LabState.FAILED, LabState.DEGRADED) else "",
        "nodes": list(nodes.get(copy["lab__id"], [])) if copy and lab_state in (LabState.RUNNING, LabState.DEGRADED)
        else [],
        "checking": any(run.state == CheckRun.State.RUNNING for run in runs),
        "grade": _grade(assignment, runs),
    }


def grid(course: Course) -> dict:
    """The whole grid of ``course``: its students, its assignments (published and drafts), every cell."""
    members = list(CourseMember.objects.filter(course=course, role=CourseMember.Role.STUDENT)
                   .select_related("user").order_by("user__username"))
    assignments = list(Assignment.objects.filter(course=course).order_by("created", "id"))
    user_ids = [m.user_id for m in members]
    copies = {(c["owner_id"], c["assignment_id"]): c for c in _copies(course, user_ids)} if user_ids else {}
    nodes = _running_nodes([c["lab__id"] for c in copies.values() if c["lab__state"] in
                            (LabState.RUNNING, LabState.DEGRADED)])
    runs = _runs(course, user_ids) if user_ids and assignments else {}
    cells = {}
    for member in members:
        cells[member.user.username] = {
            str(a.pk): _cell(copies.get((member.user_id, a.pk)), nodes, a, member.user_id, runs.get((a.pk, member.user_id), []))
            for a in assignments}
    return {"course": {"id": course.pk, "name": course.name},
            "students": [{"username": m.user.username, "name": m.user.get_full_name()} for m in members],
            "assignments": [_assignment(a) for a in assignments],
            "cells": cells}


def cell(course: Course | int, user_id: int, assignment_id: int) -> dict | None:
    """One cell: ``user_id``'s work on assignment ``assignment_id`` of ``course`` (None: no such assignment)."""
    course_id = course.pk if isinstance(course, Course) else int(course)
    assignment = Assignment.objects.filter(pk=assignment_id, course_id=course_id).first()
    if assignment is None:
        return None
    copy = _copies(course_id, [user_id], assignment_id).first()
    lab_id = copy["lab__id"] if copy and copy["lab__state"] in (LabState.RUNNING, LabState.DEGRADED) else None
    nodes = _running_nodes([lab_id] if lab_id else [])
    runs = _runs(course_id, [user_id], assignment_id).get((assignment_id, user_id), [])
    return _cell(copy, nodes, assignment, user_id, runs)
