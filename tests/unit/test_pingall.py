"""Unit tests of "ping all": the plan of pings, the reading of ping's output, the caps, the API's refusals.

The pings themselves are faked here (``run_in_node`` replaced); tests/integration/test_pingall.py runs them
for real on the reference lab.

    c1 eth0 ---- eth0 r1 eth1 ---- eth0 c2
    192.168.10.2     (router)      192.168.11.2
"""
from __future__ import annotations

import copy
import threading
import time

import pytest
from celery.exceptions import TimeoutError as CeleryTimeout
from django.test import Client

from tests.celery_results import FakeResult
from tests.documents import reference_document
from topology import leases, pingall, tasks, workers
from topology.api import lab_tools
from topology.models import Lab, LabNode, LabState, NodeStatus

API = "/api/v1"


def iface(name, *addresses):
    return {"name": name, "mac": "02:00:00:00:00:01", "mtu": 1500, "state": "up", "addresses": list(addresses)}


REFERENCE_NODES = [("c1", [iface("eth0", "192.168.10.2/24")]),
                   ("r1", [iface("eth0", "192.168.10.1/24"), iface("eth1", "192.168.11.1/24")]),
                   ("c2", [iface("eth0", "192.168.11.2/24")])]


# -- the plan --------------------------------------------------------------------------------------------------
def test_it_pings_every_address_but_a_nodes_own_from_every_node_with_an_address():
    plan = pingall.plan(REFERENCE_NODES)
    assert plan.sources == ["c1", "r1", "c2"]
    assert [t.as_dict() for t in plan.targets] == [
        {"node": "c1", "interface": "eth0", "address": "192.168.10.2"},
        {"node": "r1", "interface": "eth0", "address": "192.168.10.1"},
        {"node": "r1", "interface": "eth1", "address": "192.168.11.1"},
        {"node": "c2", "interface": "eth0", "address": "192.168.11.2"}]
    assert [(s, t.address) for s, t in plan.pairs] == [
        ("c1", "192.168.10.1"), ("c1", "192.168.11.1"), ("c1", "192.168.11.2"),
        ("r1", "192.168.10.2"), ("r1", "192.168.11.2"),
        ("c2", "192.168.10.2"), ("c2", "192.168.10.1"), ("c2", "192.168.11.1")]


def test_it_leaves_out_nodes_without_addresses_link_local_and_loopback_and_keeps_ipv6():
    plan = pingall.plan([("sw", [iface("p1"), iface("p2")]),
                         ("h1", [iface("eth0", "10.0.0.1/24", "fd00::1/64", "fe80::1/64"), iface("lo", "127.0.0.1/8")]),
                         ("h2", [iface("eth0", "10.0.0.2/24", "fd00::2/64", "not an address")])])
    assert plan.sources == ["h1", "h2"]
    assert [t.address for t in plan.targets] == ["10.0.0.1", "fd00::1", "10.0.0.2", "fd00::2"]
    assert [(s, t.address) for s, t in plan.pairs] == [
        ("h1", "10.0.0.2"), ("h1", "fd00::2"), ("h2", "10.0.0.1"), ("h2", "fd00::1")]


def test_a_stopped_node_pings_nothing_but_is_still_pinged():
    plan = pingall.plan(REFERENCE_NODES, running={"c1", "r1"})
    assert plan.sources == ["c1", "r1"]
    assert "192.168.11.2" in [t.address for t in plan.targets]
    assert ("c1", "192.168.11.2") in [(s, t.address) for s, t in plan.pairs]


def test_an_address_on_two_nodes_is_one_column_and_neither_pings_it():
    plan = pingall.plan([("a", [iface("eth0", "10.0.0.1/24")]), ("b", [iface("eth0", "10.0.0.1/24")]),
                         ("c", [iface("eth0", "10.0.0.3/24")])])
    assert [t.as_dict() for t in plan.targets][0] == {"node": "a", "interface": "eth0", "address": "10.0.0.1"}
    assert len(plan.targets) == 2
    assert [(s, t.address) for s, t in plan.pairs] == [("a", "10.0.0.3"), ("b", "10.0.0.3"), ("c", "10.0.0.1")]


