"""An assignment's grades from its check runs (neutral: database reads only, no writes).

Only finished runs (state done) that are not an instructor's trial are grades. A run counts when it
was asked for by the due date (every run counts while there is none): lateness is by ``started``, when
the student (or their instructor) asked for the run, not by when it finished, so a "Check my work"
clicked before the due date that finishes after it is on time. Among those ``assignment.grading`` picks:
"best" is the highest ratio ``score / max_score`` (the checks may have been edited between runs, so raw
scores need not be out of the same total; a run out of 0 counts as 0; the earliest asked for of equal
ones), "last" the latest asked for. Late runs are shown but do not count; when every run is late, the
grade shown is the latest late one, ``counted`` False. The due date is read as it is now, so moving it
re-grades everyone alike. These are the full grades (hidden checks included), as instructors see them.
"""
from __future__ import annotations

import csv
import io
from fractions import Fraction

from .models import Assignment, CheckRun, CourseMember

CSV_COLUMNS = ("username", "name", "score", "max_score", "late", "finished", "counted",
               "latest_score", "latest_max_score", "latest_state", "latest_finished", "copy")
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _iso(when) -> str | None:
    return when.isoformat() if when is not None else None


def _is_late(assignment: Assignment, run: CheckRun) -> bool:
    # By when the run was asked for, from the due date as it is now (see the module's docstring).
    return assignment.due is not None and run.started is not None and run.started > assignment.due


def _ratio(run: CheckRun) -> Fraction:
    # Exact, so that 2/3 and 4/6 tie (and the earliest wins) where floats might not.
    return Fraction(run.score, run.max_score) if run.max_score else Fraction(0)


def _pick(assignment: Assignment, runs: list[CheckRun]) -> dict | None:
    """The grade among one user's finished non-trial runs (any order), as :func:`grade` answers it."""
    if not runs:
        return None
    on_time = [r for r in runs if not _is_late(assignment, r)]
    if on_time:
        if assignment.grading == Assignment.Grading.LAST:
            run = max(on_time, key=lambda r: (r.started, r.pk))
        else:
            run = min(on_time, key=lambda r: (-_ratio(r), r.started, r.pk))
        counted = True
    else:
        run, counted = max(runs, key=lambda r: (r.started, r.pk)), False
    return {"score": run.score, "max_score": run.max_score, "late": _is_late(assignment, run), "run": run.pk,
            "finished": _iso(run.finished), "counted": counted}


def _graded_runs(assignment: Assignment):
    return CheckRun.objects.filter(assignment=assignment, trial=False, state=CheckRun.State.DONE,
                                   finished__isnull=False)


def grade(assignment: Assignment, user_id: int) -> dict | None:
    """``{score, max_score, late, run, finished, counted}`` of one user, or None with no finished run."""
    return _pick(assignment, list(_graded_runs(assignment).filter(user_id=user_id)))


def _summary(run: CheckRun | None) -> dict | None:
    if run is None:
        return None
    return {"id": run.pk, "state": run.state, "score": run.score, "max_score": run.max_score,
            "started": _iso(run.started), "finished": _iso(run.finished), "late": run.late, "reason": run.reason}


def table(assignment: Assignment) -> list[dict]:
    """One row per enrolled student, by username: ``{username, name, copy_id, grade, latest}``.

    ``copy_id`` is the student's copy's ID (None before they start), ``grade`` as :func:`grade`, ``latest``
    their latest non-trial run in any state (None if none). A fixed number of queries, whatever the class size.
    """
    members = (CourseMember.objects.filter(course_id=assignment.course_id, role=CourseMember.Role.STUDENT)
               .select_related("user").order_by("user__username"))
    copies = dict(assignment.copies.values_list("owner_id", "id"))
    graded: dict[int, list[CheckRun]] = {}
    for run in _graded_runs(assignment).defer("results"):
        graded.setdefault(run.user_id, []).append(run)
    latest: dict[int, CheckRun] = {}
    runs = CheckRun.objects.filter(assignment=assignment, trial=False).defer("results")
    for run in runs.order_by("user_id", "-started", "-id"):
        latest.setdefault(run.user_id, run)
    rows = []
    for member in members:
        user = member.user
        rows.append({"username": user.username, "name": user.get_full_name(), "copy_id": copies.get(user.pk),
                     "grade": _pick(assignment, graded.get(user.pk, [])), "latest": _summary(latest.get(user.pk))})
    return rows


def safe_cell(value) -> str:
    """A CSV cell a spreadsheet shows as text: one that would start a formula gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(assignment: Assignment) -> str:
    """The results table as CSV (a header row of :data:`CSV_COLUMNS`, then one row per student)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in table(assignment):
        g, last = row["grade"] or {}, row["latest"] or {}
        cells = (row["username"], row["name"], g.get("score"), g.get("max_score"),
                 _yes(g.get("late")), g.get("finished"), _yes(g.get("counted")),
                 last.get("score"), last.get("max_score"), last.get("state"), last.get("finished"), row["copy_id"])
        writer.writerow([safe_cell(c) for c in cells])
    return out.getvalue()


def _yes(flag) -> str:
    return "" if flag is None else ("yes" if flag else "no")
