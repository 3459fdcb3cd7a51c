"""A class through the API only, against the real lab worker, exec worker and relay.

An instructor (group "instructors") makes a course, enrols a student and
publishes an assignment whose template is the reference lab with two checks;
the student starts it, deploys their copy and runs "Check my work": both checks
pass. The student then breaks the lab (c1's default route goes, through the
exec route) and the same checks fail, saying what they saw. Meanwhile the
instructor watches the student's console: sees what the student types and
cannot type into it.

    c1 eth0 ---- eth0 r1 eth1 ---- eth0 c2
    192.168.10.2     (router)      192.168.11.2
"""
from __future__ import annotations

import json
import time

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.classroom import make_instructor
from tests.documents import reference_document
from tests.integration.test_console import Terminal
from tests.websockets import fresh_channel_layer, run  # noqa: F401 (autouse)
from topology.models import ApiToken, Lab

pytestmark = pytest.mark.integration

API = "/api/v1"
CHECKS = [
    {"node": "c1", "argv": ["ping", "-c1", "-W2", "192.168.11.2"], "expect": "exit0", "description": "c1 pings c2",
     "points": 2},
    {"node": "c1", "argv": ["ip", "route"], "expect": "match", "pattern": r"default via 192\.168\.10\.1",
     "description": "c1's default route goes through r1", "points": 1},
]


def api_client(user) -> Client:
    """A script's client: the user's bearer token, no session, CSRF enforced (a token needs none)."""
    _, secret = ApiToken.issue(user, "classroom-flow")
    return Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {secret}")


def post(client: Client, path: str, body=None, *codes: int) -> dict:
    response = client.post(f"{API}{path}", json.dumps(body) if body is not None else None,
                           content_type="application/json")
    assert response.status_code in (codes or (200, 201, 202)), (path, response.status_code, response.content[:800])
    return response.json() if response.content else {}


def wait_state(client: Client, topology_id: int, timeout: float = 180) -> dict:
    """Poll the lab until no operation runs; its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"{API}/topologies/{topology_id}/lab").json()
        if body["state"] not in ("deploying", "destroying") and not body.get("busy"):
            return body
        assert time.monotonic() < deadline, f"the lab is still {body['state']} after {timeout} s"
        time.sleep(0.2)


@pytest.fixture
def instructor(transactional_db):
    return make_instructor(get_user_model().objects.create_user("teacher", password="pw-teacher-1", first_name="Tess"))


@pytest.fixture
def published(instructor, owner) -> dict:
    """The course (with ``owner`` enrolled as a student) and its published assignment: their ids."""
    teacher = api_client(instructor)
    course = post(teacher, "/courses", {"name": "Networks 101"}, 201)["id"]
    post(teacher, f"/courses/{course}/students", {"username": owner.username}, 201)
    assignment = post(teacher, f"/courses/{course}/assignments", {
        "title": "Route between two clients", "instructions": "Make **c1** reach c2 through r1.",
        "template": reference_document(), "checks": CHECKS, "grading": "best"}, 200, 201)["id"]
    post(teacher, f"/assignments/{assignment}/publish", None, 200)
    return {"course": course, "assignment": assignment}


def test_checks_pass_on_a_correct_lab_and_fail_on_a_broken_one(labs, exec_worker, owner, published):
    student = api_client(owner)
    start = post(student, f"/assignments/{published['assignment']}/start", None, 201)
    assert start["created"] is True
    topology_id = start["topology"]["id"]
    assert post(student, f"/assignments/{published['assignment']}/start", None, 200)["topology"]["id"] == topology_id
    labs.deployed.append(Lab.objects.get(topology_id=topology_id))  # torn down by the fixture if we fail

    post(student, f"/topologies/{topology_id}/deploy", None, 202)
    assert wait_state(student, topology_id)["state"] == "running"

    good = post(student, f"/topologies/{topology_id}/checks", None, 200, 201)
    assert good["state"] == "done", good
    assert (good["score"], good["max_score"]) == (3, 3), good
    assert [r["passed"] for r in good["results"]] == [True, True]
    assert good["results"][0]["exit_code"] == 0 and "1 received" in good["results"][0]["seen"], good["results"][0]
    assert "192.168.10.1" in good["results"][1]["seen"]

    # Break it: c1 loses its default route (the student's own exec route, no shell).
    gone = post(student, f"/topologies/{topology_id}/nodes/c1/exec", {"argv": ["ip", "route", "del", "default"]}, 200)
    assert gone["exit_code"] == 0, gone
    bad = post(student, f"/topologies/{topology_id}/checks", None, 200, 201)
    assert bad["state"] == "done", bad
    assert (bad["score"], bad["max_score"]) == (0, 3), bad
    ping, route = bad["results"]
    assert not ping["passed"] and ping["exit_code"] != 0 and not ping["timed_out"], ping
    assert not route["passed"] and "192.168.10.1" not in route["seen"], route

    # Both runs are stored, the latest first, and the grade is the best of them.
    history = student.get(f"{API}/topologies/{topology_id}/checks").json()
    assert [r["score"] for r in history["runs"][:2]] == [0, 3], history
    assert history["grade"]["score"] == 3, history

    post(student, f"/topologies/{topology_id}/destroy", None, 202)
    assert wait_state(student, topology_id)["state"] == "stopped"


def test_a_watching_instructor_sees_the_students_console_and_cannot_type(labs, relay, owner, instructor, published):
    student = api_client(owner)
    topology_id = post(student, f"/assignments/{published['assignment']}/start", None, 201)["topology"]["id"]
    labs.deployed.append(Lab.objects.get(topology_id=topology_id))
    post(student, f"/topologies/{topology_id}/deploy", None, 202)
    assert wait_state(student, topology_id)["state"] == "running"
    lab = Lab.objects.get(topology_id=topology_id)

    mine = Terminal(lab, "c1", owner)
    watcher = Terminal(lab, "c1", instructor, query="cols=80&rows=24&mode=watch")

    async def body():
        await mine.open()
        await mine.read_until(rb"[#$] $")
        await watcher.open()
        told = await mine.next_status()
        assert told["state"] == "joined" and "watching" in told["message"], told
        since = len(watcher.output)
        await mine.type("echo watched-$((40+2))\r")
        await watcher.read_until(rb"watched-42", since=since)
        # The watcher types: nothing reaches the shell.
        await watcher.type("touch /tmp/typed-by-watcher; echo WATCHER-$((1+1))\r")
        await mine.type("echo still-$((2+3))\r")
        await mine.read_until(rb"still-5")
        await watcher.read_until(rb"still-5", since=since)
        assert b"WATCHER-2" not in mine.output and b"typed-by-watcher" not in mine.output
        await watcher.leave()
        await mine.leave()

    run(body)
    code, _ = labs.run(lab, "c1", "test", "-e", "/tmp/typed-by-watcher")
    assert code == 1, "the watcher's keystrokes reached the student's shell"
    post(student, f"/topologies/{topology_id}/destroy", None, 202)
    assert wait_state(student, topology_id)["state"] == "stopped"
