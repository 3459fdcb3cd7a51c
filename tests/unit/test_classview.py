"""The course grid (topology/classview.py): every status of a cell, its running nodes and grade, drafts, and a
query count that does not grow with the class."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.documents import reference_document
from topology import classview, services
from topology.models import Assignment, CheckRun, CourseMember, Lab, LabNode, LabState, NodeStatus, Topology


@pytest.fixture(autouse=True)
def _fast(fast_passwords, released):
    pass


def assignment(course, title, published=True, **fields) -> Assignment:
    return Assignment.objects.create(course=course, title=title, template=reference_document(),
                                     published=timezone.now() if published else None, **fields)


def copy(user, a: Assignment, state=LabState.STOPPED, running=(), reason="") -> Topology:
    """``user``'s copy of ``a``, its lab in ``state`` with the nodes named running (a test writes rows itself)."""
    document = {**reference_document(), "name": f"a{a.pk}-{user.username}"[:40]}
    topology = services.import_topology(user, document, assignment=a)
    Lab.objects.filter(topology=topology).update(state=state, reason=reason)
    for name in running:
        LabNode.objects.create(lab=topology.lab, name=name, state=NodeStatus.RUNNING, container_id="ab" * 32)
    return topology


def run(a, user, score, max_score=5, state=CheckRun.State.DONE, finished=None, trial=False) -> CheckRun:
    return CheckRun.objects.create(assignment=a, user=user, state=state, score=score, max_score=max_score, trial=trial,
                                   finished=finished or (timezone.now() if state != CheckRun.State.RUNNING else None))


def student(django_user_model, course, username, name="") -> object:
    first, _, last = name.partition(" ")
    user = django_user_model.objects.create_user(username, None, None, first_name=first, last_name=last)
    CourseMember.objects.create(course=course, user=user, role=CourseMember.Role.STUDENT)
    return user


def test_it_shows_every_status_of_a_cell(course, alice, django_user_model):
    statuses = ["editing", "deploying", "running", "degraded", "failed", "destroying"]
    assignments = [assignment(course, f"A{i}") for i in range(len(statuses) + 1)]
    for a, state in zip(assignments, [LabState.STOPPED, LabState.DEPLOYING, LabState.RUNNING, LabState.DEGRADED,
                                      LabState.FAILED, LabState.DESTROYING], strict=False):
        copy(alice, a, state, reason="c1: it broke" if state in (LabState.FAILED, LabState.DEGRADED) else "")
    grid = classview.grid(course)
    cells = grid["cells"]["alice"]
    assert [cells[str(a.pk)]["status"] for a in assignments] == statuses + ["not started"]
    last = cells[str(assignments[-1].pk)]
    assert last == {"status": "not started", "topology": None, "name": "", "reason": "", "nodes": [],
                    "checking": False, "grade": None}
    assert cells[str(assignments[4].pk)]["reason"] == "c1: it broke"
    assert cells[str(assignments[1].pk)]["reason"] == ""
    assert set(classview.STATUSES) == set(statuses + ["not started"])


def test_it_lists_students_assignments_and_drafts_and_no_instructor(course, alice, carol, django_user_model):
    student(django_user_model, course, "ben", "Ben Okafor")
    a1, a2 = assignment(course, "A1 static routes"), assignment(course, "A2 OSPF", published=False,
                                                                   due=timezone.now() + timedelta(days=2))
    grid = classview.grid(course)
    assert grid["course"] == {"id": course.pk, "name": "Networks 101"}
    assert grid["students"] == [{"username": "alice", "name": ""}, {"username": "ben", "name": "Ben Okafor"}]
    assert [(a["id"], a["title"], a["published"]) for a in grid["assignments"]] == [
        (a1.pk, "A1 static routes", True), (a2.pk, "A2 OSPF", False)]
    assert grid["assignments"][1]["due"] == a2.due.isoformat() and grid["assignments"][0]["due"] is None
    assert set(grid["cells"]) == {"alice", "ben"}  # carol teaches: no row
    assert all(set(row) == {str(a1.pk), str(a2.pk)} for row in grid["cells"].values())


def test_it_gives_a_running_labs_nodes_and_the_copy(course, alice):
    a = assignment(course, "A1")
    topology = copy(alice, a, LabState.RUNNING, running=("r1", "c1"))
    LabNode.objects.create(lab=topology.lab, name="c2", state=NodeStatus.EXITED)
    cell = classview.grid(course)["cells"]["alice"][str(a.pk)]
    assert cell["status"] == "running" and cell["topology"] == topology.pk and cell["name"] == topology.name
    assert cell["nodes"] == ["c1", "r1"]  # the exited one has no console