def test_it_refuses_a_matrix_past_its_caps_saying_how_big():
    many_nodes = [(f"n{i}", [iface("eth0", f"10.0.{i // 250}.{i % 250 + 1}/16")]) for i in range(65)]
    with pytest.raises(pingall.TooBig) as caught:
        pingall.plan(many_nodes)
    assert "65 nodes with addresses and 65 addresses" in str(caught.value)
    assert "at most 64 nodes to at most 256 addresses" in str(caught.value)
    pingall.plan(many_nodes[:64])  # exactly at the cap: fine

    many_addresses = [("a", [iface("eth0", *[f"10.1.{i // 250}.{i % 250 + 1}/16" for i in range(256)])]),
                      ("b", [iface("eth0", "10.2.0.1/16")])]
    with pytest.raises(pingall.TooBig) as caught:
        pingall.plan(many_addresses)
    assert "2 nodes with addresses and 257 addresses" in str(caught.value)


def test_it_pings_once_with_a_one_second_wait_and_numeric_output():
    v4, v6 = pingall.Target("c2", "eth0", "192.168.11.2"), pingall.Target("c2", "eth0", "fd00::2")
    assert pingall.argv_for(v4) == ["ping", "-c1", "-W1", "-n", "192.168.11.2"]
    assert pingall.argv_for(v6) == ["ping", "-6", "-c1", "-W1", "-n", "fd00::2"]


# -- reading ping's output -------------------------------------------------------------------------------------
IPUTILS_OK = """PING 192.168.11.2 (192.168.11.2) 56(84) bytes of data.
64 bytes from 192.168.11.2: icmp_seq=1 ttl=63 time=0.091 ms

--- 192.168.11.2 ping statistics ---
1 packets transmitted, 1 received, 0% packet loss, time 0ms
rtt min/avg/max/mdev = 0.091/0.091/0.091/0.000 ms
"""
IPUTILS_V6_OK = """PING fd00::2 (fd00::2) 56 data bytes
64 bytes from fd00::2: icmp_seq=1 ttl=64 time=1.25 ms

--- fd00::2 ping statistics ---
1 packets transmitted, 1 received, 0% packet loss, time 0ms
"""
BUSYBOX_OK = """PING 10.0.0.1 (10.0.0.1): 56 data bytes
64 bytes from 10.0.0.1: seq=0 ttl=64 time=12 ms
"""
NO_REPLY = """PING 192.168.11.2 (192.168.11.2) 56(84) bytes of data.

--- 192.168.11.2 ping statistics ---
1 packets transmitted, 0 received, 100% packet loss, time 0ms
"""
HOST_UNREACHABLE = """PING 192.168.10.9 (192.168.10.9) 56(84) bytes of data.
From 192.168.10.2 icmp_seq=1 Destination Host Unreachable

--- 192.168.10.9 ping statistics ---
1 packets transmitted, 0 received, +1 errors, 100% packet loss, time 0ms
"""
V6_UNREACHABLE = """PING fd00::9 (fd00::9) 56 data bytes
From fd00::1 icmp_seq=1 Destination unreachable: Address unreachable
"""


@pytest.mark.parametrize("answer,cell", [
    ({"exit_code": 0, "output": IPUTILS_OK}, {"ok": True, "rtt_ms": 0.091, "error": ""}),
    ({"exit_code": 0, "output": IPUTILS_V6_OK}, {"ok": True, "rtt_ms": 1.25, "error": ""}),
    ({"exit_code": 0, "output": BUSYBOX_OK}, {"ok": True, "rtt_ms": 12.0, "error": ""}),
    ({"exit_code": 0, "output": "64 bytes from 10.0.0.1: icmp_seq=1 ttl=64 time<1 ms\n"},
     {"ok": True, "rtt_ms": 1.0, "error": ""}),
    ({"exit_code": 0, "output": ""}, {"ok": True, "rtt_ms": None, "error": ""}),  # output lost: reached all the same
    ({"exit_code": 1, "output": NO_REPLY}, {"ok": False, "rtt_ms": None, "error": "no reply in 1 s"}),
    ({"exit_code": 1, "output": HOST_UNREACHABLE},
     {"ok": False, "rtt_ms": None, "error": "destination host unreachable (from 192.168.10.2)"}),
    ({"exit_code": 1, "output": V6_UNREACHABLE},
     {"ok": False, "rtt_ms": None, "error": "address unreachable (from fd00::1)"}),
    ({"exit_code": 2, "output": "ping: connect: Network is unreachable\n"},
     {"ok": False, "rtt_ms": None, "error": "Network is unreachable"}),
    ({"exit_code": 2, "output": "ping: sendmsg: Network is unreachable\n"},
     {"ok": False, "rtt_ms": None, "error": "Network is unreachable"}),
    ({"exit_code": 2, "output": "ping: fd00::9: Address family for hostname not supported\n"},
     {"ok": False, "rtt_ms": None, "error": "fd00::9: Address family for hostname not supported"}),
    ({"exit_code": 127, "output": "exec failed: ping not found\n"},
     {"ok": False, "rtt_ms": None, "error": "exec failed: ping not found"}),
    ({"exit_code": 124, "output": "", "timed_out": True},
     {"ok": False, "rtt_ms": None, "error": "the ping did not end in time"}),
    ({"error": "not_running", "detail": "'c1' is not running (the lab is degraded)"},
     {"ok": False, "rtt_ms": None, "error": "'c1' is not running (the lab is degraded)"}),
])
def test_it_reads_a_pings_answer(answer, cell):
    assert pingall.judge(answer) == cell


