"""``PATCH /api/v1/topologies/{id}/links/{end}``: the rules of a link change, without Docker or a worker.

The lab worker's side is replaced by a fake task that answers as :func:`topology.live.change_link` does; what
the kernel offers is put where the worker keeps it. The real path is tests/integration/test_live_links.py.
"""
from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.test import Client

from tests.celery_results import FakeResult
from topology import leases, links
from topology.engine import impair
from topology.models import Lab, LabNode, LabState, NodeStatus, Topology

API = "/api/v1"
NO_NETEM = {**impair.capabilities({"netem": False, "tbf": True, "nft_drop": True}), "probed": "", "kernel": "x",
            "missing": []}


def patch(client, topology, body, end="c1:eth0"):
    return client.patch(f"{API}/topologies/{topology.pk}/links/{end}", json.dumps(body) if not isinstance(body, bytes)
                        else body, content_type="application/json")


def errors(response) -> dict[str, str]:
    assert response.status_code == 400, response.content
    return {e["path"]: e["message"] for e in response.json()["errors"]}


def link0(topology) -> dict:
    return Topology.objects.get(pk=topology.pk).document["links"][0]


@pytest.fixture
def worker(monkeypatch, released):
    """The lab worker's change_link task: records what it was sent (and the document then) and answers."""
    sent: list = []
    state = {"answer": {"ok": True}}

    def apply_async(args, queue, expires):
        lab_id, operation, end = args
        assert leases.holder(lab_id) == operation  # the web tier took the lease for it
        sent.append({"args": args, "queue": queue, "document": Lab.objects.get(pk=lab_id).topology.document})
        leases.release(lab_id, operation)  # as the worker does once it is done
        answers = state["answer"]
        return FakeResult(answers.pop(0) if isinstance(answers, list) else answers)

    monkeypatch.setattr("topology.tasks.change_link.apply_async", apply_async)
    key = impair.capabilities_key(settings.TOPOLAB_SITE, settings.TOPOLAB_QUEUE)
    leases.client().set(key, json.dumps(NO_NETEM))
    yield sent, state
    leases.client().delete(key)


def make_running(topology) -> Lab:
    lab = topology.lab
    Lab.objects.filter(pk=lab.pk).update(state=LabState.RUNNING, operation="op1")
    for i, node in enumerate(("c1", "r1", "c2")):
        LabNode.objects.create(lab=lab, name=node, state=NodeStatus.RUNNING, container_id=f"{i:064x}")
    return lab


def test_a_stopped_lab_saves_the_change_without_a_worker(client, topology, worker):
    sent, _ = worker
    answer = patch(client, topology, {"state": "down", "impairment": {"delay_ms": 20, "duplicate_percent": 1}})
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"link": link0(topology), "applied": False}
    assert link0(topology)["state"] == "down" and link0(topology)["impairment"] == {"delay_ms": 20,
                                                                                     "duplicate_percent": 1}
    assert sent == [] and leases.holder(topology.lab.pk) is None  # saved for the next deploy, lease given back
    answer = patch(client, topology, {"impairment": None}, end="r1:eth0")  # the other end names the same link
    assert answer.status_code == 200 and "impairment" not in link0(topology)


def test_a_running_lab_is_changed_by_the_lab_worker_with_the_saved_link(client, topology, worker):
    sent, _ = worker
    lab = make_running(topology)
    answer = patch(client, topology, {"impairment": {"loss_percent": 5, "rate_kbit": 2000}})
    assert answer.status_code == 200, answer.content
    assert answer.json()["applied"] is True and answer.json()["link"]["impairment"] == {"loss_percent": 5,
                                                                                        "rate_kbit": 2000}
    (call,) = sent
    assert call["args"][0] == lab.pk and call["args"][2] == "c1:eth0" and call["queue"] == lab.queue
    assert call["document"]["links"][0]["impairment"] == {"loss_percent": 5, "rate_kbit": 2000}  # saved first
    assert link0(topology)["impairment"] == {"loss_percent": 5, "rate_kbit": 2000}


def test_what_this_kernel_cannot_do_is_refused_before_anything_changes(client, topology, worker):
    sent, _ = worker
    make_running(topology)
    before = link0(topology)
    found = errors(patch(client, topology, {"impairment": {"delay_ms": 20, "jitter_ms": 1, "corrupt_percent": 2}}))
    assert set(found) == {"impairment.delay_ms", "impairment.jitter_ms", "impairment.corrupt_percent"}
    assert "netem" in found["impairment.delay_ms"]
    assert sent == [] and link0(topology) == before and leases.holder(topology.lab.pk) is None


