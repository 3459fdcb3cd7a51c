"""The security matrix against a real lab: another student of the course, and another course's instructor,
try a student's running lab (exec, console, watch and take-over sockets, destroy, deploy); everything is
refused, nothing ran in the nodes, and the lab's containers (``docker ps`` by its label) are the very same
afterwards, still running since the same moment. The owner's own exec and console work (the controls).

    c1 eth0 ---- eth0 r1 eth1 ---- eth0 c2
"""
from __future__ import annotations

import json
import subprocess
import time

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from tests.classroom import make_instructor
from tests.documents import reference_document
from tests.web import post, signed_in
from tests.websockets import close_code, cookie_of, fresh_channel_layer, run, session_socket  # noqa: F401 (autouse)
from topology import courses
from topology.engine import names
from topology.models import Assignment, CourseMember, Lab, LabNode, Topology

pytestmark = pytest.mark.integration

API = "/api/v1"
FORBIDDEN = 4403
MARK = "/tmp/touched-by-someone-else"  # a path inside the lab's container, never the host's


def containers(lab: Lab) -> list[tuple[str, str, str, str]]:
    """``docker ps`` of the lab, by its label: (id, name, state, started at) of each container."""
    filters = [arg for label in names.lab_filter(settings.TOPOLAB_SITE, lab.pk) for arg in ("--filter", f"label={label}")]
    listed = subprocess.run(["docker", "ps", "-a", "--no-trunc", *filters, "--format", "{{.ID}}"],
                            capture_output=True, text=True, check=True).stdout.split()
    if not listed:
        return []
    inspected = subprocess.run(["docker", "inspect", "-f", "{{.Id}} {{.Name}} {{.State.Status}} {{.State.StartedAt}}",
                                *listed], capture_output=True, text=True, check=True).stdout
    return sorted(tuple(line.split()) for line in inspected.splitlines() if line.strip())


def login_shells(labs, lab: Lab, node: str) -> int:
    """How many login shells (a console's) run in a node."""
    code, out = labs.run(lab, node, "ps", "-eo", "args")
    assert code == 0, out
    return sum(1 for line in out.splitlines() if line.strip() in ("/bin/bash -l", "/bin/sh -l", "-bash", "-sh"))


async def console_status(path: str, session_cookie: str, while_open=None) -> tuple[dict, object]:
    """(the first status a console socket sends (the owner's: "open"), what ``while_open()`` answered while it
    was), then the socket is closed as a browser does."""
    ws = session_socket(path, session_cookie)
    connected, _ = await ws.connect(timeout=10)
    assert connected
    while True:
        message = await ws.receive_output(timeout=15)
        assert message["type"] != "websocket.close", message
        if message.get("text"):
            status = json.loads(message["text"])
            if status.get("type") == "status":
                seen = await sync_to_async(while_open)() if while_open else None
                await ws.disconnect(code=1000)
                return status, seen


@pytest.fixture
def classroom(owner):
    """Carol teaches a course whose students are ``owner`` and alice; dave teaches another (bob's)."""
    User = get_user_model()
    carol, dave, alice, bob = (User.objects.create_user(n) for n in ("carol", "dave", "alice", "bob"))
    for teacher in (carol, dave):
        make_instructor(teacher)
    course = courses.create_course(carol, "Networks 101")
    for student in (owner, alice):
        CourseMember.objects.create(course=course, user=student, role=CourseMember.Role.STUDENT)
    other = courses.create_course(dave, "Dave's course")
    CourseMember.objects.create(course=other, user=bob, role=CourseMember.Role.STUDENT)
    assignment = Assignment.objects.create(course=course, title="Lab 1", template=reference_document(),
                                           published=timezone.now(), created_by=carol)
    return {"course": course, "assignment": assignment, "peer": alice, "outsider": bob, "other-instructor": dave}


def test_nobody_else_gets_into_a_running_lab(labs, owner, classroom, relay):
    lab = labs.deploy(reference_document())
    assert lab.state == "running", lab.reason
    topology = lab.topology
    Topology.objects.filter(pk=topology.pk).update(assignment=classroom["assignment"])  # a student's copy
    t = topology.pk
    before = containers(lab)
    assert len(before) == 3 and all(state == "running" for _, _, state, _ in before), before
    rows_before = (list(Lab.objects.filter(pk=lab.pk).values()), list(LabNode.objects.filter(lab=lab).order_by("pk").values()))

    for who in ("peer", "outsider", "other-instructor"):
        intruder = classroom[who]
        c = signed_in(intruder)
        response = post(c, f"{API}/topologies/{t}/nodes/c1/exec", {"argv": ["touch", MARK]})
        assert response.status_code == 404, (who, response.status_code, response.content)
        assert post(c, f"{API}/topologies/{t}/destroy").status_code == 404, who
        assert post(c, f"{API}/topologies/{t}/deploy").status_code == 404, who
        assert c.get(f"{API}/topologies/{t}/lab").status_code == 404, who
        session = cookie_of(intruder)
        for query in ("", "?mode=watch", "?mode=control"):
            path = f"/ws/topologies/{t}/nodes/c1/console{query}"
            assert run(close_code, path, session) == FORBIDDEN, (who, path)
    anonymous = Client()
    assert post(anonymous, f"{API}/topologies/{t}/nodes/c1/exec", {"argv": ["touch", MARK]}).status_code == 401
    assert post(anonymous, f"{API}/topologies/{t}/destroy").status_code == 401

    time.sleep(2)  # a destroy that had been queued would have begun by now
    assert containers(lab) == before  # the same containers, running since the same moment
    assert (list(Lab.objects.filter(pk=lab.pk).values()),
            list(LabNode.objects.filter(lab=lab).order_by("pk").values())) == rows_before
    code, _ = labs.run(lab, "c1", "test", "-e", MARK)
    assert code == 1, "a refused exec ran in the node"
    assert login_shells(labs, lab, "c1") == 0, "a refused console started a shell"

    # The controls: the owner's own exec and console work on the same lab.
    mine = signed_in(owner)
    response = post(mine, f"{API}/topologies/{t}/nodes/c1/exec", {"argv": ["echo", "mine"]})
    assert response.status_code == 200 and response.json()["exit_code"] == 0, response.content
    assert "mine" in response.json()["output"]
    status, shells = run(console_status, f"/ws/topologies/{t}/nodes/c1/console?cols=80&rows=24", cookie_of(owner),
                         lambda: login_shells(labs, lab, "c1"))
    assert status["state"] == "open", status
    assert shells == 1, shells  # (so the count of none above means none was started)
    assert containers(lab) == before