# -- a whole run, with the pings faked ----------------------------------------------------------------------------
@pytest.fixture
def threads_db(transactional_db):
    """A whole run's pool threads read the database on connections of their own, and close them: they must
    see committed rows, not the test's open transaction."""


@pytest.fixture
def lab(topology):
    """Alice's reference lab, looking deployed: running, its nodes with containers and their real addresses."""
    the_lab = topology.lab
    Lab.objects.filter(pk=the_lab.pk).update(state=LabState.RUNNING, operation="op1")
    for i, (name, interfaces) in enumerate(REFERENCE_NODES):
        LabNode.objects.create(lab=the_lab, name=name, state=NodeStatus.RUNNING, container_id=f"{i:064x}",
                               interfaces=interfaces)
    the_lab.refresh_from_db()
    return the_lab


class FakePings:
    """Stands for run_in_node: answers a reply unless (node, address) is in ``holes``; records every call."""

    def __init__(self, holes=(), delay=0.0):
        self.holes, self.delay, self.calls, self.lock = set(holes), delay, [], threading.Lock()
        self.running = self.most = 0

    def __call__(self, lab_id, node, argv, timeout):
        with self.lock:
            self.calls.append((node, argv[-1]))
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(self.delay)
            if (node, argv[-1]) in self.holes:
                return {"exit_code": 1, "output": NO_REPLY, "timed_out": False, "truncated": False}
            return {"exit_code": 0, "output": f"64 bytes from {argv[-1]}: icmp_seq=1 ttl=63 time=0.5 ms\n",
                    "timed_out": False, "truncated": False}
        finally:
            with self.lock:
                self.running -= 1


def test_it_answers_the_matrix_of_a_running_lab(threads_db, lab, monkeypatch):
    fake = FakePings(holes={("c1", "192.168.11.2")})
    monkeypatch.setattr(pingall, "run_in_node", fake)
    answer = pingall.ping_all(lab.pk)
    assert answer["sources"] == ["c1", "r1", "c2"]
    assert [t["address"] for t in answer["targets"]] == ["192.168.10.2", "192.168.10.1", "192.168.11.1", "192.168.11.2"]
    assert answer["results"]["c1"] == {
        "192.168.10.1": {"ok": True, "rtt_ms": 0.5, "error": ""},
        "192.168.11.1": {"ok": True, "rtt_ms": 0.5, "error": ""},
        "192.168.11.2": {"ok": False, "rtt_ms": None, "error": "no reply in 1 s, twice"}}
    assert set(answer["results"]["r1"]) == {"192.168.10.2", "192.168.11.2"}
    assert len(fake.calls) == 9 and isinstance(answer["took_ms"], int)  # the hole was asked twice
    assert fake.calls.count(("c1", "192.168.11.2")) == 2


def test_it_pings_at_most_sixteen_at_once(threads_db, topology, monkeypatch):
    the_lab = topology.lab
    Lab.objects.filter(pk=the_lab.pk).update(state=LabState.RUNNING)
    for i in range(8):
        LabNode.objects.create(lab=the_lab, name=f"h{i}", state=NodeStatus.RUNNING, container_id=f"{i:064x}",
                               interfaces=[iface("eth0", f"10.0.0.{i + 1}/24")])
    fake = FakePings(delay=0.05)
    monkeypatch.setattr(pingall, "run_in_node", fake)
    answer = pingall.ping_all(the_lab.pk)
    assert len(fake.calls) == 8 * 7 and fake.most == pingall.PARALLEL
    assert all(cell["ok"] for row in answer["results"].values() for cell in row.values())


