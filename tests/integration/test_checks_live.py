"""Assignment checks against a real lab: the reference lab deployed as a student's copy by the real lab
worker, its checks run by the real exec worker in the real containers, through the REST API.

The checks "c1 pings c2" (exit0) and "c1 has a route via r1" (match) pass on the correct lab and fail on
one whose c1 has no default route; a check that sleeps past its timeout fails as timed out; every run's
results are stored; the grade follows the best run. The student is never shown the answer key (commands,
nodes, patterns); a trial's checks travel in its row. The labs are destroyed after.
"""
from __future__ import annotations

import json
import time

from django.test import Client
from django.utils import timezone

from tests.classroom import make_instructor
from tests.documents import reference_document
from topology import courses
from topology.models import ApiToken, Assignment, CheckRun, CourseMember, Topology

API = "/api/v1"
CHECKS = [
    {"node": "c1", "argv": ["ping", "-c1", "-W2", "192.168.11.2"], "expect": "exit0", "description": "c1 pings c2"},
    {"node": "c1", "argv": ["ip", "route"], "expect": "match", "pattern": r"^default via 192\.168\.10\.1\b",
     "description": "c1 has a route via r1", "points": 2},
    {"node": "c2", "argv": ["sleep", "30"], "expect": "exit0", "description": "c2 sleeps too long", "timeout": 2,
     "points": 0, "hidden": True},
]


def client_of(user) -> Client:
    _, secret = ApiToken.issue(user, "checks-live")
    return Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {secret}")


def broken() -> dict:
    """The reference lab without c1's default route: c1 reaches r1 but not c2."""
    document = reference_document()
    del document["nodes"][0]["routes"]
    return document


def test_checks_pass_on_the_correct_lab_and_fail_on_a_broken_one(labs, owner, django_user_model):
    teacher = make_instructor(django_user_model.objects.create_user("teacher", password=None))
    course = courses.create_course(teacher, "Networks live")
    CourseMember.objects.create(course=course, user=owner, role=CourseMember.Role.STUDENT)
    assignment = Assignment.objects.create(course=course, title="Static routes", template=reference_document(),
                                           checks=CHECKS, created_by=teacher, published=timezone.now())
    student = client_of(owner)

    lab = labs.deploy(reference_document())
    assert lab.state == "running", lab.reason
    Topology.objects.filter(pk=lab.topology_id).update(assignment=assignment)  # the student's copy

    started = time.monotonic()
    response = student.post(f"{API}/topologies/{lab.topology_id}/checks")
    took = time.monotonic() - started
    assert response.status_code == 200, response.content
    good = response.json()
    assert good["state"] == "done", good
    ping, route, sleep = good["results"]
    assert ping["passed"] and ping["exit_code"] == 0 and "1 received" in ping["seen"], ping
    assert route["passed"] and "default via 192.168.10.1" in route["seen"], route  # the lab's own output
    assert route["seen"].startswith("exit status 0; the output matched the expected pattern"), route
    for secret in (r"192\\.168", '"argv"', '"node"', "sleep"):
        assert secret not in response.content.decode(), secret
    # The hidden check is masked for the student (not even whether it passed); it ran all the same.
    assert sleep == {"index": 2, "description": "hidden check", "hidden": True, "points": 0}
    assert took < 20, f"the checks took {took:.1f} s: the sleep was not ended at its timeout"
    assert good["score"] == 3 and good["max_score"] == 3 and good["trial"] is False

    stored = CheckRun.objects.get(pk=good["id"])
    assert stored.state == "done" and stored.finished and stored.score == 3
    timed_out = stored.results[2]
    assert timed_out["timed_out"] is True and timed_out["passed"] is False
    assert timed_out["seen"].startswith("timed out after 2 s"), timed_out
    # Its instructor sees the hidden check's details.
    full = client_of(teacher).get(f"{API}/topologies/{lab.topology_id}/checks").json()
    assert full["runs"][0]["results"][2]["timed_out"] is True

    lab = labs.destroy(lab)
    assert lab.state == "stopped"
    response = student.post(f"{API}/topologies/{lab.topology_id}/checks")
    assert response.status_code == 409 and "it is stopped" in response.json()["detail"]

    lab = labs.deploy(broken())  # the same copy (same name), now without c1's default route
    assert lab.state == "running", lab.reason
    assert Topology.objects.get(pk=lab.topology_id).assignment_id == assignment.pk
    response = student.post(f"{API}/topologies/{lab.topology_id}/checks")
    assert response.status_code == 200, response.content
    bad = response.json()
    assert bad["state"] == "done" and bad["score"] == 0 and bad["max_score"] == 3
    ping, route, _ = bad["results"]
    assert not ping["passed"] and ping["exit_code"] != 0, ping
    assert not route["passed"] and "the output did not match the expected pattern" in route["seen"], route

    listing = student.get(f"{API}/topologies/{lab.topology_id}/checks").json()
    assert [r["id"] for r in listing["runs"]] == [bad["id"], good["id"]]
    assert listing["grade"]["run"] == good["id"] and listing["grade"]["score"] == 3  # "best"
    labs.destroy(lab)
    assert CheckRun.objects.filter(assignment=assignment).count() == 2


