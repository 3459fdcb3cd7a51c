"""``POST /api/v1/topologies/{id}/nodes/{node}/{action}``: the rules of stopping, starting and restarting a node,
without Docker or a worker.

The lab worker's side is a fake task answering as :func:`topology.node_ops.act` does. The real path is
tests/integration/test_node_restart.py.
"""
from __future__ import annotations

import pytest

from tests.celery_results import FakeResult
from topology import leases
from topology.models import Lab, LabEvent, LabNode, LabState, NodeStatus

API = "/api/v1"


def act(client, topology, node="r1", action="restart"):
    return client.post(f"{API}/topologies/{topology.pk}/nodes/{node}/{action}")


@pytest.fixture
def worker(monkeypatch, released):
    """The lab worker's node_action task: records what it was sent (and who held the lease) and answers."""
    sent: list = []
    state = {"answer": {"ok": True, "node": "r1", "action": "restart", "state": "running", "elapsed_ms": 812}}

    def apply_async(args, queue, expires):
        lab_id, operation, node, action = args
        assert leases.holder(lab_id) == operation  # the web tier took the lease for it
        assert Lab.objects.get(pk=lab_id).operation == operation  # ...and made it the lab's current one
        sent.append({"args": args, "queue": queue})
        leases.release(lab_id, operation)  # as the worker does once it is done
        return FakeResult(state["answer"])

    monkeypatch.setattr("topology.tasks.node_action.apply_async", apply_async)
    yield sent, state


def make_running(topology, r1=NodeStatus.RUNNING) -> Lab:
    lab = topology.lab
    Lab.objects.filter(pk=lab.pk).update(state=LabState.RUNNING, operation="op1")
    for i, node in enumerate(("c1", "r1", "c2")):
        LabNode.objects.create(lab=lab, name=node, state=r1 if node == "r1" else NodeStatus.RUNNING,
                               container_id=f"{i:064x}")
    return lab


def test_a_restart_is_sent_to_the_lab_worker_under_the_labs_lease_and_answered(client, topology, worker):
    sent, _ = worker
    lab = make_running(topology)
    answer = act(client, topology)
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"node": "r1", "action": "restart", "state": "running", "elapsed_ms": 812}
    ((message,),) = [sent]
    assert message["args"][0] == lab.pk and message["args"][2:] == ["r1", "restart"] and message["queue"] == lab.queue
    operation = message["args"][1]
    assert LabEvent.objects.filter(lab=lab, operation=operation, step="restart r1").exists()
    lab.refresh_from_db()
    assert lab.state == LabState.RUNNING and lab.operation == operation  # its steps are the lab's log now


def test_what_does_not_fit_the_labs_or_the_nodes_state_is_refused_before_anything_is_sent(client, topology, worker):
    sent, _ = worker
    stopped = act(client, topology)
    assert stopped.status_code == 409 and "deploy it first" in stopped.json()["detail"]
    lab = make_running(topology)
    assert act(client, topology, action="start").status_code == 409  # it runs
    LabNode.objects.filter(lab=lab, name="r1").update(state=NodeStatus.STOPPED)
    refused = act(client, topology, action="stop")
    assert refused.status_code == 409 and "not running (it is stopped)" in refused.json()["detail"]
    Lab.objects.filter(pk=lab.pk).update(state=LabState.DEPLOYING)
    assert act(client, topology, action="start").status_code == 409
    Lab.objects.filter(pk=lab.pk).update(state=LabState.RUNNING)
    assert leases.acquire(lab.pk, "someone-else")
    busy = act(client, topology, action="start")
    assert busy.status_code == 409 and "another operation" in busy.json()["detail"]
    leases.release(lab.pk, "someone-else")
    assert sent == [] and Lab.objects.get(pk=lab.pk).operation == "op1"


def test_an_unknown_node_or_action_and_another_users_topology_are_404(client, topology, bob, worker):
    sent, _ = worker
    make_running(topology)
    assert act(client, topology, node="r9").status_code == 404
    assert act(client, topology, action="reboot").status_code == 404
    from django.test import Client

    other = Client()
    other.force_login(bob)
    assert act(other, topology).status_code == 404
    assert sent == []


def test_no_lab_worker_is_503_and_nothing_is_sent(client, topology, worker):
    sent, _ = worker
    lab = make_running(topology)
    Lab.objects.filter(pk=lab.pk).update(queue="nobody-consumes-this")
    answer = act(client, topology)
    assert answer.status_code == 503 and "no lab worker" in answer.json()["detail"]
    assert sent == [] and leases.holder(lab.pk) is None


def test_one_node_operation_at_a_time_per_user(client, topology, worker, alice):
    sent, _ = worker
    make_running(topology)
    assert leases.client().set(leases.user_mark_key(alice.pk, "node-operation"), "another", px=5000)
    answer = act(client, topology)
    assert answer.status_code == 429 and "in progress" in answer.json()["detail"]
    leases.client().delete(leases.user_mark_key(alice.pk, "node-operation"))
    assert act(client, topology).status_code == 200
    assert leases.client().get(leases.user_mark_key(alice.pk, "node-operation")) is None  # given back after
    assert len(sent) == 1


def test_a_failed_start_is_502_with_the_workers_reason(client, topology, worker):
    _, state = worker
    lab = make_running(topology, r1=NodeStatus.STOPPED)
    state["answer"] = {"error": "failed", "detail": "exec r1 (1 command) failed: 'false' exited with code 1"}
    answer = act(client, topology, action="start")
    assert answer.status_code == 502 and "exited with code 1" in answer.json()["detail"]
    state["answer"] = {"error": "busy", "detail": "another operation took the lab"}
    assert act(client, topology, action="start").status_code == 409
    assert leases.holder(lab.pk) is None


def test_the_command_line_does_the_same(topology, alice, worker):
    import io

    from django.core.management import call_command

    sent, _ = worker
    make_running(topology)
    out = io.StringIO()
    call_command("lab", "node", topology.name, "r1", "restart", "--user", alice.username, stdout=out)
    assert out.getvalue().strip() == "r1: running (restart took 812 ms)"
    assert sent[0]["args"][2:] == ["r1", "restart"]
