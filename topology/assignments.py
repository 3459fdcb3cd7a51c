"""What users may do with assignments: write, publish, list, start and reset them (web side).

Like :mod:`topology.services` and :mod:`topology.courses`, this is the one place for the rules; the API
calls it, and it raises :class:`topology.services.ServiceError` subclasses whose ``status`` is the HTTP
answer. An assignment belongs to a course: for someone who is not a member of that course it does not
exist (404), nor does an unpublished one for the course's students. Its instructors write it
(:func:`create`, :func:`update`, :func:`delete`, :func:`publish`, :func:`unpublish`); its students, and its
instructors for a copy of their own to try the checks on, :func:`start` it and :func:`reset` their copy.

What each sees is :func:`view`: a student gets the title, the rendered instructions, the due date, the
grading, and of the checks their descriptions and points only (never the command, node or pattern; hidden
checks not at all before the due date); an instructor gets everything, and how many students started.
"""
from __future__ import annotations

import copy as copying
import re
import uuid
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from . import checks as check_rules
from . import courses, labview, leases, markdown, schema, services
from .engine.plan import PlanError, check_deployable
from .models import Assignment, Course, CourseMember, LabState, Topology

Role = CourseMember.Role
Problem = schema.Problem

MAX_TITLE = Assignment._meta.get_field("title").max_length
MAX_NAME = 40  # a topology's name (the format's rule: lowercase letters, digits and '-', not starting with '-')
FIELDS = ("title", "instructions", "template", "checks", "due", "grading")
START_ATTEMPTS = 5


class NotFound(courses.NotFound):
    """No such assignment, or not the caller's to see (existence is not revealed)."""


class Invalid(services.ServiceError):
    """The assignment as sent breaks a rule; every problem is listed with its path. Nothing was saved."""

    status = 400


class ConfirmationNeeded(services.ServiceError):
    """A reset loses the student's work: it is done only when asked again with ``confirm``."""

    status = 400


# -- who sees what --------------------------------------------------------------------------------------------
def visible(user, assignment_id: int) -> tuple[Assignment, str]:
    """The assignment and the user's role in its course; :class:`NotFound` for a non-member, and for a
    student when it is not published."""
    assignment = Assignment.objects.filter(pk=assignment_id).select_related("course").first()
    if assignment is None:
        raise NotFound("no such assignment")
    try:
        _, role = courses.visible(user, assignment.course_id)
    except courses.NotFound:
        raise NotFound("no such assignment") from None
    if role != Role.INSTRUCTOR and assignment.published is None:
        raise NotFound("no such assignment")
    return assignment, role


def taught(user, assignment_id: int) -> Assignment:
    """An assignment of a course the user instructs, else :class:`NotFound` (for its students too)."""
    assignment, role = visible(user, assignment_id)
    if role != Role.INSTRUCTOR:
        raise NotFound("no such assignment")
    return assignment


def list_for(user, course_id: int) -> tuple[Course, str, list[Assignment]]:
    """The course's assignments the user may see: all for its instructors, the published ones for its
    students; :class:`courses.NotFound` when the user is not a member."""
    course, role = courses.visible(user, course_id)
    rows = Assignment.objects.filter(course=course).select_related("course")
    if role != Role.INSTRUCTOR:
        rows = rows.filter(published__isnull=False)
    return course, role, list(rows.order_by("created", "id"))


def copy_of(user, assignment: Assignment) -> Topology | None:
    """The user's copy of the assignment (with its lab), if they started it."""
    return Topology.objects.filter(owner=user, assignment=assignment).select_related("lab").first()


def _hidden_shown(assignment: Assignment) -> bool:
    return assignment.due is not None and timezone.now() >= assignment.due


def _copy_view(topology: Topology | None) -> dict | None:
    if topology is None:
        return None
    return {"id": topology.pk, "name": topology.name, "lab": labview.summary(topology.lab)}


def started_count(assignment: Assignment) -> int:
    """How many of the course's students have a copy (an instructor's own try is not counted)."""
    students = CourseMember.objects.filter(course_id=assignment.course_id, role=Role.STUDENT).values("user_id")
    return Topology.objects.filter(assignment=assignment, owner_id__in=students).count()


def item(assignment: Assignment, user, role: str) -> dict:
    """A line of the course's list of assignments, as ``user`` (of ``role``) may see it."""
    data = {"id": assignment.pk, "course": assignment.course_id, "title": assignment.title, "due": assignment.due,
            "grading": assignment.grading, "published": assignment.published, "role": role,
            "topology": _copy_view(copy_of(user, assignment)), "started": None}
    if role == Role.INSTRUCTOR:
        data["started"] = started_count(assignment)
    return data


