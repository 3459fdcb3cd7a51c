"""Grades from check runs: best (by score ratio) and last, the due date (late by when a run was asked for;
late runs shown, not counted), trials and failed runs ignored, ties, the results table and its CSV (safe
from formula injection)."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.documents import reference_document
from topology import grading
from topology.models import Assignment, CheckRun, CourseMember, Topology

NOW = timezone.now()


@pytest.fixture
def assignment(course, carol):
    return Assignment.objects.create(course=course, title="Static routes", template=reference_document(),
                                     checks=[], created_by=carol, published=NOW)


def run(assignment, user, score, minutes, *, max_score=10, state=CheckRun.State.DONE, trial=False, took=0):
    """A run of ``user`` asked for ``minutes`` from now (negative: in the past) that finished ``took`` minutes later."""
    made = CheckRun.objects.create(assignment=assignment, user=user, score=score, max_score=max_score, state=state,
                                   trial=trial, finished=NOW + timedelta(minutes=minutes + took))
    CheckRun.objects.filter(pk=made.pk).update(started=NOW + timedelta(minutes=minutes))  # auto_now_add sets it
    made.refresh_from_db()
    return made


def set_due(assignment, minutes, grading_by="best"):
    assignment.due = None if minutes is None else NOW + timedelta(minutes=minutes)
    assignment.grading = grading_by
    assignment.save()


def test_no_finished_run_no_grade(assignment, alice):
    assert grading.grade(assignment, alice.pk) is None
    run(assignment, alice, 5, -3, state=CheckRun.State.RUNNING)
    run(assignment, alice, 0, -2, state=CheckRun.State.FAILED)
    run(assignment, alice, 9, -1, trial=True)
    assert grading.grade(assignment, alice.pk) is None


def test_best_is_the_highest_score_and_the_earliest_of_ties(assignment, alice):
    set_due(assignment, None)
    first = run(assignment, alice, 7, -30)
    run(assignment, alice, 3, -20)
    run(assignment, alice, 7, -10)
    g = grading.grade(assignment, alice.pk)
    assert g == {"score": 7, "max_score": 10, "late": False, "run": first.pk,
                 "finished": first.finished.isoformat(), "counted": True}


def test_best_compares_score_ratios_since_checks_may_have_been_edited(assignment, alice):
    set_due(assignment, None)
    run(assignment, alice, 6, -30, max_score=10)  # 60 %
    better = run(assignment, alice, 4, -20, max_score=5)  # 80 %, a lower raw score out of fewer points
    run(assignment, alice, 8, -10, max_score=10)  # 80 % again, later: a tie goes to the earliest
    run(assignment, alice, 0, -5, max_score=0)  # out of nothing: 0
    g = grading.grade(assignment, alice.pk)
    assert g["run"] == better.pk and (g["score"], g["max_score"]) == (4, 5)


def test_lateness_is_by_when_the_run_was_asked_for(assignment, alice):
    set_due(assignment, -10)
    clicked_in_time = run(assignment, alice, 5, -11, took=2)  # asked before the due date, finished after it
    run(assignment, alice, 9, -9, took=0)  # asked after it
    g = grading.grade(assignment, alice.pk)
    assert g["run"] == clicked_in_time.pk and g["counted"] and not g["late"]
    set_due(assignment, -10, "last")
    assert grading.grade(assignment, alice.pk)["run"] == clicked_in_time.pk


def test_best_ties_go_to_the_earliest_asked_for(assignment, alice):
    set_due(assignment, None)
    first = run(assignment, alice, 7, -30, took=25)  # asked first, finished last
    run(assignment, alice, 7, -20, took=1)
    assert grading.grade(assignment, alice.pk)["run"] == first.pk


def test_last_is_the_latest(assignment, alice):
    set_due(assignment, 60, "last")
    run(assignment, alice, 9, -30)
    latest = run(assignment, alice, 2, -10)
    assert grading.grade(assignment, alice.pk)["run"] == latest.pk


def test_after_the_due_date_late_runs_are_shown_but_do_not_count(assignment, alice):
    set_due(assignment, -15, "best")
    on_time = run(assignment, alice, 4, -30)
    run(assignment, alice, 10, -5)  # late: a better score, but after the due date
    g = grading.grade(assignment, alice.pk)
    assert g["run"] == on_time.pk and g["score"] == 4 and g["counted"] and not g["late"]
    set_due(assignment, -15, "last")
    assert grading.grade(assignment, alice.pk)["run"] == on_time.pk


def test_a_run_finished_exactly_at_the_due_date_counts(assignment, alice):
    set_due(assignment, -10)
    exact = run(assignment, alice, 3, -10)
    assert grading.grade(assignment, alice.pk)["run"] == exact.pk


def test_when_every_run_is_late_the_latest_is_shown_not_counted(assignment, alice):
    set_due(assignment, -60, "best")
    run(assignment, alice, 9, -30)
    latest = run(assignment, alice, 1, -5)
    g = grading.grade(assignment, alice.pk)
    assert g["run"] == latest.pk and g["late"] and g["counted"] is False


def test_trials_and_other_users_runs_are_not_grades(assignment, alice, bob, carol):
    set_due(assignment, None)
    mine = run(assignment, alice, 2, -30)
    run(assignment, carol, 10, -20, trial=True)
    run(assignment, alice, 10, -10, trial=True)
    run(assignment, bob, 10, -10)
    assert grading.grade(assignment, alice.pk)["run"] == mine.pk
    assert grading.grade(assignment, carol.pk) is None


def test_moving_the_due_date_regrades(assignment, alice):
    run(assignment, alice, 4, -30)
    late = run(assignment, alice, 8, -5)
    set_due(assignment, -15)
    assert grading.grade(assignment, alice.pk)["score"] == 4
    set_due(assignment, 0)
    assert grading.grade(assignment, alice.pk)["run"] == late.pk


@pytest.fixture
def dave(course, django_user_model):
    user = django_user_model.objects.create_user("dave", None, None, first_name="=HYPERLINK(\"http://x\")",
                                                 last_name="Dee")
    CourseMember.objects.create(course=course, user=user, role=CourseMember.Role.STUDENT)
    return user


def test_the_table_has_every_student_once(assignment, alice, dave, carol, bob):
    set_due(assignment, None)
    copy = Topology.objects.create(owner=alice, name="static-routes", assignment=assignment, document=reference_document())
    best = run(assignment, alice, 6, -30)
    running = CheckRun.objects.create(assignment=assignment, user=alice, topology=copy)
    run(assignment, carol, 10, -5, trial=True)
    rows = grading.table(assignment)
    assert [r["username"] for r in rows] == ["alice", "dave"]  # students only: not carol, not bob
    alice_row, dave_row = rows
    assert alice_row["copy_id"] == copy.pk and alice_row["grade"]["run"] == best.pk
    assert alice_row["latest"]["id"] == running.pk and alice_row["latest"]["state"] == "running"
    assert dave_row == {"username": "dave", "name": '=HYPERLINK("http://x") Dee', "copy_id": None, "grade": None,
                        "latest": None}


def test_csv_is_safe_from_formula_injection(assignment, alice, dave):
    alice.first_name, alice.last_name = "+Alice", "-Smith"
    alice.save()
    set_due(assignment, -15)
    run(assignment, alice, 5, -5)  # late only
    text = grading.csv_text(assignment)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(grading.CSV_COLUMNS)
    header = rows[0]
    alice_row, dave_row = (dict(zip(header, r, strict=True)) for r in rows[1:])
    assert alice_row["name"] == "'+Alice -Smith"
    assert dave_row["name"] == "'=HYPERLINK(\"http://x\") Dee"
    assert alice_row["score"] == "5" and alice_row["late"] == "yes" and alice_row["counted"] == "no"
    assert dave_row["score"] == "" and dave_row["copy"] == ""
    for cell in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert grading.safe_cell(cell) == "'" + cell
    assert grading.safe_cell("alice") == "alice" and grading.safe_cell(None) == "" and grading.safe_cell(3) == "3"
