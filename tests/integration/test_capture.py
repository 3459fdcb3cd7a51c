"""Packet captures end to end: the API -> Redis -> the real root capture service -> tcpdump in a node's network
namespace; the rows live on the websocket, the file through the API, parsed here by dpkt's pcap reader::

    c1 eth0 ---- eth0 r1 eth1 ---- eth0 c2
"""
from __future__ import annotations

import asyncio
import io
import json
import threading
import time
import urllib.request

import dpkt
import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.classroom import supervised
from tests.documents import reference_document
from tests.e2e.server import LiveServer
from tests.websockets import browser_socket, fresh_channel_layer, refused, run  # noqa: F401 (autouse)
from topology.capture import client as captures
from topology.models import ApiToken

C2 = "192.168.11.2"


def api(user) -> tuple[Client, str]:
    _, secret = ApiToken.issue(user, "capture tests")
    return Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {secret}"), secret


def start(client: Client, topology_id: int, target: str, expression: str = ""):
    return client.post(f"/api/v1/topologies/{topology_id}/captures", json.dumps({"target": target, "filter": expression}),
                       content_type="application/json")


def wait_ended(capture_id: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = captures.record(capture_id)
        if found and found["state"] == "ended":
            return found
        time.sleep(0.2)
    raise AssertionError(f"capture {capture_id} still {captures.record(capture_id)} after {timeout} s")


def packets_of(data: bytes) -> list[tuple[float, bytes]]:
    return list(dpkt.pcap.Reader(io.BytesIO(data)))


def echoes(data: bytes) -> list[tuple[int, int]]:
    """(ICMP type, seq) of the echo requests and replies in a pcap file."""
    found = []
    for _, raw in packets_of(data):
        ip = dpkt.ethernet.Ethernet(raw).data
        if isinstance(ip, dpkt.ip.IP) and isinstance(ip.data, dpkt.icmp.ICMP) and ip.data.type in (0, 8):
            found.append((ip.data.type, ip.data.data.seq))
    return found


async def rows_until(ws, predicate, timeout: float = 20) -> list[dict]:
    """Rows from a capture socket until ``predicate(rows)`` holds."""
    rows: list[dict] = []
    deadline = time.monotonic() + timeout
    while not predicate(rows):
        left = deadline - time.monotonic()
        assert left > 0, f"only these rows after {timeout} s: {rows[-10:]}"
        message = json.loads(await ws.receive_from(timeout=left))
        if message["type"] == "rows":
            rows.extend(message["rows"])
    return rows


def test_it_shows_pings_live_and_keeps_them_in_the_file_and_refuses_what_it_must(labs, owner, capture):
    lab = labs.deploy(reference_document())
    assert lab.state == "running", lab.reason
    client, _ = api(owner)
    tid = lab.topology_id

    # A bad filter, an unknown interface, a host interface's name: refused before anything runs.
    bad = start(client, tid, "c1:eth0", "icmp or bogus")
    assert bad.status_code == 400, bad.content
    assert bad.json()["errors"][0]["path"] == "filter" and "syntax error" in bad.json()["errors"][0]["message"]
    assert start(client, tid, "c1:eth9").json()["errors"][0]["path"] == "target"
    assert start(client, tid, "c1:docker0").status_code == 400
    assert start(client, tid, "c1:eth0", "-w /tmp/x").status_code == 400

    started = start(client, tid, "c1:eth0", "icmp or arp")
    assert started.status_code == 201, started.content
    record = started.json()
    assert record["state"] == "running" and record["target"] == "c1:eth0"
    cid = record["id"]

    # A stranger: the topology and its captures do not exist for them, the socket closes 4403.
    stranger = get_user_model().objects.create_user("stranger", password="pw-stranger-1")
    other, _ = api(stranger)
    assert start(other, tid, "c1:eth0").status_code == 404
    assert other.get(f"/api/v1/topologies/{tid}/captures").status_code == 404
    assert other.get(f"/api/v1/topologies/{tid}/captures/{cid}.pcap").status_code == 404
    assert other.delete(f"/api/v1/topologies/{tid}/captures/{cid}").status_code == 404
    assert run(refused, browser_socket(f"/ws/topologies/{tid}/captures/{cid}", stranger)) == 4403

    ws = browser_socket(f"/ws/topologies/{tid}/captures/{cid}", owner)
    # Several may watch one capture: here the instructor who supervises this copy of an assignment too.
    teacher = browser_socket(f"/ws/topologies/{tid}/captures/{cid}", supervised(lab))
    container = lab.nodes.get(name="c1").container_id

    async def body():
        for socket in (ws, teacher):
            connected, _ = await socket.connect()
            assert connected
            hello = json.loads(await socket.receive_from(timeout=5))
            assert hello["type"] == "capture" and hello["capture"]["id"] == cid
        pinging = asyncio.create_task(asyncio.to_thread(
            labs.runtime.exec, container, ["ping", "-c3", "-i0.3", C2]))
        rows = await rows_until(ws, lambda rows: sum("echo reply" in r["info"] for r in rows) >= 3)
        assert await pinging == 0
        requests = [r for r in rows if r["info"].startswith("echo request")]
        assert len(requests) == 3 and requests[0]["src"] == "192.168.10.2" and requests[0]["dst"] == C2
        assert requests[0]["protocol"] == "ICMP" and "seq 1" in requests[0]["info"]
        assert [r["no"] for r in rows] == sorted(r["no"] for r in rows)
        seen = await rows_until(teacher, lambda got: len(got) >= len(rows))
        assert [r["no"] for r in seen][:len(rows)] == [r["no"] for r in rows]
        await teacher.disconnect()
        await ws.send_to(text_data=json.dumps({"type": "detail", "no": requests[0]["no"]}))
        detail = json.loads(await ws.receive_from(timeout=5))
        while detail["type"] != "detail":
            detail = json.loads(await ws.receive_from(timeout=5))
        assert [layer["name"] for layer in detail["layers"]][:3] == [
            "Ethernet II", "Internet Protocol version 4", "Internet Control Message Protocol"]
        assert detail["hex"].startswith("0000  ")
        await ws.send_to(text_data=json.dumps({"type": "stop"}))
        while True:
            message = json.loads(await ws.receive_from(timeout=10))
            if message["type"] == "ended":
                break
        await ws.disconnect()
        return message["capture"]

    ended = run(body)
    assert ended["state"] == "ended" and ended["reason"].startswith("stopped by"), ended
    listed = client.get(f"/api/v1/topologies/{tid}/captures").json()
    assert [c["id"] for c in listed] == [cid] and listed[0]["state"] == "ended"

    download = client.get(f"/api/v1/topologies/{tid}/captures/{cid}.pcap")
    assert download.status_code == 200 and download["Content-Type"] == "application/vnd.tcpdump.pcap"
    data = b"".join(download.streaming_content)
    assert sorted(echoes(data)) == [(0, 1), (0, 2), (0, 3), (8, 1), (8, 2), (8, 3)]
    assert len(packets_of(data)) == ended["packets"] == ended["tcpdump_captured"]

    # Its page closed and nobody else watching: the capture stops by itself (after the service's grace).
    cid = start(client, tid, "r1:eth0").json()["id"]
    ws = browser_socket(f"/ws/topologies/{tid}/captures/{cid}", owner)

    async def glance():
        connected, _ = await ws.connect()
        assert connected and json.loads(await ws.receive_from(timeout=5))["type"] == "capture"
        await asyncio.sleep(1.5)  # the service sees the watcher
        await ws.disconnect()

    run(glance)
    assert wait_ended(cid, timeout=20)["reason"] == "nobody watched it for 3 s"


@pytest.fixture
def web(tmp_path):
    server = LiveServer(tmp_path / "web.log")
    server.start()
    yield server
    server.stop()


def test_it_keeps_a_flood_whole_streams_for_wireshark_and_ends_with_its_node_and_lab(labs, owner, capture, web):
    lab = labs.deploy(reference_document())
    assert lab.state == "running", lab.reason
    client, secret = api(owner)
    tid = lab.topology_id

    # A flood: the file keeps every packet tcpdump saw, whatever the live view sampled.
    cid = start(client, tid, "r1:eth1", "icmp").json()["id"]
    code, out = labs.run(lab, "c1", "ping", "-f", "-w", "5", "-q", C2)
    assert code == 0, out
    ended = client.delete(f"/api/v1/topologies/{tid}/captures/{cid}").json()
    assert ended["state"] == "ended", ended
    data = b"".join(client.get(f"/api/v1/topologies/{tid}/captures/{cid}.pcap").streaming_content)
    assert len(packets_of(data)) == ended["packets"] == ended["tcpdump_captured"] > 2000, ended

    # A followed download, as curl -N | wireshark -k -i - reads it: the header at once, packets as they come.
    cid = start(client, tid, "c2:eth0", "icmp").json()["id"]
    request = urllib.request.Request(f"{web.url}/api/v1/topologies/{tid}/captures/{cid}.pcap?follow=1",
                                     headers={"Authorization": f"Bearer {secret}"})
    stream = urllib.request.urlopen(request, timeout=30)
    assert stream.read(24)[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1")
    received = bytearray()
    reader = threading.Thread(target=lambda: received.extend(stream.read()), daemon=True)
    reader.start()
    code, out = labs.run(lab, "c1", "ping", "-c2", "-i0.3", C2)
    assert code == 0, out
    time.sleep(1)

    # A node stopped: its capture ends at once (tcpdump would keep its old namespace alive), the lab goes on.
    stopped = start(client, tid, "c1:eth0").json()["id"]
    answer = client.post(f"/api/v1/topologies/{tid}/nodes/c1/stop")
    assert answer.status_code == 200, answer.content
    assert wait_ended(stopped)["reason"] == "the node stopped"
    assert captures.record(cid)["state"] == "running"

    # The lab destroyed: the capture ends by itself, and the stream with it, its file complete.
    labs.destroy(lab)
    record = wait_ended(cid)
    assert record["reason"] == "the lab was destroyed", record
    reader.join(10)
    assert not reader.is_alive(), "the followed download did not end with the capture"
    whole = b"".join(client.get(f"/api/v1/topologies/{tid}/captures/{cid}.pcap").streaming_content)
    assert bytes(whole[:24]) + bytes(received) == whole
    assert sorted(echoes(whole)) == [(0, 1), (0, 2), (8, 1), (8, 2)]