def view(assignment: Assignment, user, role: str, *, topology: Topology | None = None) -> dict:
    """The assignment as ``user`` (of ``role`` in its course) may see it, with ``topology`` as the copy shown
    (by default the user's own).

    Students: checks as ``{index, description, points}`` only, the hidden ones left out (and counted in
    ``hidden_checks``) until the due date. Instructors: the raw instructions, the template, every check as
    written, and ``started``.
    """
    specs = assignment.checks or []
    data = {
        "id": assignment.pk, "course": {"id": assignment.course_id, "name": assignment.course.name},
        "title": assignment.title, "instructions_html": markdown.render_cached(assignment.instructions),
        "due": assignment.due, "grading": assignment.grading, "published": assignment.published, "role": role,
        "max_points": sum(int(c.get("points", 1)) for c in specs),
        "topology": _copy_view(topology if topology is not None else copy_of(user, assignment)),
    }
    if role == Role.INSTRUCTOR:
        data.update(instructions=assignment.instructions, template=assignment.template, checks=specs,
                    hidden_checks=0, started=started_count(assignment), created=assignment.created,
                    updated=assignment.updated,
                    created_by=assignment.created_by.get_username() if assignment.created_by else None)
        return data
    shown = _hidden_shown(assignment)
    data["checks"] = [{"index": i, "description": c.get("description", ""), "points": c.get("points", 1)}
                      for i, c in enumerate(specs) if shown or not c.get("hidden")]
    data["hidden_checks"] = len(specs) - len(data["checks"])
    return data


# -- writing --------------------------------------------------------------------------------------------------
def _parse_due(value, problems: list[Problem]):
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(Problem("due", "an ISO 8601 date and time with its time zone, e.g. 2026-12-24T18:00:00Z, "
                                       "or null"))
        return None
    try:
        due = datetime.fromisoformat(value.strip())
    except ValueError:
        problems.append(Problem("due", f"'{value[:60]}' is not an ISO 8601 date and time "
                                       "(e.g. 2026-12-24T18:00:00+01:00)"))
        return None
    if due.tzinfo is None or due.utcoffset() is None:
        problems.append(Problem("due", "give the time zone too (e.g. 2026-12-24T18:00:00Z or ...+01:00)"))
        return None
    return due


def _template_node_names(template) -> set[str]:
    nodes = template.get("nodes") if isinstance(template, dict) else None
    return {n["name"] for n in nodes if isinstance(n, dict) and isinstance(n.get("name"), str)} \
        if isinstance(nodes, list) else set()


def _prefixed(prefix: str, problem: Problem) -> Problem:
    if not problem.path:
        return Problem(prefix, problem.message)
    joiner = "" if problem.path.startswith("[") else "."
    return Problem(f"{prefix}{joiner}{problem.path}", problem.message)


def _check_template(template, problems: list[Problem]) -> tuple[dict | None, list[dict]]:
    """The template as stored (its author's keys only) and its warnings, or None with its problems added."""
    if not isinstance(template, dict):
        problems.append(Problem("template", "a topolab/v1 document (a JSON object)"))
        return None, []
    result = services.validate(template)
    if not result.ok:
        problems.extend(_prefixed("template", p) for p in result.errors)
        return None, []
    try:
        check_deployable(result.document)
    except PlanError as exc:
        problems.extend(_prefixed("template", p) for p in exc.problems)
        return None, []
    return schema.dump(result.document), [_prefixed("template", p).as_dict() for p in result.warnings]


