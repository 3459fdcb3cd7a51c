"""The API's check routes: "check my work", a copy's runs and grade, an instructor's trial, a class's results.

Rules are :mod:`topology.checking`'s (asking for runs) and :mod:`topology.grading`'s (grades). A copy is
its owner's and its supervisors' (the instructors of its course); an assignment's trial and results are
its course's instructors'. Anybody else gets 404, as for another user's topology.

A student (the copy's owner who is not an instructor of its course) never sees the answer key: each check
as ``{index, description, points}``, results without the node, the command or the pattern (see
:func:`topology.checks.student_results`), and before the due date nothing of a hidden check but its
points, its score left out of theirs. Instructors (the copy's supervisors, and the owner of a trial) see
everything. Answers leave out what a caller may not see rather than sending it as null.
"""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.text import slugify
from ninja import Router

from .. import checking, courses, grading, services
from .. import checks as checklist
from ..models import LIVE_STATES, Assignment, CheckRun, CourseMember, Topology
from ..schema import Problem
from .check_schemas import CheckRunOut, CopyChecksOut, RerunOut, ResultRow, TryIn
from .routing import route_on
from .schemas import Detail, Errors
from .views import _refused, _topology

router = Router(tags=["checks"])

route = route_on(router)

RUNS_SHOWN = 20
RUN_REFUSALS = {400: Errors, 404: Detail, 409: Detail, 429: Detail, 502: Detail, 503: Detail, 504: Detail}


class View:
    """What the caller may see of one copy's checks: everything (``full``), or a student's share of it."""

    def __init__(self, user, topology: Topology):
        if topology.owner_id != user.pk:  # _copy let them in: they supervise it
            self.full = True
        else:  # the owner: an instructor of the course (or a superuser) makes trials of their own copy
            self.full = courses.role_in(user, topology.assignment.course) == CourseMember.Role.INSTRUCTOR
        due = topology.assignment.due
        self.hidden_shown = self.full or (due is not None and timezone.now() >= due)

    def run(self, run: CheckRun) -> dict:
        """One run as :class:`CheckRunOut`."""
        out = {"id": run.pk, "state": run.state, "user": run.user.username,
               "requested_by": run.requested_by.username if run.requested_by else None, "trial": run.trial,
               "started": run.started, "finished": run.finished, "late": run.late}
        if self.full:
            return out | {"score": run.score, "max_score": run.max_score, "reason": run.reason,
                          "results": [r for r in run.results or [] if isinstance(r, dict)]}
        results = checklist.student_results(run.results, hidden_shown=self.hidden_shown)
        score, max_score = checklist.student_score(run.results, hidden_shown=self.hidden_shown)
        return out | {"score": score, "max_score": max_score, "reason": checklist.student_reason(run.reason, results),
                      "results": results}

    def checks(self, normal: list[dict]) -> list[dict]:
        """The (normalised) checks as :class:`CheckSummary` items."""
        if self.full:
            return [{"index": i} | c for i, c in enumerate(normal)]
        return checklist.student_checks(normal, hidden_shown=self.hidden_shown)

    def grade(self, assignment: Assignment, owner_id: int) -> dict | None:
        """The owner's grade; a student's, before the due date, out of the visible checks of its run only."""
        grade = grading.grade(assignment, owner_id)
        if grade is None or self.hidden_shown:
            return grade
        results = CheckRun.objects.filter(pk=grade["run"]).values_list("results", flat=True).first()
        grade["score"], grade["max_score"] = checklist.student_score(results or [], hidden_shown=False)
        return grade


def _copy(request: HttpRequest, topology_id: int) -> Topology:
    topology = _topology(request, topology_id, supervised=True)
    if topology.assignment_id is None:
        raise checking.NotACopy("this topology is not a copy of an assignment: it has no checks")
    return topology


def _assignment(request: HttpRequest, assignment_id: int) -> Assignment:
    """An assignment the caller teaches, else :class:`courses.NotFound` (for its students too)."""
    assignment = Assignment.objects.select_related("course").filter(pk=assignment_id).first()
    if assignment is None:
        raise courses.NotFound("no such assignment")
    try:
        courses.taught(request.auth, assignment.course_id)
    except courses.NotFound:
        raise courses.NotFound("no such assignment") from None
    return assignment