def test_it_shows_the_grade_as_grading_does_and_a_check_running(course, alice, carol):
    a = assignment(course, "A1", due=timezone.now() + timedelta(hours=1))
    copy(alice, a, LabState.RUNNING)
    assert classview.grid(course)["cells"]["alice"][str(a.pk)]["grade"] is None
    best = run(a, alice, 3)
    run(a, alice, 2)
    run(a, alice, 5, trial=True)  # an instructor's trial is no grade
    run(a, alice, 0, state=CheckRun.State.FAILED)
    cell = classview.grid(course)["cells"]["alice"][str(a.pk)]
    assert cell["grade"]["score"] == 3 and cell["grade"]["max_score"] == 5 and cell["grade"]["run"] == best.pk
    assert cell["grade"]["late"] is False and cell["grade"]["counted"] is True
    from topology import grading
    assert cell["grade"] == grading.grade(a, alice.pk)
    assert cell["checking"] is False
    run(a, alice, 0, state=CheckRun.State.RUNNING)
    assert classview.grid(course)["cells"]["alice"][str(a.pk)]["checking"] is True


def test_a_late_grade_is_marked_late(course, alice):
    a = assignment(course, "A1", due=timezone.now() - timedelta(days=1))
    run(a, alice, 4)
    grade = classview.grid(course)["cells"]["alice"][str(a.pk)]["grade"]
    assert grade["late"] is True and grade["counted"] is False and grade["score"] == 4


def test_one_cell_is_the_grids_cell(course, alice, django_user_model):
    ben = student(django_user_model, course, "ben")
    a1, a2 = assignment(course, "A1"), assignment(course, "A2")
    copy(alice, a1, LabState.RUNNING, running=("c1",))
    copy(ben, a2, LabState.FAILED, reason="no")
    run(a1, alice, 1)
    grid = classview.grid(course)
    for user in (alice, ben):
        for a in (a1, a2):
            assert classview.cell(course, user.pk, a.pk) == grid["cells"][user.username][str(a.pk)]
            assert classview.cell(course.pk, user.pk, a.pk) == grid["cells"][user.username][str(a.pk)]
    other = Assignment.objects.create(course=type(course).objects.create(name="Other", slug="other", join_code="X"),
                                      title="B1", template=reference_document())
    assert classview.cell(course, alice.pk, other.pk) is None  # not this course's


def test_a_copy_of_another_courses_assignment_is_not_in_the_grid(course, alice):
    other = type(course).objects.create(name="Other", slug="other", join_code="OTHER")
    CourseMember.objects.create(course=other, user=alice, role=CourseMember.Role.STUDENT)
    foreign = assignment(other, "B1")
    mine = assignment(course, "A1")
    copy(alice, foreign, LabState.RUNNING)
    assert classview.grid(course)["cells"]["alice"] == {str(mine.pk): classview.cell(course, alice.pk, mine.pk)}
    assert classview.grid(course)["cells"]["alice"][str(mine.pk)]["status"] == "not started"


def _class(course, django_user_model, students: int, assignments: int, prefix: str) -> None:
    tasks = [assignment(course, f"{prefix}{i}") for i in range(assignments)]
    for s in range(students):
        user = student(django_user_model, course, f"{prefix}{s:02d}")
        for i, a in enumerate(tasks):
            if (s + i) % 3 == 0:
                continue  # not started
            copy(user, a, LabState.RUNNING if (s + i) % 3 == 1 else LabState.STOPPED, running=("c1", "r1"))
            run(a, user, (s + i) % 5)
            run(a, user, 1, state=CheckRun.State.RUNNING)


def test_it_costs_a_few_queries_whatever_the_class_size(course, django_user_model, django_assert_max_num_queries,
                                                         django_assert_num_queries):
    _class(course, django_user_model, students=3, assignments=2, prefix="s")
    with django_assert_num_queries(5) as small:
        grid = classview.grid(course)
    assert len(grid["cells"]) == 4
    CourseMember.objects.filter(course=course).exclude(role=CourseMember.Role.INSTRUCTOR).delete()
    Assignment.objects.filter(course=course).delete()
    _class(course, django_user_model, students=60, assignments=10, prefix="b")
    with django_assert_max_num_queries(5) as big:
        grid = classview.grid(course)
    assert len(grid["students"]) == 60 and sum(len(row) for row in grid["cells"].values()) == 600
    assert len(big.captured_queries) == len(small.captured_queries)
    statuses = {c["status"] for row in grid["cells"].values() for c in row.values()}
    assert statuses == {"not started", "running", "editing"}
    assert all(c["grade"] for row in grid["cells"].values() for c in row.values() if c["status"] != "not started")