def _clean(course: Course, data, *, current: Assignment | None) -> dict:
    """The fields to save, checked all together; :class:`Invalid` with every problem. On an update, a key
    left out keeps its value."""
    if not isinstance(data, dict):
        raise Invalid("the assignment is a JSON object", [Problem("", f"a JSON object with the keys {', '.join(FIELDS)}")])
    problems = [Problem(key, f"unknown key (an assignment has {', '.join(FIELDS)})") for key in data
                if key not in FIELDS]
    values: dict = {}

    def given(key: str, default):
        if key in data:
            return data[key]
        return getattr(current, key) if current is not None else default

    title = given("title", None)
    if not isinstance(title, str) or not title.strip():
        problems.append(Problem("title", "required: a title of 1 to 100 characters"))
    else:
        title = title.strip()
        if len(title) > MAX_TITLE:
            problems.append(Problem("title", f"{len(title)} characters; at most {MAX_TITLE}"))
        else:
            others = Assignment.objects.filter(course=course, title__iexact=title)
            if current is not None:
                others = others.exclude(pk=current.pk)
            if others.exists():
                problems.append(Problem("title", f"this course already has an assignment titled '{others.first().title}'"))
        values["title"] = title

    instructions = given("instructions", "")
    if instructions is None:
        instructions = ""
    if not isinstance(instructions, str):
        problems.append(Problem("instructions", "Markdown text (a string)"))
    elif len(instructions.encode("utf-8", "surrogatepass")) > markdown.MAX_BYTES:
        problems.append(Problem("instructions", f"{len(instructions.encode('utf-8', 'surrogatepass'))} bytes; "
                                                f"at most {markdown.MAX_BYTES} (64 KiB)"))
    values["instructions"] = instructions

    if "template" in data or current is None:
        if "template" not in data:
            problems.append(Problem("template", "required: the topolab/v1 document each student starts from"))
            template = None
        else:
            template, _ = _check_template(data["template"], problems)
        values["template"] = template
        node_names = (_template_node_names(template) if template is not None
                      else _template_node_names(data.get("template")))
    else:
        values["template"] = current.template
        node_names = _template_node_names(current.template)

    if "checks" in data or "template" in data or current is None:
        # A new template is checked against the checks kept (a node they name may be gone from it).
        raw_checks = given("checks", [])
        if raw_checks is None:
            raw_checks = []
        normalised, check_problems = check_rules.validate_checks(raw_checks, node_names)
        problems.extend(check_problems)
        values["checks"] = normalised

    values["due"] = _parse_due(data["due"], problems) if "due" in data else (current.due if current else None)

    grading = given("grading", Assignment.Grading.BEST)
    if grading not in Assignment.Grading.values:
        problems.append(Problem("grading", "best (the best result before the due date) or last (the last one)"))
    values["grading"] = grading

    if problems:
        raise Invalid("the assignment has errors", problems)
    return values


def _title_taken(title: str) -> Invalid:
    return Invalid("title taken", [Problem("title", f"this course already has an assignment titled '{title}'")])


def create(instructor, course: Course, data) -> Assignment:
    """A new draft assignment of ``course`` (which ``instructor`` teaches: see :func:`courses.taught`)."""
    values = _clean(course, data, current=None)
    try:
        with transaction.atomic():
            return Assignment.objects.create(course=course, created_by=instructor, **values)
    except IntegrityError:  # the same title saved by a concurrent request
        raise _title_taken(values["title"]) from None


def update(instructor, assignment: Assignment, data) -> Assignment:
    """Change an assignment; keys left out keep their values. Copies already started keep their documents:
    a new template is what later starts and resets give."""
    values = _clean(assignment.course, data, current=assignment)
    for key, value in values.items():
        setattr(assignment, key, value)
    try:
        with transaction.atomic():
            assignment.save()
    except IntegrityError:
        raise _title_taken(values["title"]) from None
    return assignment


def delete(assignment: Assignment) -> int:
    """Delete an assignment and its check runs; its copies stay, each a topology of its owner's that belongs
    to no assignment any more. Answers how many copies were kept."""
    with transaction.atomic():
        kept = Topology.objects.filter(assignment=assignment).count()
        assignment.delete()
    return kept


def publish(assignment: Assignment) -> Assignment:
    """Give the assignment to the course's students (publishing again keeps the first date)."""
    if assignment.published is None:
        assignment.published = timezone.now()
        assignment.save(update_fields=["published", "updated"])
    return assignment


def unpublish(assignment: Assignment) -> int:
    """Take the assignment back to a draft: students stop seeing it and cannot start it. Copies already made
    are kept, with their labs; answers how many."""
    if assignment.published is not None:
        assignment.published = None
        assignment.save(update_fields=["published", "updated"])
    return Topology.objects.filter(assignment=assignment).count()


# -- start and reset ------------------------------------------------------------------------------------------
def _base_name(title: str) -> str:
    """A topology name from a title: lowercase ASCII letters, digits and single dashes."""
    name = re.sub(r"[^a-z0-9]+", "-", slugify(title)).strip("-")
    return name[:MAX_NAME].rstrip("-") or "assignment"


def free_name(user, title: str) -> str:
    """The title's slug, or the slug with -2, -3... when the user has a topology of that name already
    (at most 40 characters, shortening the slug to keep the suffix)."""
    base = _base_name(title)
    # Every candidate starts with this much of the slug (a suffix shortens it by at most 10 characters).
    taken = set(Topology.objects.filter(owner=user, name__startswith=base[:MAX_NAME - 10])
                .values_list("name", flat=True))
    name, n = base, 1
    while name in taken:
        n += 1
        suffix = f"-{n}"
        name = base[:MAX_NAME - len(suffix)].rstrip("-") + suffix
    return name


def _startable(user, assignment_id: int) -> Assignment:
    assignment, _ = visible(user, assignment_id)  # a student only sees a published one
    return assignment