@route(["POST"], "/topologies/{int:topology_id}/checks", response={200: CheckRunOut, **RUN_REFUSALS}, exclude_unset=True,
       summary="Check my work: run the assignment's checks on this copy's running lab and wait for the results "
               "(its owner, or an instructor of its course; an instructor's own copy makes a trial, never a grade)")
def run_checks(request, topology_id: int):
    try:
        topology = _copy(request, topology_id)
        run = checking.request_run(topology, request.auth)
    except services.ServiceError as exc:
        return _refused(exc)
    return View(request.auth, topology).run(run)


@route(["GET"], "/topologies/{int:topology_id}/checks", response={200: CopyChecksOut, 400: Errors, 404: Detail},
       exclude_unset=True, by_alias=True,
       summary="This copy's checks (for its student: descriptions and points only, hidden ones masked before the "
               "due date), latest runs and grade")
def list_checks(request, topology_id: int):
    try:
        topology = _copy(request, topology_id)
    except services.ServiceError as exc:
        return _refused(exc)
    assignment = topology.assignment
    view = View(request.auth, topology)
    saved = assignment.checks if isinstance(assignment.checks, list) else []
    normal, _ = checklist.validate_checks(saved, checking.node_names(assignment.template))
    runs = (CheckRun.objects.filter(topology=topology).select_related("user", "requested_by")
            .order_by("-started", "-id")[:RUNS_SHOWN])
    return {"checks": view.checks(normal), "runs": [view.run(r) for r in runs],
            "grade": view.grade(assignment, topology.owner_id)}


@route(["POST"], "/assignments/{int:assignment_id}/checks/try", response={200: CheckRunOut, **RUN_REFUSALS},
       exclude_unset=True,
       summary="Try checks (unsaved) on your own running copy of the assignment (its instructors): a trial, never a grade")
def try_checks(request, assignment_id: int, body: TryIn):
    try:
        assignment = _assignment(request, assignment_id)
        copy = Topology.objects.select_related("lab", "owner", "assignment").filter(
            owner=request.auth, assignment=assignment).first()
        if copy is None:
            raise courses.NotFound("you have no copy of this assignment: start the assignment and deploy your copy first")
        lab = getattr(copy, "lab", None)
        if lab is None or lab.state not in LIVE_STATES:
            state = lab.state if lab is not None else "not deployed"
            raise services.Conflict(
                f"your copy's lab is {state}: start the assignment and deploy your copy first")
        if body.checks is None:
            raise checking.NoChecks("give the checks to try", [Problem("checks", "is required")])
        run = checking.request_run(copy, request.auth, checks=body.checks, trial=True)
    except services.ServiceError as exc:
        return _refused(exc)
    return View(request.auth, copy).run(run)


@route(["GET"], "/assignments/{int:assignment_id}/results", response={200: list[ResultRow], 404: Detail},
       summary="Every enrolled student's grade and latest run (the course's instructors)")
def results(request, assignment_id: int):
    try:
        assignment = _assignment(request, assignment_id)
    except services.ServiceError as exc:
        return _refused(exc)
    return grading.table(assignment)


@route(["POST"], "/assignments/{int:assignment_id}/results/rerun", response={200: RerunOut, 404: Detail, 503: Detail},
       summary="Queue a run of the checks on every student's copy whose lab runs (the course's instructors)")
def rerun(request, assignment_id: int):
    try:
        assignment = _assignment(request, assignment_id)
        return checking.rerun_class(assignment, request.auth)
    except services.ServiceError as exc:
        return _refused(exc)


@route(["GET"], "/assignments/{int:assignment_id}/results.csv", response={200: None, 404: Detail},
       summary="The results as a CSV file (the course's instructors)")
def results_csv(request, assignment_id: int):
    try:
        assignment = _assignment(request, assignment_id)
    except services.ServiceError as exc:
        return _refused(exc)
    name = slugify(f"{assignment.course.slug}-{assignment.title}")[:80] or "assignment"
    response = HttpResponse(grading.csv_text(assignment), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-results.csv"'
    response["Cache-Control"] = "no-store"
    return response

