"""One node of a running lab stopped, started and restarted through the API and the CLI, the real lab worker,
Docker Engine and kernel.

    c1 (192.168.10.2/24) --eth0-- r1 --eth1-- c2 (192.168.11.2/24)
                         .10.1/24    .11.1/24

A restarted node keeps its container and comes back wired as before (same
interface names, MACs, addresses, routes, impairments and link states) while
its neighbours keep theirs; a node whose container was removed behind
Topolab's back gets a new one; a start that fails is undone and says why.
"""
from __future__ import annotations

import io
import json
import re
import time

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.management import call_command
from django.test import Client

from labsite.asgi import application
from tests.documents import reference_document
from tests.integration.test_live_events import session_headers, until
from tests.websockets import run
from topology.engine import netlink
from topology.models import ApiToken, Lab, LabEvent, Topology

API = "/api/v1"


def api(owner) -> Client:
    _, secret = ApiToken.issue(owner, "node restart")
    return Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {secret}")


def act(client: Client, topology_id: int, node: str, action: str):
    return client.post(f"{API}/topologies/{topology_id}/nodes/{node}/{action}")


def ping_ttl(labs, lab, node: str = "c1", target: str = "192.168.11.2") -> int | None:
    """The TTL of the answer to one ping from ``node`` to ``target``, or None without one."""
    code, out = labs.run(lab, node, "ping", "-n", "-c", "1", "-W", "1", target)
    found = re.search(r"ttl=(\d+)", out)
    return int(found.group(1)) if code == 0 and found else None


def first_ttl_within(labs, lab, seconds: float) -> tuple[int | None, float]:
    """Ping from c1 to c2 until an answer comes or ``seconds`` pass: (its TTL, when it came)."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        ttl = ping_ttl(labs, lab)
        if ttl is not None:
            return ttl, time.monotonic() - started
    return None, time.monotonic() - started


def kernel_view(lab: Lab, node: str) -> dict:
    """``{interface: (mac, mtu, state, sorted addresses)}`` as the node's namespace has them now."""
    pid = netlink_pid(lab, node)
    return {i["name"]: (i["mac"], i["mtu"], i["state"], sorted(i["addresses"])) for i in netlink.interfaces_of(pid)
            if i["name"] != "lo"}


def netlink_pid(lab: Lab, node: str) -> int:
    from topology.engine.docker_runtime import DockerRuntime

    pid = DockerRuntime().pid(lab.nodes.get(name=node).container_id)
    assert pid, f"{node} is not running"
    return pid


def routes_of(labs, lab, node: str) -> str:
    return labs.run(lab, node, "ip", "route")[1]


@pytest.fixture
def running(labs, owner):
    lab = labs.deploy(reference_document())
    assert lab.state == "running", lab.reason
    return Topology.objects.get(lab=lab), lab


def test_a_restarted_router_comes_back_wired_as_before_and_c1_reaches_c2_with_ttl_63_within_2_s(labs, owner, running):
    topology, lab = running
    client = api(owner)
    assert ping_ttl(labs, lab) == 63
    before = {node: kernel_view(lab, node) for node in ("c1", "r1", "c2")}
    routes_before = {node: routes_of(labs, lab, node) for node in ("c1", "r1", "c2")}
    containers = dict(lab.nodes.values_list("name", "container_id"))
    old_pid = netlink_pid(lab, "r1")
    ws = WebsocketCommunicator(application, f"/ws/topologies/{topology.pk}/", headers=session_headers(owner))

    async def scenario():
        connected, _ = await ws.connect()
        assert connected
        await ws.receive_json_from(timeout=10)  # the snapshot
        response = await sync_to_async(act)(client, topology.pk, "r1", "restart")
        assert response.status_code == 200, response.content
        ttl, after = await sync_to_async(first_ttl_within)(labs, lab, 2.0)
        assert ttl == 63, f"c1 did not reach c2 within 2 s of the restart's end ({after:.2f} s)"
        heard = await until(ws, lambda m: m["type"] == "node" and m["name"] == "r1" and m["state"] == "running", 10)
        await ws.disconnect()
        return response.json(), heard

    answer, heard = run(scenario)
    assert answer["node"] == "r1" and answer["action"] == "restart" and answer["state"] == "running"
    assert answer["elapsed_ms"] > 0
    r1_states = [m["state"] for m in heard if m["type"] == "node" and m["name"] == "r1"]
    assert r1_states[-2:] == ["stopped", "running"], heard
    # The same containers, r1's with a new main process; nothing else restarted.
    lab.refresh_from_db()
    assert dict(lab.nodes.values_list("name", "container_id")) == containers
    assert netlink_pid(lab, "r1") != old_pid
    assert lab.state == "running" and set(lab.nodes.values_list("state", flat=True)) == {"running"}
    # Same names, MACs, MTUs, states, addresses and routes on every node.
    assert {node: kernel_view(lab, node) for node in ("c1", "r1", "c2")} == before
    assert {node: routes_of(labs, lab, node) for node in ("c1", "r1", "c2")} == routes_before
    assert labs.run(lab, "r1", "cat", "/proc/sys/net/ipv4/ip_forward")[1].strip() == "1"
    # The lab's log is this operation's steps.
    steps = list(LabEvent.objects.filter(lab=lab, operation=lab.operation).values_list("step", "status"))
    assert ("restart r1", "info") in steps and ("stop r1", "ok") in steps and ("start r1", "ok") in steps
    assert ("link r1:eth0 - c1:eth0", "ok") in steps and steps[-1] == ("r1 restarted", "ok")


