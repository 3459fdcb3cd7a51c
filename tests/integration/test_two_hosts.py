"""Two lab hosts on one machine: the run's own (A: its lab worker, exec worker, relay and capture service) and a
second one (B: the same four, of its own queue and host identity), sharing the Docker Engine.

- placement by room: B, with less room, gets fewer labs; a lab that fits nowhere is refused, saying why;
- a drained host gets no new lab (its running labs stay), a pinned one gets the pinned user's labs;
- a console of a lab on B is served by B's relay (not A's), a command in its node runs on B's exec worker, a
  capture of its link on B's capture service;
- stopping B's lab worker makes its labs "host unreachable" (destroy: 503 naming B), and once B is back the
  destroy works; a lab an admin forgot while B was down is removed by B's gc when B is back, and A's lab,
  on the same engine, is untouched by it.
"""
from __future__ import annotations

import io
import json
import re
import time

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from tests.integration.test_console import Terminal
from tests.websockets import fresh_channel_layer, run  # noqa: F401 (autouse)
from topology import hostctl, hosts, placement, services
from topology.models import Lab, LabHost, LabState, UserLimits
from topology.testing.capture import CaptureProcess
from topology.testing.relay import RelayProcess
from topology.testing.worker import ExecWorkerProcess, WorkerProcess

API = "/api/v1"
B = f"{settings.TOPOLAB_QUEUE}-b"


def pair(name: str) -> dict:
    return {"format": "topolab/v1", "name": name, "nodes": [{"name": "a"}, {"name": "b"}],
            "links": [{"endpoints": [{"node": "a", "interface": "eth0"}, {"node": "b", "interface": "eth0"}]}]}


class HostB:
    """The second host's processes; its lab worker can be stopped, killed and started again."""

    def __init__(self, tmp):
        self.exec_worker = ExecWorkerProcess(B, tmp / "exec-b.log")
        self.worker = WorkerProcess(B, tmp / "worker-b.log", lab_queue=B)
        self.relay = RelayProcess(B, tmp / "relay-b.log")
        self.capture = CaptureProcess(B, tmp / "capture-b.log", "--idle", "3")

    def start(self):
        for process in (self.exec_worker, self.worker, self.relay, self.capture):
            process.start()

    def stop(self):
        for process in (self.capture, self.relay, self.worker, self.exec_worker):
            if process.process is not None and process.process.poll() is None:
                process.stop()


@pytest.fixture(scope="module")
def host_b(django_db_setup, django_db_blocker, tmp_path_factory):
    second = HostB(tmp_path_factory.mktemp("host-b"))
    second.start()
    yield second
    second.stop()
    with django_db_blocker.unblock():  # its row, made again by its worker after the last flush: the run has one host
        LabHost.objects.filter(queue=B).delete()


