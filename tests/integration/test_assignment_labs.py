"""Two students start the same assignment and deploy it at the same moment, through the API and the real
root worker: both labs reach running, each has its own r1, c1 and c2 (the same names, different containers),
c1 pings c2 in each, and after both are destroyed nothing is left.

    c1 (192.168.10.2/24) --eth0-- r1 --eth1-- c2 (192.168.11.2/24)
"""
from __future__ import annotations

import threading

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection

from tests.classroom import make_instructor
from tests.documents import reference_document
from tests.web import post, signed_in
from topology import assignments, courses, leases, services
from topology.engine import names
from topology.engine.docker_runtime import DockerRuntime
from topology.models import CourseMember, Lab
from topology.testing.labs import wait_for

pytestmark = pytest.mark.integration

API = "/api/v1"


def at_once(calls):
    """Run each call in a thread of its own, all released at the same instant; their answers in order."""
    barrier = threading.Barrier(len(calls))
    answers: list = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait(timeout=30)
            answers[i] = call()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            answers[i] = exc
        finally:
            connection.close()  # each thread has its own database connection

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return answers


@pytest.fixture
def classroom(transactional_db):
    """An instructor's course with two students and the reference lab as a published assignment."""
    User = get_user_model()
    teacher = make_instructor(User.objects.create_user("teacher", password=None))
    course = courses.create_course(teacher, "Routing lab")
    students = []
    for name in ("ann", "ben"):
        student = User.objects.create_user(name, password=None)
        CourseMember.objects.create(course=course, user=student, role=CourseMember.Role.STUDENT)
        students.append(student)
    assignment = assignments.create(teacher, course, {
        "title": "Router between two clients", "instructions": "Make **c1** reach c2.",
        "template": reference_document(),
        "checks": [{"node": "c1", "argv": ["ping", "-c1", "-W2", "192.168.11.2"], "expect": "exit0",
                    "description": "c1 reaches c2"}]})
    assignments.publish(assignment)
    return assignment, students


def test_two_students_deploy_the_same_assignment_at_once(lab_worker, classroom):
    assignment, students = classroom
    clients = [signed_in(s) for s in students]
    labs: list[Lab] = []
    try:
        started = [post(c, f"{API}/assignments/{assignment.pk}/start") for c in clients]
        assert [r.status_code for r in started] == [201, 201], [r.content for r in started]
        copies = [r.json()["topology"] for r in started]
        assert [c["name"] for c in copies] == ["router-between-two-clients"] * 2
        labs = [Lab.objects.get(topology_id=c["id"]) for c in copies]

        deploys = at_once([lambda c=c, t=t: post(c, f"{API}/topologies/{t['id']}/deploy")
                           for c, t in zip(clients, copies, strict=True)])
        for answer in deploys:
            assert not isinstance(answer, Exception), answer
            assert answer.status_code == 202, answer.content
        labs = [wait_for(lab, answer.json()["operation"], timeout=180) for lab, answer in zip(labs, deploys, strict=True)]
        for lab in labs:
            assert lab.state == "running", lab.reason
            assert sorted(lab.nodes.values_list("name", "state")) == [("c1", "running"), ("c2", "running"),
                                                                      ("r1", "running")]
        containers = [set(lab.nodes.values_list("container_id", flat=True)) for lab in labs]
        assert not containers[0] & containers[1] and all(len(c) == 3 for c in containers)

        for client, copy_ in zip(clients, copies, strict=True):
            ping = post(client, f"{API}/topologies/{copy_['id']}/nodes/c1/exec",
                        {"argv": ["ping", "-c", "1", "-W", "5", "192.168.11.2"], "timeout": 30})
            assert ping.status_code == 200, ping.content
            assert ping.json()["exit_code"] == 0 and "ttl=63" in ping.json()["output"], ping.json()
        # Neither sees the other's copy, though both have a topology of the same name.
        other = post(clients[0], f"{API}/topologies/{copies[1]['id']}/nodes/c1/exec", {"argv": ["true"]})
        assert other.status_code == 404

        destroys = [post(c, f"{API}/topologies/{t['id']}/destroy") for c, t in zip(clients, copies, strict=True)]
        assert [d.status_code for d in destroys] == [202, 202], [d.content for d in destroys]
        labs = [wait_for(lab, d.json()["operation"]) for lab, d in zip(labs, destroys, strict=True)]
        assert [lab.state for lab in labs] == ["stopped", "stopped"]
        runtime = DockerRuntime()
        for lab in labs:
            assert runtime.list(names.lab_filter(settings.TOPOLAB_SITE, lab.pk)) == []
    finally:
        for lab in labs:  # whatever a failure left running is destroyed (no_leftovers then checks the host)
            lab.refresh_from_db()
            if lab.state != "stopped" and not leases.is_held(lab.pk):
                wait_for(lab, services.request_destroy(lab))
