"""The lab follows what really happened to its containers: the real worker's Docker watcher, real Docker.

    c1 (192.168.10.2/24) --eth0-- r1 --eth1-- c2 (192.168.11.2/24)

A container removed behind Topolab's back (``docker rm -f``), a node's main
process killed from the host, and a restart of dockerd itself: each time the
node ends ``gone`` or ``exited`` with the reason, the lab ``degraded``, live
on the lab's websocket; the nodes still running keep answering; destroy
cleans it all up.

**The dockerd restart test is the last of this file, on purpose**: it stops
the Docker Engine of the whole machine for a few seconds (every container on
it stops, as their restart policy is "no"), so it runs after the others here,
and restarts dockerd exactly as it found it (same arguments, environment,
working directory and log file), whatever happens.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from django.test import Client

from tests.documents import reference_document
from tests.integration.test_console import Terminal
from tests.websockets import browser_socket, fresh_channel_layer, run  # noqa: F401 (fixture)
from topology import broadcast
from topology.models import Lab
from topology.operations import collect_garbage
from topology.testing.dockerd import how_dockerd_runs, start_dockerd
from topology.websockets.console import ConsoleConsumer

SOON = 10.0  # seconds: "at once", with room for a loaded machine


def wait_state(lab: Lab, done, timeout: float = SOON) -> Lab:
    """Poll the lab until ``done(lab, {node: (state, reason)})``; returns the refreshed lab."""
    deadline = time.monotonic() + timeout
    while True:
        lab.refresh_from_db()
        nodes = {n.name: (n.state, n.reason) for n in lab.nodes.all()}
        if done(lab, nodes):
            return lab
        if time.monotonic() > deadline:
            raise AssertionError(f"lab {lab.pk} is {lab.state} ({lab.reason!r}), nodes {nodes}, after {timeout} s")
        time.sleep(0.1)


def exec_api(owner, lab: Lab, node: str, argv: list[str]):
    """A command in a node through the REST API (the web tier's check, then the worker's node_exec)."""
    client = Client()
    client.force_login(owner)
    return client.post(f"/api/v1/topologies/{lab.topology_id}/nodes/{node}/exec",
                       json.dumps({"argv": argv, "timeout": 10}), content_type="application/json")


def docker(*argv: str) -> str:
    return subprocess.run(["docker", *argv], capture_output=True, text=True, check=True, timeout=60).stdout.strip()


def container(lab: Lab, node: str) -> str:
    return lab.nodes.get(name=node).container_id


def test_a_removed_container_degrades_the_lab_live_and_the_rest_keeps_working(labs, owner):
    lab = labs.deploy(reference_document())
    assert lab.state == "running"
    ws = browser_socket(f"/ws/topologies/{lab.topology_id}/", owner)
    c2 = container(lab, "c2")

    async def watch():
        assert (await ws.connect())[0]
        snapshot = await ws.receive_json_from(timeout=10)
        assert snapshot["lab"]["state"] == "running"
        await asyncio.to_thread(docker, "rm", "-f", c2)
        heard = []
        while not any(m["type"] == "lab" and m["state"] == "degraded" for m in heard):
            heard.append(await ws.receive_json_from(timeout=SOON))
        await ws.disconnect()
        return snapshot, heard

    started = time.monotonic()
    snapshot, heard = run(watch)
    took = time.monotonic() - started
    lab = wait_state(lab, lambda lab, nodes: lab.state == "degraded")
    assert took < SOON, f"{took:.1f} s to notice"
    assert lab.nodes.get(name="c2").state == "gone"
    assert lab.nodes.get(name="c2").reason == "its container was removed"
    assert {n.name: n.state for n in lab.nodes.all()} == {"c1": "running", "r1": "running", "c2": "gone"}
    assert lab.reason == "c2: its container was removed"
    assert lab.operation == snapshot["lab"]["operation"]  # no new operation: the log goes on

    # Live: the node's state (a removal right after a kill may first say exited), its event, the lab's.
    node_news = [m for m in heard if m["type"] == "node"]
    assert node_news and all(m["name"] == "c2" for m in node_news) and node_news[-1]["state"] == "gone"
    assert node_news[-1]["reason"] == "its container was removed"
    lost = [e for m in heard if m["type"] == "events" for e in m["events"]]
    assert lost[-1]["step"] == "c2 gone" and lost[-1]["status"] == "failed" and lost[-1]["node"] == "c2"
    assert heard[-1] == {"type": "lab", "state": "degraded", "reason": "c2: its container was removed", "busy": False,
                         "operation": snapshot["lab"]["operation"]}
    # The snapshot of a client that comes later says the same.
    later = broadcast.lab_snapshot(lab)
    assert later["state"] == "degraded" and later["events"][-1]["step"] == "c2 gone"
    assert {n["name"]: n["state"] for n in later["nodes"]} == {"c1": "running", "r1": "running", "c2": "gone"}

    # The nodes still running answer, through the API (web tier and worker); the lost one is refused.
    answer = exec_api(owner, lab, "c1", ["ping", "-c", "1", "-W", "2", "192.168.10.1"])
    assert answer.status_code == 200, answer.content
    assert answer.json()["exit_code"] == 0
    refused = exec_api(owner, lab, "c2", ["true"])
    assert refused.status_code == 409, refused.content

    # Garbage collection (run at every worker start) leaves a degraded lab's own containers alone.
    # From a thread of its own, as in the worker: after the browser tests, Playwright's event loop runs in
    # this thread, and pyroute2 runs one of its own to open a socket.
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(collect_garbage, queue=lab.queue).result().removed == []
    assert {c.labels["topolab.node"] for c in labs.containers(lab)} == {"c1", "r1"}

    # Destroy works as usual, clears it, and leaves nothing behind (no_leftovers checks the host).
    lab = labs.destroy(lab)
    assert (lab.state, lab.reason) == ("stopped", "")
    assert {n.state for n in lab.nodes.all()} == {"stopped"}
    assert labs.containers(lab) == []


def test_a_killed_main_process_exits_its_node_and_consoles_go_on_on_the_others(labs, owner, relay, monkeypatch):
    monkeypatch.setattr(ConsoleConsumer, "heartbeat", 0.3)  # re-checks of the lab's state, often
    lab = labs.deploy(reference_document())
    pid = int(docker("inspect", "--format", "{{.State.Pid}}", container(lab, "r1")))
    c1 = Terminal(lab, "c1", owner)
    r1 = Terminal(lab, "r1", owner)
    c2_logs = Terminal(lab, "c2", owner, kind="logs", query="")

    async def consoles():
        await c1.open()
        await c2_logs.open()
        await c1.type("echo before-$((6*7))\n")
        await c1.read_until(rb"before-42")
        os.kill(pid, signal.SIGKILL)  # from the host, as the OOM killer or a crash would
        await asyncio.to_thread(wait_state, lab, lambda lab, nodes: nodes["r1"][0] == "exited")
        await asyncio.sleep(1)  # several heartbeats: each re-checks the lab (degraded) and the node (running)
        mark = len(c1.output)
        await c1.type("echo after-$((6*7))\n")
        await c1.read_until(rb"after-42", since=mark)
        assert c1.closed is None and c2_logs.closed is None
        await r1.ws.connect()
        refused = await r1.next_status()
        await c1.leave()
        await c2_logs.leave()
        return refused

    refused = run(consoles)
    assert refused == {"type": "status", "state": "error", "message": "node 'r1' is exited, not running"}
    lab = wait_state(lab, lambda lab, nodes: lab.state == "degraded")
    node = lab.nodes.get(name="r1")
    assert (node.state, node.reason) == ("exited", "its main process was killed by SIGKILL (exit code 137)")
    assert lab.reason == "r1: its main process was killed by SIGKILL (exit code 137)"
    assert {n.name: n.state for n in lab.nodes.all()} == {"c1": "running", "r1": "exited", "c2": "running"}
    lab = labs.destroy(lab)
    assert lab.state == "stopped" and labs.containers(lab) == []


# -- last in this file: it restarts the machine's dockerd --------------------------------------------------


def test_zz_a_dockerd_restart_is_reconciled_and_the_watcher_follows_again(labs, owner, lab_worker):
    first = labs.deploy(reference_document())
    how = how_dockerd_runs()
    assert how["argv"][0].endswith("dockerd"), how
    try:
        os.kill(how["pid"], signal.SIGTERM)
        deadline = time.monotonic() + 60
        while os.path.exists(f"/proc/{how['pid']}"):
            assert time.monotonic() < deadline, "dockerd did not stop in 60 s"
            time.sleep(0.1)
    finally:
        if not subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True).stdout.strip():
            start_dockerd(how)
    assert how_dockerd_runs()["argv"] == how["argv"]

    # The restart stopped every container (restart policy "no"): the worker reconciles when dockerd is back.
    lost = ("exited", "gone")
    first = wait_state(first, lambda lab, nodes: all(state in lost for state, _ in nodes.values()), timeout=60)
    assert first.state == "degraded"
    for node in first.nodes.all():
        assert node.reason, node
    assert set(first.reason.split("; ")) == {f"{n.name}: {n.reason}" for n in first.nodes.all()}
    # (Each node's die may come on the stream as dockerd stops, or be found by the reconcile after it.)
    # The worker noticed the stream break and reconnected (and reconciled) once dockerd answered.
    deadline = time.monotonic() + 30
    while b"the Docker Engine answers again" not in lab_worker.logged():
        assert time.monotonic() < deadline, lab_worker.tail()
        time.sleep(0.2)
    assert b"event stream ended" in lab_worker.logged()

    # And it follows events again: a second lab, deployed after the restart, sees its c2 removed at once.
    second_document = {**reference_document(), "name": "after-the-restart"}
    second = labs.deploy(second_document)
    assert second.state == "running"
    docker("rm", "-f", container(second, "c2"))
    second = wait_state(second, lambda lab, nodes: nodes["c2"][0] == "gone" and lab.state == "degraded")
    assert {n.name: n.state for n in second.nodes.all()} == {"c1": "running", "r1": "running", "c2": "gone"}

    for lab in (first, second):
        lab = labs.destroy(lab)
        assert lab.state == "stopped" and labs.containers(lab) == []