def registered(*queues, timeout: float = 20) -> dict[str, LabHost]:
    """The rows of ``queues`` once their workers have (re-)registered them and beat (a flush removes rows)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = {h.queue: h for h in LabHost.objects.filter(queue__in=queues)}
        if len(rows) == len(queues) and hosts.alive_queues(queues) == set(queues):
            return rows
        assert time.monotonic() < deadline, f"hosts not registered: {set(queues) - set(rows)}"
        time.sleep(0.2)


def wait_until(check, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@pytest.fixture
def roomy(owner):
    UserLimits.objects.create(user=owner, max_running_labs=20, max_running_nodes=200)


@pytest.fixture
def browser(owner):
    client = Client()
    client.force_login(owner)
    return client


def queue_of(lab: Lab) -> str:
    return Lab.objects.get(pk=lab.pk).queue


def execs(process) -> int:
    """How many commands in nodes the exec worker ``process`` took (Celery logs each one it receives)."""
    return len(re.findall(rb"topology\.exec_in_node\[[0-9a-f-]+\] received", process.logged()))


def test_placement_follows_room_drain_and_pins_and_a_labs_console_and_commands_reach_its_host(
        labs, owner, roomy, browser, relay, exec_worker, capture, host_b):
    a_queue = settings.TOPOLAB_QUEUE
    rows = registered(a_queue, B)
    assert rows[B].name == f"{a_queue[4:]}-b" and rows[B].cores >= 1 and rows[B].memory_mb > 0
    LabHost.objects.filter(queue=a_queue).update(max_nodes=4)  # room for two labs of two nodes
    LabHost.objects.filter(queue=B).update(max_nodes=2)        # room for one

    first, second, third = (labs.deploy(pair(f"p{i}")) for i in (1, 2, 3))
    assert [queue_of(lab) for lab in (first, second, third)] == [a_queue, a_queue, B]
    assert all(lab.state == LabState.RUNNING for lab in (first, second, third)), [lab.reason for lab in labs.deployed]
    fourth = services.import_topology(owner, pair("p4")).lab
    with pytest.raises(placement.NoRoom, match="no lab host can take this lab"):
        services.request_deploy(fourth)

    # The console of the lab on B: B's relay serves it, A's never hears of it.
    console = Terminal(third, "a", owner)

    async def type_in_it():
        await console.open()
        await console.type("echo on-$((40+2))\n")
        await console.read_until(rb"[\r\n]on-42\r\n")
        await console.leave()

    run(type_in_it)
    opened = f"open: lab {third.pk} node a".encode()
    assert opened in host_b.relay.logged() and opened not in relay.logged()

    # A command in its node: B's exec worker runs it, A's does not.
    before_a, before_b = execs(exec_worker), execs(host_b.exec_worker)
    answer = browser.post(f"{API}/topologies/{third.topology_id}/nodes/a/exec",
                          json.dumps({"argv": ["ping", "-c", "1", "-W", "2", "127.0.0.1"]}),
                          content_type="application/json")
    assert answer.status_code == 200 and answer.json()["exit_code"] == 0, answer.content
    assert execs(host_b.exec_worker) == before_b + 1 and execs(exec_worker) == before_a

    # A capture of its link: B's capture service runs it, A's never hears of it.
    started = browser.post(f"{API}/topologies/{third.topology_id}/captures",
                           json.dumps({"target": "a:eth0", "filter": ""}), content_type="application/json")
    assert started.status_code == 201, started.content
    capture_id = started.json()["id"]
    assert browser.delete(f"{API}/topologies/{third.topology_id}/captures/{capture_id}").status_code == 200
    assert f"capture {capture_id}: a:eth0".encode() in host_b.capture.logged()
    assert capture_id.encode() not in capture.logged()

    # Drained, B takes nothing new (its running lab stays): the lab it ran cannot go back there.
    labs.destroy(third)
    hostctl.set_drained(LabHost.objects.get(queue=B), True)
    with pytest.raises(placement.NoRoom) as refused:
        services.request_deploy(Lab.objects.get(pk=third.pk))
    assert f"'{rows[B].name}' (queue {B}): it is drained" in refused.value.message
    hostctl.set_drained(LabHost.objects.get(queue=B), False)

    # Pinned to B, the owner's lab goes there, though A would win the tie by name.
    labs.destroy(first)
    hostctl.pin(LabHost.objects.get(queue=B), user=owner.username)
    first = labs.deploy(pair("p1"))
    assert first.state == LabState.RUNNING and queue_of(first) == B


def test_a_stopped_hosts_labs_are_unreachable_destroyed_once_it_is_back_or_forgotten_and_swept(
        labs, owner, roomy, browser, host_b):
    a_queue = settings.TOPOLAB_QUEUE
    rows = registered(a_queue, B)
    on_a = labs.deploy(pair("on-a"))
    hostctl.pin(rows[B], user=owner.username)
    on_b = labs.deploy(pair("on-b"))
    assert (queue_of(on_a), queue_of(on_b)) == (a_queue, B) and on_b.state == LabState.RUNNING

    def lab_of(lab):
        return browser.get(f"{API}/topologies/{lab.topology_id}/lab").json()

    host_b.worker.stop()  # a clean stop: its heartbeat goes at once
    hosts._seen.clear()
    assert lab_of(on_b)["host_unreachable"] is True and lab_of(on_a)["host_unreachable"] is False
    refused = browser.post(f"{API}/topologies/{on_b.topology_id}/destroy")
    assert refused.status_code == 503 and f"host unreachable: '{rows[B].name}' (queue {B})" in refused.json()["detail"]

    host_b.worker.start()
    registered(B)
    hosts._seen.clear()
    assert lab_of(on_b)["host_unreachable"] is False  # it cleared itself
    on_b = labs.destroy(on_b)
    assert on_b.state == LabState.STOPPED and labs.containers(on_b) == []

    # Forgotten while B is dead: stopped at once; B's gc removes its containers when B is back, not A's.
    on_b = labs.deploy(pair("on-b"))
    assert on_b.state == LabState.RUNNING and queue_of(on_b) == B
    host_b.worker.kill()
    wait_until(lambda: not hosts.alive_queues([B]), "B's heartbeat never lapsed")
    out = io.StringIO()
    call_command("lab", "hosts", "forget", "on-b", "--user", owner.username, stdout=out)
    assert out.getvalue().strip() == "'on-b' forgotten: it is stopped"
    assert Lab.objects.get(pk=on_b.pk).state == LabState.STOPPED and len(labs.containers(on_b)) == 2  # still there
    a_containers = {c.id for c in labs.containers(on_a)}
    host_b.worker.start()
    wait_until(lambda: labs.containers(on_b) == [], "B's gc did not remove the forgotten lab's containers")
    assert {c.id for c in labs.containers(on_a) if c.state == "running"} == a_containers
    assert Lab.objects.get(pk=on_a.pk).state == LabState.RUNNING