def start(user, assignment_id: int) -> tuple[Topology, bool]:
    """The user's copy of the assignment, made from its template if they have none: (copy, newly made).

    Open to the course's students (once it is published) and to its instructors (a copy of their own, to
    try the checks on). The copy is named after the title, a name free among the user's topologies. Two
    starts at once make one copy: the database allows one per user and assignment, and the loser of the
    race answers the winner's copy.
    """
    assignment = _startable(user, assignment_id)
    existing = copy_of(user, assignment)
    if existing is not None:
        return existing, False
    for _ in range(START_ATTEMPTS):
        document = copying.deepcopy(assignment.template)
        document["name"] = free_name(user, assignment.title)
        try:
            # No atomic block of ours around it: the service's own is the transaction, so that its lock on
            # the user's topology count is held until the copy is committed.
            return services.import_topology(user, document, assignment=assignment), True
        except IntegrityError:  # a concurrent start, or the name taken meanwhile
            pass
        except services.InvalidDocument as exc:
            if not any(p.path == "name" for p in exc.problems):
                # The template no longer fits this server (its limits changed since it was saved).
                raise Invalid("the assignment's template cannot be copied: ask your instructor",
                              [_prefixed("template", p) for p in exc.problems]) from None
        existing = copy_of(user, assignment)
        if existing is not None:
            return existing, False
    raise services.Conflict("could not make your copy right now (its name was taken each time); try again")


def _reset_stopped(topology: Topology, lab, result) -> None:
    """Replace a stopped lab's document, holding the lab's lease, so that a deploy asked for meanwhile (another
    tab) builds either the old document or the template, never starts in between unnoticed."""
    holder = uuid.uuid4().hex
    if not leases.acquire(lab.pk, holder):
        raise services.Conflict("the lab is busy (an operation just began); try again when it has ended")
    try:
        lab.refresh_from_db()
        if lab.state != LabState.STOPPED:
            raise services.Conflict(f"the lab is {lab.state} now; try again")
        services.update_topology(topology, result)
    finally:
        leases.release(lab.pk, holder)


def reset(user, assignment_id: int, confirm: bool) -> dict:
    """Give the user's copy the assignment's template back (keeping the copy's name), destroying its lab
    first unless it is stopped.

    Without ``confirm`` nothing is done: :class:`ConfirmationNeeded` says what would be. A lab deploying or
    destroying is :class:`services.Conflict` (try again when it ends); no lab worker is
    :class:`services.NoWorker`; in both cases nothing changed. Answers ``{topology, reset, destroy,
    operation, detail}``.
    """
    assignment = _startable(user, assignment_id)
    topology = copy_of(user, assignment)
    if topology is None:
        raise NotFound("you have not started this assignment: start it to get your copy")
    lab = topology.lab
    lab.refresh_from_db()
    needs_destroy = lab.state != LabState.STOPPED
    if not confirm:
        what = f"Reset replaces your topology '{topology.name}' with the assignment's template: your changes are lost."
        if needs_destroy:
            what += f" Its lab ({lab.state}) is destroyed first."
        raise ConfirmationNeeded(what, [Problem("confirm", what + ' Send {"confirm": true} to reset.')])
    document = copying.deepcopy(assignment.template)
    document["name"] = topology.name
    result = services.validate(document)
    if not result.ok:
        raise Invalid("the assignment's template cannot be copied: ask your instructor",
                      [_prefixed("template", p) for p in result.errors])
    if labview.operation_running(lab):  # a stale one (its worker died) is destroyed like any other
        raise services.Conflict(f"the lab is {lab.state}; try again when that has ended")
    if needs_destroy:
        # The destroy holds the lab's lease from here on: no deploy can start before the document is the template.
        operation = services.request_destroy(lab)
        services.update_topology(topology, result)
    else:
        operation = None
        _reset_stopped(topology, lab, result)
    if operation:
        detail = f"'{topology.name}' is the template again; its lab is being destroyed (deploy it again when it is stopped)"
    else:
        detail = f"'{topology.name}' is the template again; its lab was stopped already"
    return {"topology": {"id": topology.pk, "name": topology.name}, "reset": True,
            "destroy": "queued" if operation else "not needed", "operation": operation, "detail": detail}


def for_topology(user, topology_id: int) -> dict:
    """The assignment a topology is a copy of, for the editor's instructions panel: as its owner sees it
    (a student: only while it is published and they are in the course) or as a supervisor
    (:func:`courses.supervises`). Else :class:`NotFound`."""
    topology = (Topology.objects.filter(pk=topology_id).filter(Q(owner=user) | Q(assignment__isnull=False))
                .select_related("lab", "assignment__course").first())
    if topology is None or (topology.owner_id != user.pk and not courses.supervises(user, topology)):
        raise NotFound("no such topology")
    if topology.assignment is None:
        raise NotFound("this topology is not a copy of an assignment")
    if topology.owner_id == user.pk:
        assignment, role = visible(user, topology.assignment_id)
    else:
        assignment, role = topology.assignment, Role.INSTRUCTOR
    return view(assignment, user, role, topology=topology)
