"""The lab worker's side of a live link change (:mod:`topology.live`), with the kernel and Docker replaced.

What goes into which namespace, in which order, what it answers, and that the ``link`` message is published
once the lab's lease is given back. The real kernel: tests/integration/test_live_links.py.
"""
from __future__ import annotations

import pytest

from topology import broadcast, leases, live
from topology.engine import netlink
from topology.models import Lab, LabEvent, LabNode, LabState, NodeStatus, Topology

PIDS = {"0" * 64: 100, "1" * 64: 101, "2" * 64: 102}  # c1, r1, c2's containers -> their PIDs


class FakeRuntime:
    def pid(self, container_id):
        return PIDS.get(container_id)


@pytest.fixture
def kernel(monkeypatch):
    calls: list = []
    monkeypatch.setattr(netlink, "impair", lambda pid, ifname, imp: calls.append(("impair", pid, ifname, imp)))
    monkeypatch.setattr(netlink, "set_state", lambda pid, ifname, up: calls.append(("state", pid, ifname, up)))
    monkeypatch.setattr(netlink, "add_addresses", lambda pid, ifname, a: calls.append(("addresses", pid, ifname, a)))
    monkeypatch.setattr(netlink, "add_route", lambda pid, to, via=None, dev=None, exist_ok=False: calls.append(
        ("route", pid, to, via, exist_ok)))
    monkeypatch.setattr(netlink, "interfaces_of", lambda pid: [{"name": "eth0", "pid": pid}])
    return calls


@pytest.fixture
def lab(topology, released):
    lab = topology.lab
    Lab.objects.filter(pk=lab.pk).update(state=LabState.RUNNING, operation="op1")
    for i, node in enumerate(("c1", "r1", "c2")):
        LabNode.objects.create(lab=lab, name=node, state=NodeStatus.RUNNING, container_id=str(i) * 64)
    return lab


@pytest.fixture
def published(monkeypatch):
    heard: list = []

    def publish_many(lab_id, messages):
        heard.append((list(messages), leases.holder(lab_id)))

    monkeypatch.setattr(broadcast, "publish_many", publish_many)
    return heard


def save_link(topology, **values):
    document = topology.document
    document["links"][0].update(values)
    Topology.objects.filter(pk=topology.pk).update(document=document)


def test_both_ends_get_the_saved_impairment_and_state_and_watchers_hear_it_after_the_lease(
        topology, lab, kernel, published):
    save_link(topology, state="down", impairment={"loss_percent": 5})
    assert leases.acquire(lab.pk, "change-1")
    answer = live.change_link(lab.pk, "change-1", "r1:eth0", runtime=FakeRuntime())
    assert answer == {"ok": True}
    assert [c[:3] for c in kernel] == [("impair", 101, "eth0"), ("state", 101, "eth0"), ("impair", 100, "eth0"),
                                       ("state", 100, "eth0")]
    assert kernel[0][3].loss_percent == 5 and kernel[1][3] is False
    ((messages, holder),) = published
    assert holder is None  # the lease was given back first
    assert messages[0] == {"type": "link", "end": "r1:eth0", "peer": "c1:eth0", "state": "down",
                           "impairment": {"loss_percent": 5}}
    # ...and the lab's log says what changed, as this operation's last step.
    assert [(e["step"], e["status"]) for e in messages[1]["events"]] == [
        ("link r1:eth0 - c1:eth0: down, loss 5 %", "ok")]
    assert LabEvent.objects.filter(lab=lab, operation="change-1", step__startswith="link r1:eth0").count() == 1
    assert LabNode.objects.get(lab=lab, name="c1").interfaces == [{"name": "eth0", "pid": 100}]


def test_up_again_gives_back_the_addresses_and_routes_the_kernel_dropped(topology, lab, kernel, published):
    assert leases.acquire(lab.pk, "change-2")
    assert live.change_link(lab.pk, "change-2", "c1:eth0", runtime=FakeRuntime()) == {"ok": True}
    assert ("addresses", 100, "eth0", ["192.168.10.2/24"]) in kernel
    assert ("addresses", 101, "eth0", ["192.168.10.1/24"]) in kernel
    assert ("route", 100, "0.0.0.0/0", "192.168.10.1", True) in kernel  # c1's default route, if it was dropped


def test_a_node_not_running_or_a_lost_lease_changes_nothing(topology, lab, kernel, published):
    LabNode.objects.filter(lab=lab, name="r1").update(container_id="9" * 64)
    assert leases.acquire(lab.pk, "change-3")
    assert live.change_link(lab.pk, "change-3", "c1:eth0", runtime=FakeRuntime())["error"] == "not_running"
    assert leases.acquire(lab.pk, "someone-else")
    assert live.change_link(lab.pk, "change-4", "c1:eth0", runtime=FakeRuntime())["error"] == "busy"
    assert live.change_link(lab.pk, "someone-else", "c9:eth0", runtime=FakeRuntime())["error"] == "no_link"
    assert kernel == []
    # What could not be done is in the lab's log, saying why; no link message.
    steps = [(e["step"], e["status"], e["message"]) for messages, _ in published for m in messages
             for e in m.get("events", [])]
    assert steps == [("link c1:eth0", "failed", "'r1' is not running"),
                     ("link c9:eth0", "failed", "the topology has no link at c9:eth0")]
    assert not [m for messages, _ in published for m in messages if m["type"] == "link"]


def test_a_kernel_failure_is_an_answer_not_a_crash(topology, lab, kernel, monkeypatch, published):
    def refuse(pid, ifname, imp):
        raise netlink.NetlinkStepError("cannot shape eth0: Operation not permitted (errno 1)")

    monkeypatch.setattr(netlink, "impair", refuse)
    assert leases.acquire(lab.pk, "change-5")
    answer = live.change_link(lab.pk, "change-5", "c1:eth0", runtime=FakeRuntime())
    assert answer == {"error": "failed", "detail": "cannot shape eth0: Operation not permitted (errno 1)"}
    assert leases.holder(lab.pk) is None
