"""Slots for commands in nodes (topology/workers.py): caps per user, per lab and per host, in real Redis.

And the exec route that takes them: a 429 with Retry-After saying which cap was hit, slots given back
whatever the answer, the exec worker's own queue, and a 503 at once when no exec worker runs.
"""
from __future__ import annotations

import json
import time
import uuid

import pytest
from django.conf import settings
from django.test import Client

from tests.celery_results import FakeResult
from tests.deployed import make_running
from tests.documents import reference_document
from topology import leases, services, tasks, workers
from topology.models import Lab


@pytest.fixture
def caps(settings):
    """Small caps, each easy to reach on its own: 2 per user, 3 per lab, 4 per host."""
    settings.TOPOLAB_MAX_EXECS_PER_USER = 2
    settings.TOPOLAB_MAX_EXECS_PER_LAB = 3
    settings.TOPOLAB_EXEC_CONCURRENCY = 4
    return settings


@pytest.fixture
def host():
    """An exec queue of this test alone; its slot sets are removed after it."""
    queue = f"lab.unit-{uuid.uuid4().hex[:12]}.exec"
    yield queue
    client = leases.client()
    for key in client.scan_iter(f"topolab:{settings.TOPOLAB_SITE}:exec:*"):
        client.delete(key)


def take(user, lab, queue, seconds=30.0):
    return workers.take_exec_slot(user=user, lab=lab, queue=queue, seconds=seconds)


def test_it_caps_the_commands_of_one_user(caps, host):
    first, second = take(1, 10, host), take(1, 11, host)  # two labs: the user's cap, not a lab's
    with pytest.raises(workers.ExecCapReached) as refused:
        take(1, 12, host)
    assert refused.value.cap == "user" and refused.value.limit == 2
    assert refused.value.message == "you already run 2 commands; wait for one to end"
    assert 1 <= refused.value.retry_after <= workers.RETRY_AFTER_MAX
    assert workers.exec_slots_in_use(user=1) == 2 and workers.exec_slots_in_use(lab=12) == 0  # nothing taken
    take(2, 13, host).release()  # another user is not held up
    first.release()
    take(1, 12, host)
    second.release()


def test_it_caps_the_commands_in_one_lab(caps, host):
    for user in (1, 2, 3):
        take(user, 10, host)
    with pytest.raises(workers.ExecCapReached) as refused:
        take(4, 10, host)
    assert refused.value.cap == "lab" and refused.value.limit == 3
    assert refused.value.message == "3 commands already run in this lab; wait for one to end"
    take(4, 11, host)  # another lab is not held up


def test_it_caps_the_commands_of_the_host_at_the_exec_workers_pool(caps, host):
    for user in (1, 2, 3, 4):
        take(user, user, host)
    with pytest.raises(workers.ExecCapReached) as refused:
        take(5, 5, host)
    assert refused.value.cap == "pool" and refused.value.limit == 4 and "this host already runs 4" in str(refused.value)
    take(5, 5, host + "-other")  # another host's pool is its own
    assert workers.exec_slots_in_use(queue=host) == 4


def test_it_gives_a_slot_back_when_the_body_fails(caps, host):
    with pytest.raises(RuntimeError):
        with take(1, 10, host):
            assert workers.exec_slots_in_use(user=1) == 1
            raise RuntimeError("the worker crashed")
    assert workers.exec_slots_in_use(user=1) == workers.exec_slots_in_use(lab=10) == 0
    assert workers.exec_slots_in_use(queue=host) == 0


def test_a_slot_nobody_gives_back_lapses_and_leaves_no_key_behind(caps, host):
    take(1, 10, host, seconds=0.3)  # a web process that crashed before releasing it
    take(1, 11, host, seconds=0.3)
    with pytest.raises(workers.ExecCapReached) as refused:
        take(1, 12, host)
    assert refused.value.retry_after == 1  # the oldest lapses within the second
    time.sleep(0.4)
    assert workers.exec_slots_in_use(user=1) == 0
    take(1, 12, host, seconds=0.3).release()
    time.sleep(0.4)
    client = leases.client()
    left = [key for key in client.scan_iter(f"topolab:{settings.TOPOLAB_SITE}:exec:*") if client.exists(key)]
    assert left == []  # the sets expired too