def test_an_instructor_tries_checks_on_their_own_copy(labs, owner, django_user_model):
    make_instructor(owner)
    course = courses.create_course(owner, "Networks trial")  # the owner of the labs teaches this one
    assignment = Assignment.objects.create(course=course, title="Trial", template=reference_document(),
                                           checks=[], created_by=owner)
    lab = labs.deploy(reference_document())
    Topology.objects.filter(pk=lab.topology_id).update(assignment=assignment)
    trial = [{"node": "r1", "argv": ["sysctl", "-n", "net.ipv4.ip_forward"], "expect": "match", "pattern": r"^1$",
              "description": "r1 forwards"},
             {"node": "c2", "argv": ["cat", "/nonexistent"], "expect": "exit0", "description": "a missing file"}]
    response = client_of(owner).post(f"{API}/assignments/{assignment.pk}/checks/try", json.dumps({"checks": trial}),
                                     content_type="application/json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["trial"] is True and body["state"] == "done"
    assert [r["passed"] for r in body["results"]] == [True, False], body["results"]
    assert "No such file" in body["results"][1]["seen"]
    assert [c["description"] for c in CheckRun.objects.get(pk=body["id"]).checks] == ["r1 forwards", "a missing file"]
    assert Assignment.objects.get(pk=assignment.pk).checks == []
    labs.destroy(lab)


def test_a_probe_check_is_not_fooled_by_a_student_who_fakes_ping(labs, owner, django_user_model):
    """The same ping, in the node and "in" a probe: the student replaces ping in c1 with a script that
    prints a success and drops c1's default route; the node's check passes (fooled), the probe's fails."""
    import subprocess

    from django.conf import settings

    from topology.models import LabNode

    teacher = make_instructor(django_user_model.objects.create_user("teacher", password=None))
    course = courses.create_course(teacher, "Networks probes")
    CourseMember.objects.create(course=course, user=owner, role=CourseMember.Role.STUDENT)
    ping = ["ping", "-c1", "-W2", "192.168.11.2"]
    assignment = Assignment.objects.create(
        course=course, title="Probed", template=reference_document(), created_by=teacher, published=timezone.now(),
        checks=[{"node": "c1", "argv": ping, "expect": "exit0", "description": "in the node"},
                {"node": "c1", "argv": ping, "expect": "exit0", "description": "in a probe", "in": "probe"}])
    lab = labs.deploy(reference_document())
    assert lab.state == "running", lab.reason
    Topology.objects.filter(pk=lab.topology_id).update(assignment=assignment)
    student = client_of(owner)
    honest = student.post(f"{API}/topologies/{lab.topology_id}/checks").json()
    assert [r["passed"] for r in honest["results"]] == [True, True], honest

    c1 = LabNode.objects.get(lab=lab, name="c1").container_id
    fake = "#!/bin/sh\necho '1 packets transmitted, 1 received, 0% packet loss'\nexit 0\n"
    where = subprocess.run(["docker", "exec", c1, "sh", "-c", "command -v ping"], capture_output=True, text=True,
                           check=True).stdout.strip()
    subprocess.run(["docker", "exec", "-i", c1, "sh", "-c", f"cat > {where} && chmod 755 {where}"], input=fake,
                   text=True, check=True)
    subprocess.run(["docker", "exec", c1, "ip", "route", "del", "default"], check=True)
    cheated = student.post(f"{API}/topologies/{lab.topology_id}/checks").json()
    assert [r["passed"] for r in cheated["results"]] == [True, False], cheated
    probes = subprocess.run(["docker", "ps", "-aq", "--filter", "label=topolab.probe=1",
                             "--filter", f"label=topolab.site={settings.TOPOLAB_SITE}",
                             "--filter", f"label=topolab.lab={lab.pk}"],
                            capture_output=True, text=True, check=True).stdout.split()
    assert probes == [], "a probe outlived its run"
    labs.destroy(lab)