def test_a_stopped_node_cuts_its_links_until_it_starts_and_the_watcher_lets_it_be(labs, owner, running):
    topology, lab = running
    out = io.StringIO()
    call_command("lab", "node", topology.name, "r1", "stop", "--user", owner.username, stdout=out)
    assert out.getvalue().startswith("r1: stopped")
    lab.refresh_from_db()
    assert lab.nodes.get(name="r1").state == "stopped"
    assert ping_ttl(labs, lab) is None
    # c1 lost its end of the link at once (deleted with r1's, not left to the kernel's namespace clean-up).
    c1 = lab.nodes.get(name="c1")
    assert [i["name"] for i in c1.interfaces] == [] and "eth0" not in kernel_view(lab, "c1")
    time.sleep(1.5)  # the Docker watcher saw r1's container die: a stop on purpose is not a lost node
    lab.refresh_from_db()
    assert lab.state == "running" and lab.nodes.get(name="r1").state == "stopped", lab.reason

    client = api(owner)
    again = act(client, topology.pk, "r1", "stop")
    assert again.status_code == 409 and "not running" in again.json()["detail"]
    assert act(client, topology.pk, "r1", "reboot").status_code == 404
    assert act(client, topology.pk, "nope", "start").status_code == 404

    out = io.StringIO()
    call_command("lab", "node", topology.name, "r1", "start", "--user", owner.username, "--json", stdout=out)
    assert json.loads(out.getvalue())["state"] == "running"
    assert ping_ttl(labs, lab) == 63
    already = act(client, topology.pk, "r1", "start")
    assert already.status_code == 409 and "already running" in already.json()["detail"]


def test_impairments_and_down_links_come_back_with_a_restarted_node(labs, owner, running):
    from topology import links

    topology, lab = running
    links.change(topology, "c1:eth0", {"impairment": {"loss_percent": 100}})
    links.change(Topology.objects.get(pk=topology.pk), "c2:eth0", {"state": "down"})
    # The lab's running document has both live changes (what a restart wires), the rest as deployed.
    lab.refresh_from_db()
    running = {tuple(e["node"] for e in link["endpoints"]): link for link in lab.running_document["links"]}
    assert running[("c1", "r1")]["impairment"] == {"loss_percent": 100}
    assert running[("c2", "r1")]["state"] == "down" and "impairment" not in running[("c2", "r1")]
    assert act(api(owner), topology.pk, "r1", "restart").status_code == 200
    lab.refresh_from_db()
    view = kernel_view(lab, "r1")
    assert view["eth1"][2] == "down" and kernel_view(lab, "c2")["eth0"][2] == "down"
    code, out = labs.run(lab, "c1", "ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", "192.168.10.1")
    assert code != 0 and " 0 received" in out  # 100 % loss, both ends, again
    # The nftables loss table is on both ends of c1 - r1 again (r1's namespace is a new one).
    assert "eth0" in labs.run(lab, "r1", "nft", "list", "tables")[1]
    links.change(Topology.objects.get(pk=topology.pk), "c1:eth0", {"impairment": None})
    links.change(Topology.objects.get(pk=topology.pk), "c2:eth0", {"state": "up"})
    ttl, _ = first_ttl_within(labs, lab, 5.0)
    assert ttl == 63


def test_a_node_removed_behind_topolabs_back_is_started_in_a_new_container(labs, owner, running):
    topology, lab = running
    old = lab.nodes.get(name="c2").container_id
    labs.runtime.remove(old)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lab.refresh_from_db()
        if lab.state == "degraded":
            break
        time.sleep(0.1)
    assert lab.state == "degraded" and lab.nodes.get(name="c2").state == "gone"
    response = act(api(owner), topology.pk, "c2", "start")
    assert response.status_code == 200, response.content
    lab.refresh_from_db()
    new = lab.nodes.get(name="c2").container_id
    assert new and new != old
    assert lab.state == "running" and lab.reason == ""
    ttl, _ = first_ttl_within(labs, lab, 3.0)
    assert ttl == 63
    assert labs.run(lab, "c2", "ip", "route")[1].startswith("default via 192.168.11.1")


def test_a_start_that_fails_is_undone_says_why_and_can_be_tried_again(labs, owner):
    # r1's exec command fails once a file is in its container: its restart keeps the container, so it fails.
    document = reference_document()
    for node in document["nodes"]:
        if node["name"] == "r1":
            node["exec"] = ["test ! -e /etc/fail-next-start || { echo told to fail >&2; exit 3; }"]
    lab = labs.deploy(document)
    assert lab.state == "running", lab.reason
    topology = Topology.objects.get(lab=lab)
    assert labs.run(lab, "r1", "touch", "/etc/fail-next-start")[0] == 0
    response = act(api(owner), topology.pk, "r1", "restart")
    assert response.status_code == 502
    detail = response.json()["detail"]
    assert "exec r1" in detail and "exited with code 3" in detail and "told to fail" in detail
    lab.refresh_from_db()
    r1 = lab.nodes.get(name="r1")
    assert r1.state == "failed" and "exited with code 3" in r1.reason
    assert lab.state == "degraded" and lab.reason.startswith("r1: ")
    assert labs.runtime.pid(r1.container_id) is None  # stopped again, kept
    assert "eth0" not in kernel_view(lab, "c1")  # and unplugged: c1's end went with it
    steps = list(LabEvent.objects.filter(lab=lab, operation=lab.operation).values_list("step", "status"))
    assert steps[-1] == ("restart r1", "failed")
    # Its container removed (a fresh one has no such file), the start works again.
    labs.runtime.remove(r1.container_id)
    assert act(api(owner), topology.pk, "r1", "start").status_code == 200
    lab.refresh_from_db()
    assert lab.state == "running" and lab.reason == ""
    assert ping_ttl(labs, lab) == 63