def test_it_stops_at_its_deadline_and_says_which_pings_did_not_run(threads_db, lab, monkeypatch):
    monkeypatch.setattr(pingall, "PARALLEL", 1)
    fake = FakePings(delay=0.6)
    monkeypatch.setattr(pingall, "run_in_node", fake)
    started = time.monotonic()
    answer = pingall.ping_all(lab.pk, deadline=1)
    assert time.monotonic() - started < 2.5
    cells = [cell for row in answer["results"].values() for cell in row.values()]
    assert len(cells) == 8 and len(fake.calls) == 2
    assert [c["error"] for c in cells].count("not run: ping all reached its deadline") == 6


def test_it_asks_again_when_the_engine_lost_a_replys_output(threads_db, lab, monkeypatch):
    answers = iter([{"exit_code": 0, "output": "", "timed_out": False},
                    {"exit_code": 0, "output": "64 bytes from x: icmp_seq=1 ttl=63 time=0.7 ms", "timed_out": False}])
    monkeypatch.setattr(pingall, "run_in_node", lambda *a: next(answers))
    cell = pingall._ping(lab.pk, "c1", pingall.Target("r1", "eth0", "192.168.10.1"), time.monotonic() + 5)
    assert cell == {"ok": True, "rtt_ms": 0.7, "error": ""}


def test_a_ping_without_a_reply_is_sent_once_more_and_one_lost_packet_is_no_hole(threads_db, lab, monkeypatch):
    answers = iter([{"exit_code": 1, "output": NO_REPLY, "timed_out": False},
                    {"exit_code": 0, "output": IPUTILS_OK, "timed_out": False}])
    monkeypatch.setattr(pingall, "run_in_node", lambda *a: next(answers))
    cell = pingall._ping(lab.pk, "c1", pingall.Target("c2", "eth0", "192.168.11.2"), time.monotonic() + 5)
    assert cell == {"ok": True, "rtt_ms": 0.091, "error": ""}
    # Unreachable at once (no route) is not asked again; past the deadline, nothing is.
    calls = []
    monkeypatch.setattr(pingall, "run_in_node", lambda *a: calls.append(a) or {
        "exit_code": 2, "output": "ping: connect: Network is unreachable\n", "timed_out": False})
    pingall._ping(lab.pk, "c1", pingall.Target("c2", "eth0", "192.168.11.2"), time.monotonic() + 5)
    assert len(calls) == 1
    monkeypatch.setattr(pingall, "run_in_node", lambda *a: calls.append(a) or time.sleep(0.05) or {
        "exit_code": 1, "output": NO_REPLY, "timed_out": False})
    cell = pingall._ping(lab.pk, "c1", pingall.Target("c2", "eth0", "192.168.11.2"), time.monotonic() + 0.02)
    assert len(calls) == 2 and cell["error"] == "no reply in 1 s"


def test_it_refuses_a_lab_that_does_not_run_or_is_too_big(threads_db, lab, monkeypatch):
    monkeypatch.setattr(pingall, "run_in_node", FakePings())
    monkeypatch.setattr(pingall, "MAX_TARGETS", 3)
    answer = pingall.ping_all(lab.pk)
    assert answer["error"] == "too_big" and "4 addresses" in answer["detail"]
    Lab.objects.filter(pk=lab.pk).update(state=LabState.STOPPED)
    assert pingall.ping_all(lab.pk) == {"error": "not_running", "detail": "the lab is stopped; deploy it first"}
    assert pingall.ping_all(10 ** 9)["error"] == "not_running"


# -- the API ----------------------------------------------------------------------------------------------------
@pytest.fixture
def sent(monkeypatch, released):
    """The ping-all tasks sent, as (args, options); answers ``sent.answer`` (a FakeResult)."""
    class Sent(list):
        answer = FakeResult({"sources": [], "targets": [], "results": {}, "took_ms": 3})

    calls = Sent()

    def apply_async(args=None, **options):
        calls.append((args, options))
        return calls.answer
    monkeypatch.setattr(tasks.ping_all, "apply_async", apply_async)
    yield calls
    client = leases.client()
    for key in client.scan_iter("topolab:*:pingall:*"):
        client.delete(key)