def test_a_change_breaking_the_format_names_its_paths(client, topology, worker):
    found = errors(patch(client, topology, {"state": "sideways", "impairment": {"loss_percent": 101}}))
    assert set(found) == {"state", "impairment.loss_percent"}
    assert set(errors(patch(client, topology, {"impairment": {"jitter_ms": 3}}))) == {"impairment"}
    assert set(errors(patch(client, topology, {"mtu": 1400}))) == {"mtu", ""}
    assert set(errors(patch(client, topology, b"{nope"))) == {""}
    assert set(errors(patch(client, topology, ["state"]))) == {""}


def test_another_users_topology_and_an_unknown_end_are_404(topology, bob, worker, client):
    other = Client()
    other.force_login(bob)
    assert patch(other, topology, {"state": "down"}).status_code == 404
    assert patch(client, topology, {"state": "down"}, end="c1:eth7").status_code == 404
    assert patch(client, topology, {"state": "down"}, end="c1").status_code == 404
    assert link0(topology).get("state", "up") == "up"


def test_a_busy_lab_is_409_and_nothing_changes(client, topology, worker):
    sent, _ = worker
    make_running(topology)
    assert leases.acquire(topology.lab.pk, "someone-else")
    assert patch(client, topology, {"state": "down"}).status_code == 409
    leases.release(topology.lab.pk, "someone-else")
    Lab.objects.filter(pk=topology.lab.pk).update(state=LabState.DEPLOYING)
    assert patch(client, topology, {"state": "down"}).status_code == 409
    assert sent == [] and link0(topology).get("state", "up") == "up"


def test_no_lab_worker_or_no_probe_is_503(client, topology, worker):
    lab = make_running(topology)
    leases.client().delete(impair.capabilities_key(settings.TOPOLAB_SITE, settings.TOPOLAB_QUEUE))
    assert patch(client, topology, {"state": "down"}).status_code == 503  # the worker never said what it can do
    Lab.objects.filter(pk=lab.pk).update(queue="nobody-consumes-this")
    answer = patch(client, topology, {"state": "down"})
    assert answer.status_code == 503 and "no lab worker" in answer.json()["detail"]
    assert link0(topology).get("state", "up") == "up"


def test_a_worker_that_fails_leaves_the_document_as_it_was(client, topology, worker):
    _, state = worker
    make_running(topology)
    state["answer"] = {"error": "failed", "detail": "cannot shape eth0: Operation not permitted"}
    answer = patch(client, topology, {"impairment": {"loss_percent": 5}})
    assert answer.status_code == 502 and "Operation not permitted" in answer.json()["detail"]
    assert "impairment" not in link0(topology)
    state["answer"] = {"error": "busy", "detail": "lab 1 is held by operation x"}
    assert patch(client, topology, {"state": "down"}).status_code == 409
    assert link0(topology).get("state", "up") == "up"


def test_a_change_that_failed_half_way_is_put_back_in_the_kernel_as_the_document_has_it(client, topology, worker):
    sent, state = worker
    make_running(topology)
    state["answer"] = [{"error": "failed", "detail": "cannot set eth0 down: No such device"}, {"ok": True}]
    answer = patch(client, topology, {"state": "down"})
    assert answer.status_code == 502
    assert "No such device" in answer.json()["detail"] and "as it was again" in answer.json()["detail"]
    # The lab worker was asked twice: with the change, then with the document as it was (to undo an end
    # it may have changed before the other failed).
    assert [m["document"]["links"][0].get("state", "up") for m in sent] == ["down", "up"]
    assert link0(topology).get("state", "up") == "up" and leases.holder(topology.lab.pk) is None
    state["answer"] = [{"error": "failed", "detail": "cannot set eth0 down"}, {"error": "failed", "detail": "gone"}]
    answer = patch(client, topology, {"state": "down"})
    assert answer.status_code == 502 and "undoing it in the lab's kernel failed too (gone)" in answer.json()["detail"]


def test_the_web_tier_waits_a_bounded_time(client, topology, worker):
    from celery.exceptions import TimeoutError as CeleryTimeout

    _, state = worker
    make_running(topology)
    state["answer"] = CeleryTimeout()
    assert patch(client, topology, {"state": "down"}).status_code == 504
    assert link0(topology).get("state", "up") == "up" and links.LINK_WAIT <= 60


def test_the_command_line_changes_a_link_the_same_way(topology, alice, worker):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("lab", "link", topology.name, "c1:eth0", "--down", "--loss", "5", "--rate", "100", "--user", "alice",
                 stdout=out)
    assert out.getvalue().strip() == ('c1:eth0 - r1:eth0: down, {"loss_percent": 5.0, "rate_kbit": 100}; '
                                      "saved (the lab is not running)")
    call_command("lab", "link", topology.name, "r1:eth0", "--up", "--clear", "--user", "alice", stdout=out)
    assert link0(topology)["state"] == "up" and "impairment" not in link0(topology)
    with pytest.raises(CommandError):
        call_command("lab", "link", topology.name, "c1:eth0", "--loss", "101", "--user", "alice", stdout=out,
                     stderr=StringIO())
