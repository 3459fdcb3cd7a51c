"""``POST /api/v1/topologies/{id}/apply``: the rules of Apply changes, without Docker or a worker (the real path
is tests/integration/test_apply.py)."""
from __future__ import annotations

import copy
import json

import pytest

from tests.documents import reference_document
from topology import leases
from topology.models import Lab, LabEvent, LabNode, LabState, NodeStatus, Topology, UserLimits

API = "/api/v1"


def post(client, topology, document, dry_run=False):
    return client.post(f"{API}/topologies/{topology.pk}/apply" + ("?dry_run=true" if dry_run else ""),
                       json.dumps(document), content_type="application/json")


def with_c3() -> dict:
    document = reference_document()
    document["nodes"].append({"name": "c3"})
    document["links"].append({"endpoints": [{"node": "c3", "interface": "eth0", "addresses": ["192.168.12.2/24"]},
                                            {"node": "r1", "interface": "eth2", "addresses": ["192.168.12.1/24"]}]})
    return document


@pytest.fixture
def queued(monkeypatch, released):
    sent: list = []

    def apply_async(args, queue):
        lab_id, operation = args
        assert leases.holder(lab_id) == operation
        lab = Lab.objects.get(pk=lab_id)
        sent.append({"args": args, "state": lab.state, "applying": lab.applying_document})

    monkeypatch.setattr("topology.tasks.apply_changes.apply_async", apply_async)
    return sent


def make_running(topology) -> Lab:
    lab = topology.lab
    Lab.objects.filter(pk=lab.pk).update(state=LabState.RUNNING, operation="op1", running_document=topology.document)
    for i, node in enumerate(("c1", "r1", "c2")):
        LabNode.objects.create(lab=lab, name=node, state=NodeStatus.RUNNING, container_id=f"{i:064x}")
    return lab


def test_a_dry_run_says_what_would_change_and_changes_nothing(client, topology, queued):
    make_running(topology)
    answer = post(client, topology, with_c3(), dry_run=True)
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["changes"]["nodes_created"] == ["c3"] and body["changes"]["links_added"] == ["c3:eth0 - r1:eth2"]
    assert body["queued"] is False and body["nothing_to_do"] is False
    assert [p["phase"] for p in body["steps"]][:2] == ["create container", "start container"]
    assert Topology.objects.get(pk=topology.pk).document == reference_document() and queued == []


def test_an_apply_saves_the_document_and_queues_it_with_the_lab_busy_and_the_new_nodes_counted(
        client, topology, queued, django_capture_on_commit_callbacks):
    lab = make_running(topology)
    with django_capture_on_commit_callbacks(execute=True):
        answer = post(client, topology, with_c3())
    assert answer.status_code == 202, answer.content
    ((sent,),) = [queued]
    assert sent["state"] == LabState.DEPLOYING and [n["name"] for n in sent["applying"]["nodes"]][-1] == "c3"
    assert Topology.objects.get(pk=topology.pk).document["nodes"][-1]["name"] == "c3"
    assert LabNode.objects.get(lab=lab, name="c3").state == NodeStatus.PENDING
    assert LabEvent.objects.filter(lab=lab, operation=answer.json()["operation"], step="apply requested").exists()
    # Busy now: a second apply is refused.
    again = post(client, topology, reference_document())
    assert again.status_code == 409 and "busy" in again.json()["detail"]


def test_refusals_change_nothing(client, topology, queued, alice):
    stopped = post(client, topology, with_c3())
    assert stopped.status_code == 409 and "running lab" in stopped.json()["detail"]
    lab = make_running(topology)
    bad = copy.deepcopy(with_c3())
    bad["links"][-1]["endpoints"][0]["node"] = "nobody"
    invalid = post(client, topology, bad)
    assert invalid.status_code == 400 and invalid.json()["errors"][0]["path"].startswith("links[2].endpoints[0]")
    UserLimits.objects.create(user=alice, max_running_nodes=3)
    over = post(client, topology, with_c3())
    assert over.status_code == 429 and "running nodes" in over.json()["detail"]
    Lab.objects.filter(pk=lab.pk).update(running_document=None)
    old = post(client, topology, reference_document())
    assert old.status_code == 409 and "deploy it once" in old.json()["detail"]
    assert queued == [] and Topology.objects.get(pk=topology.pk).document == reference_document()
    assert not LabNode.objects.filter(lab=lab, name="c3").exists()


def test_nothing_to_change_queues_nothing(client, topology, queued):
    make_running(topology)
    answer = post(client, topology, reference_document())
    assert answer.status_code == 200 and answer.json()["nothing_to_do"] is True and queued == []
