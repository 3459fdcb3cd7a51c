"""One user's commands must not stall everyone: exec has a worker and a pool of its own, and caps per user.

Against the real lab worker and exec worker of the run (tests/conftest.py) and real containers, through
the REST API. User A runs ``sleep`` commands up to their cap, and more: the extras are answered 429
with a Retry-After at once. Meanwhile user B's ``echo`` answers in under a second, and B's destroy
takes less than twice an idle one (measured in the same test, before A's load). Before the exec worker,
A's commands took every thread of the lab worker: B's echo answered 504 and B's destroy waited for them.
"""
from __future__ import annotations

import json
import threading
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.test import Client

from tests.documents import reference_document
from topology import workers
from topology.models import ApiToken, Lab

API = "/api/v1"
SLEEP = 8  # seconds each of A's commands runs: long next to everything B does meanwhile


def client_of(user) -> Client:
    _, secret = ApiToken.issue(user, "exec-capacity")
    return Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {secret}")


def create(client: Client, document: dict, labs) -> int:
    response = client.post(f"{API}/topologies", json.dumps(document), content_type="application/json")
    assert response.status_code == 201, response.content
    labs.deployed.append(Lab.objects.get(topology_id=response.json()["id"]))  # torn down if the test fails
    return response.json()["id"]


def settle(client: Client, topology_id: int, timeout: float = 60) -> dict:
    """Poll the lab (often, for timing) until no operation runs; its last body."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"{API}/topologies/{topology_id}/lab").json()
        if body["state"] not in ("deploying", "destroying") and not body["busy"]:
            return body
        assert time.monotonic() < deadline, f"still {body['state']} after {timeout} s"
        time.sleep(0.01)


def operate(client: Client, topology_id: int, action: str) -> tuple[dict, float]:
    """Deploy or destroy through the API and wait for it: (the lab's body, seconds it took)."""
    started = time.monotonic()
    response = client.post(f"{API}/topologies/{topology_id}/{action}")
    assert response.status_code == 202, response.content
    body = settle(client, topology_id)
    return body, time.monotonic() - started


def run(client: Client, topology_id: int, node: str, argv: list[str], timeout: float = 30):
    return client.post(f"{API}/topologies/{topology_id}/nodes/{node}/exec",
                       json.dumps({"argv": argv, "timeout": timeout}), content_type="application/json")


def test_one_users_commands_do_not_stall_another_users_commands_and_destroy(labs, owner):
    a, b = owner, get_user_model().objects.create_user("other-student", password=None)
    a_client, b_client = client_of(a), client_of(b)
    cap = settings.TOPOLAB_MAX_EXECS_PER_USER
    assert cap < settings.TOPOLAB_EXEC_CONCURRENCY  # so what refuses A below is A's cap, not the host's

    a_lab = create(a_client, {"format": "topolab/v1", "name": "a-lab", "nodes": [{"name": "h1"}, {"name": "h2"}]},
                   labs)
    b_lab = create(b_client, reference_document(), labs)
    assert operate(a_client, a_lab, "deploy")[0]["state"] == "running"
    # B's destroy with nothing else going on, done as it is done below: the yardstick (the slower of two,
    # since a destroy's time varies by a few tenths of a second from run to run on its own).
    idle = []
    for _ in range(2):
        assert operate(b_client, b_lab, "deploy")[0]["state"] == "running"
        assert run(b_client, b_lab, "c1", ["echo", "quiet"]).status_code == 200
        body, took = operate(b_client, b_lab, "destroy")
        assert body["state"] == "stopped", body["reason"]
        idle.append(took)
    idle_destroy = max(idle)
    assert operate(b_client, b_lab, "deploy")[0]["state"] == "running"

    # A starts their cap's worth of long commands, and two more, all at once (two nodes of one lab).
    answers: list[tuple[int, dict, str, float]] = []

    def a_runs(node: str) -> None:
        try:
            client = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=a_client.defaults["HTTP_AUTHORIZATION"])
            started = time.monotonic()
            response = run(client, a_lab, node, ["sleep", str(SLEEP)])
            answers.append((response.status_code, response.json(), response.get("Retry-After", ""),
                            time.monotonic() - started))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=a_runs, args=(("h1", "h2")[i % 2],)) for i in range(cap + 2)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    deadline = started + 5
    while len(answers) < 2 or workers.exec_slots_in_use(user=a.pk) < cap:
        assert time.monotonic() < deadline, f"A's commands: {answers}, slots {workers.exec_slots_in_use(user=a.pk)}"
        time.sleep(0.02)
    refused = [answer for answer in answers if answer[0] == 429]
    assert len(refused) == 2, answers
    for _, body, retry_after, took in refused:
        assert body == {"detail": f"you already run {cap} commands; wait for one to end"}
        assert 1 <= int(retry_after) <= workers.RETRY_AFTER_MAX and took < 1

    # Meanwhile B's command answers at once, and B's destroy takes no longer than when all was quiet.
    echo_started = time.monotonic()
    echo = run(b_client, b_lab, "c1", ["echo", "hello from b"])
    echo_took = time.monotonic() - echo_started
    assert echo.status_code == 200, echo.content
    assert echo.json()["output"] == "hello from b\n" and echo_took < 1, (echo.json(), echo_took)
    body, loaded_destroy = operate(b_client, b_lab, "destroy")
    assert body["state"] == "stopped", body["reason"]
    assert time.monotonic() - started < SLEEP, "A's commands ended before B was done: the test proves nothing"
    assert workers.exec_slots_in_use(user=a.pk) == cap
    # Not stalled behind A's commands: a destroy that waited for them would take the rest of their SLEEP s.
    # (A margin that large, and not a ratio: a loaded machine makes a destroy slower on its own.)
    assert loaded_destroy < idle_destroy + SLEEP / 2, f"destroy took {loaded_destroy:.2f} s, idle {idle_destroy:.2f} s"

    # A's commands ran to their end, and gave their slots back.
    for thread in threads:
        thread.join(SLEEP + 30)
    ran = [answer for answer in answers if answer[0] == 200]
    assert len(ran) == cap, answers
    for _, body, _, took in ran:
        assert body["exit_code"] == 0 and body["timed_out"] is False and took >= SLEEP
    assert workers.exec_slots_in_use(user=a.pk) == 0
    assert run(a_client, a_lab, "h1", ["true"]).status_code == 200
    assert operate(a_client, a_lab, "destroy")[0]["state"] == "stopped"
    labs.deployed.clear()