def test_it_tells_to_come_back_in_a_few_seconds_at_most(caps, host):
    take(1, 10, host, seconds=300)
    take(1, 11, host, seconds=300)
    with pytest.raises(workers.ExecCapReached) as refused:
        take(1, 12, host)
    assert refused.value.retry_after == workers.RETRY_AFTER_MAX


def test_the_exec_queue_is_derived_from_the_lab_queue():
    assert workers.exec_queue("lab.host-1") == "lab.host-1.exec"


# -- the exec route ------------------------------------------------------------------------------------------------
API = "/api/v1"


@pytest.fixture
def running_lab(alice, released):
    yield make_running(services.import_topology(alice, reference_document()))
    client = leases.client()
    for key in client.scan_iter(f"topolab:{settings.TOPOLAB_SITE}:exec:*"):
        client.delete(key)


@pytest.fixture
def api(alice):
    c = Client()
    c.force_login(alice)
    return c


def exec_(api, lab, argv=("true",)):
    return api.post(f"{API}/topologies/{lab.topology_id}/nodes/c1/exec", json.dumps({"argv": list(argv)}),
                    content_type="application/json")


def test_the_route_answers_429_with_retry_after_and_which_cap(api, running_lab, caps, alice, monkeypatch):
    sent = []
    monkeypatch.setattr(tasks.exec_in_node, "apply_async",
                        lambda args=None, **options: sent.append(options) or FakeResult({"exit_code": 0, "output": ""}))
    # Two commands of alice's run (from other requests, other web processes): the third is refused.
    held = [take(alice.pk, running_lab.pk, workers.exec_queue(running_lab.queue)) for _ in range(2)]
    response = exec_(api, running_lab)
    assert response.status_code == 429
    assert response.json() == {"detail": "you already run 2 commands; wait for one to end"}
    assert 1 <= int(response["Retry-After"]) <= workers.RETRY_AFTER_MAX
    assert sent == []  # nothing queued
    held[0].release()
    assert exec_(api, running_lab).status_code == 200
    assert [options["queue"] for options in sent] == [workers.exec_queue(running_lab.queue)]
    assert workers.exec_slots_in_use(user=alice.pk) == 1  # its own slot given back, the held one still there


def test_the_route_holds_a_slot_while_the_command_runs_and_gives_it_back_whatever_the_answer(api, running_lab, alice,
                                                                                             monkeypatch):
    seen = []

    def during():
        seen.append(workers.exec_slots_in_use(user=alice.pk))

    for answer, status in ((FakeResult({"exit_code": 0, "output": ""}, during=during), 200),
                           (FakeResult({"error": "exec_failed", "detail": "no"}, during=during), 502),
                           (FakeResult(error=RuntimeError("the task crashed"), during=during), 502)):
        monkeypatch.setattr(tasks.exec_in_node, "apply_async", lambda answer=answer, **kw: answer)
        assert exec_(api, running_lab).status_code == status
        assert workers.exec_slots_in_use(user=alice.pk) == 0
        assert workers.exec_slots_in_use(lab=running_lab.pk) == 0
    assert seen == [1, 1, 1]


def test_the_route_answers_503_at_once_when_no_exec_worker_runs(api, running_lab, alice, monkeypatch):
    Lab.objects.filter(pk=running_lab.pk).update(queue=f"lab.unit-nobody-{uuid.uuid4().hex[:8]}")
    monkeypatch.setattr(tasks.exec_in_node, "apply_async", lambda **kw: pytest.fail("queued for nobody"))
    started = time.monotonic()
    response = exec_(api, running_lab)
    assert response.status_code == 503 and time.monotonic() - started < 1
    assert response.json()["detail"].startswith("no exec worker (it runs commands in nodes) is running for this host")
    assert workers.exec_slots_in_use(user=alice.pk) == 0


def test_the_schema_documents_429_with_its_header_and_503():
    schema = Client().get(f"{API}/openapi.json").json()
    answers = schema["paths"]["/api/v1/topologies/{topology_id}/nodes/{name}/exec"]["post"]["responses"]
    assert {"200", "400", "404", "409", "429", "502", "503", "504"} <= set(answers)
    assert "Retry-After" in answers["429"]["headers"]
    assert answers["429"]["content"]["application/json"]["schema"]  # the Detail shape, as ninja writes it