def post(client, topology_id):
    return client.post(f"{API}/topologies/{topology_id}/ping-all")


def test_the_api_sends_it_to_the_exec_worker_and_answers_the_matrix(client, lab, sent):
    sent.answer = FakeResult({"sources": ["c1"], "targets": [{"node": "r1", "interface": "eth0", "address": "192.168.10.1"}],
                              "results": {"c1": {"192.168.10.1": {"ok": True, "rtt_ms": 0.2, "error": ""}}},
                              "took_ms": 40})
    response = post(client, lab.topology_id)
    assert response.status_code == 200, response.content
    assert response.json()["results"] == {"c1": {"192.168.10.1": {"ok": True, "rtt_ms": 0.2, "error": ""}}}
    [(args, options)] = sent
    assert args == [lab.pk, lab_tools.PING_ALL_DEADLINE]
    assert options["queue"] == workers.exec_queue(lab.queue)
    assert sent.answer.waited == lab_tools.PING_ALL_WAIT
    # Done: the user's mark and exec slot are given back.
    assert workers.exec_slots_in_use(user=lab.topology.owner_id) == 0
    assert post(client, lab.topology_id).status_code == 200


def test_the_api_answers_404_for_another_users_lab(bob, lab, sent):
    other = Client()
    other.force_login(bob)
    assert post(other, lab.topology_id).status_code == 404
    assert post(other, 10 ** 9).status_code == 404
    assert sent == []


def test_the_api_answers_409_when_the_lab_is_not_running(client, topology, sent):
    response = post(client, topology.pk)
    assert response.status_code == 409 and response.json() == {"detail": "the lab is stopped; deploy it first"}
    assert sent == []


def test_the_api_answers_409_with_the_workers_refusal(client, lab, sent):
    sent.answer = FakeResult({"error": "too_big", "detail": "this lab has 70 nodes with addresses"})
    response = post(client, lab.topology_id)
    assert response.status_code == 409 and response.json() == {"detail": "this lab has 70 nodes with addresses"}


def test_the_api_runs_one_ping_all_per_user_at_a_time(client, lab, sent, alice):
    leases.client().set(leases.user_mark_key(alice.pk, "ping-all"), "another request", px=10_000)
    response = post(client, lab.topology_id)
    assert response.status_code == 429 and response["Retry-After"] == "5"
    assert response.json() == {"detail": "a ping all of yours runs already; wait for it to end"}
    assert sent == []
    leases.client().delete(leases.user_mark_key(alice.pk, "ping-all"))
    assert post(client, lab.topology_id).status_code == 200


def test_the_api_counts_it_against_the_exec_caps(client, lab, sent, alice, settings):
    settings.TOPOLAB_MAX_EXECS_PER_USER = 1
    slot = workers.take_exec_slot(user=alice.pk, lab=lab.pk, queue=workers.exec_queue(lab.queue), seconds=10)
    try:
        response = post(client, lab.topology_id)
        assert response.status_code == 429 and "you already run 1 command" in response.json()["detail"]
        assert sent == []
        assert leases.client().get(leases.user_mark_key(alice.pk, "ping-all")) is None  # its mark was given back
    finally:
        slot.release()


def test_the_api_answers_503_without_an_exec_worker_and_504_without_an_answer(client, lab, sent):
    sent.answer = FakeResult(error=CeleryTimeout())
    response = post(client, lab.topology_id)
    assert response.status_code == 504 and "topology.ping_all" in response.json()["detail"]
    Lab.objects.filter(pk=lab.pk).update(queue="nowhere")
    response = post(client, lab.topology_id)
    assert response.status_code == 503 and "no exec worker (it runs commands in nodes) is running" in response.json()["detail"]
    assert len(sent) == 1


def test_a_copy_of_the_reference_document_is_what_these_tests_ping():
    # The addresses above are the reference lab's: if it changes, these tests must change with it.
    document = copy.deepcopy(reference_document())
    addresses = sorted(a for link in document["links"] for end in link["endpoints"] for a in end.get("addresses", []))
    assert addresses == sorted(a for _, ifaces in REFERENCE_NODES for i in ifaces for a in i["addresses"])
