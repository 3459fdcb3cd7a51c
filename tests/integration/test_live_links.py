"""Links of a running lab changed live, through the API, the real lab worker and this host's kernel.

    c1 (192.168.10.2/24) --eth0-- r1 --eth1-- c2 (192.168.11.2/24)
                         .10.1/24    .11.1/24

Loss, duplication, a rate and a link's state go into both ends' namespaces at once (nothing
restarts: the containers keep their IDs), the document keeps them, and every
change reaches the owner's websocket as a ``link`` message. On a kernel
without netem (this CI machine) loss and duplication are the nftables fallback and delay is
refused before anything changes; the netem path runs where the kernel has it.
"""
from __future__ import annotations

import json
import math
import re

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from labsite.asgi import application
from tests.documents import reference_document
from tests.integration.test_live_events import session_headers, until
from topology import links, services
from topology.engine import netlink
from topology.models import ApiToken, Topology

API = "/api/v1"
END = "c1:eth0"


def api(owner) -> Client:
    _, secret = ApiToken.issue(owner, "live links")
    return Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {secret}")


def patch(client: Client, topology_id: int, body: dict, end: str = END):
    return client.patch(f"{API}/topologies/{topology_id}/links/{end}", json.dumps(body),
                        content_type="application/json")


def lost(labs, lab, count: int = 200, target: str = "192.168.11.2") -> float:
    """The share of ``count`` quick pings from c1 to ``target`` that got no answer, in percent."""
    _, out = labs.run(lab, "c1", "ping", "-q", "-n", "-i", "0.01", "-W", "1", "-c", str(count), target)
    found = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    assert found, out
    sent, received = int(found.group(1)), int(found.group(2))
    return 100.0 * (sent - received) / sent


def duplicates(labs, lab, count: int = 200, target: str = "192.168.11.2") -> int:
    """How many answers to ``count`` quick pings from c1 came twice (or more)."""
    _, out = labs.run(lab, "c1", "ping", "-q", "-n", "-i", "0.01", "-W", "1", "-c", str(count), target)
    found = re.search(r"\+(\d+) duplicates", out)
    return int(found.group(1)) if found else 0


def reaches(labs, lab, target: str = "192.168.11.2") -> bool:
    code, _ = labs.run(lab, "c1", "ping", "-c", "2", "-W", "1", target)
    return code == 0


def containers(lab) -> dict[str, str]:
    return dict(lab.nodes.values_list("name", "container_id"))


@pytest.fixture
def running(labs, owner):
    lab = labs.deploy(reference_document())
    assert lab.state == "running", lab.reason
    return Topology.objects.get(lab=lab), lab


def test_loss_and_link_state_change_live_on_both_ends_and_are_heard(labs, owner, running):
    topology, lab = running
    client = api(owner)
    before = containers(lab)
    assert reaches(labs, lab)
    ws = WebsocketCommunicator(application, f"/ws/topologies/{topology.pk}/", headers=session_headers(owner))
    heard: list[dict] = []

    def link_message(m):
        return m["type"] == "link"

    async def change(body: dict) -> dict:
        response = await sync_to_async(patch)(client, topology.pk, body)
        assert response.status_code == 200, response.content
        messages = await until(ws, link_message, timeout=30)
        heard.append(messages[-1])
        return response.json()

    async def scenario():
        connected, _ = await ws.connect()
        assert connected
        await ws.receive_json_from(timeout=10)  # the snapshot

        answer = await change({"impairment": {"loss_percent": 100}})
        assert answer["applied"] is True and answer["link"]["impairment"] == {"loss_percent": 100}
        assert await sync_to_async(lost)(labs, lab, 20) == 100.0

        answer = await change({"impairment": None})
        assert "impairment" not in answer["link"]
        assert await sync_to_async(reaches)(labs, lab)

        await change({"impairment": {"loss_percent": 50}})
        round_trips = await sync_to_async(lost)(labs, lab)
        # Each end loses its share of what reaches it, so a ping and its answer each cross a 50 % chance:
        # the share lost one way is what a round trip loses, seen twice.
        one_way = 100 * (1 - math.sqrt(1 - round_trips / 100))
        assert 30 <= one_way <= 70, (round_trips, one_way)

        await change({"impairment": {"duplicate_percent": 20}})
        copies = await sync_to_async(duplicates)(labs, lab)
        assert 50 <= copies <= 130, copies  # 200 x (1.2 x 1.2 - 1) = 88 extra answers expected
        await change({"impairment": None})

        answer = await change({"state": "down"})
        assert answer["link"]["state"] == "down"
        assert not await sync_to_async(reaches)(labs, lab)
        await change({"state": "up"})
        assert await sync_to_async(reaches)(labs, lab)
        await ws.disconnect()

    async_to_sync(scenario)()
    assert [(m["end"], m["peer"]) for m in heard] == [(END, "r1:eth0")] * 7
    assert [m["impairment"] for m in heard] == [{"loss_percent": 100}, None, {"loss_percent": 50},
                                                {"duplicate_percent": 20}, None, None, None]
    assert [m["state"] for m in heard] == ["up"] * 5 + ["down", "up"]
    lab.refresh_from_db()
    assert lab.state == "running" and containers(lab) == before  # nothing restarted


def test_a_rate_limit_shows_in_throughput_and_the_next_deploy_keeps_the_link(labs, owner, running):
    topology, lab = running
    client = api(owner)
    response = patch(client, topology.pk, {"impairment": {"rate_kbit": 4000}}, end="r1:eth0")  # either end names it
    assert response.status_code == 200, response.content
    labs.run(lab, "c2", "iperf3", "-s", "-1", "-D")
    code, out = labs.run(lab, "c1", "iperf3", "-c", "192.168.11.2", "-t", "4", "-O", "1", "-J")
    assert code == 0, out
    received = json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1000
    assert 0.8 * 4000 <= received <= 1.2 * 4000, received

    topology.refresh_from_db()
    assert topology.document["links"][0]["impairment"] == {"rate_kbit": 4000}
    patch(client, topology.pk, {"state": "down", "impairment": {"loss_percent": 100}})
    labs.destroy(lab)
    lab = labs.deploy(Topology.objects.get(pk=topology.pk).document)  # the saved document, as it is now
    assert lab.state == "running", lab.reason
    assert not reaches(labs, lab)
    code, out = labs.run(lab, "r1", "ip", "-o", "link", "show", "eth0")
    assert "state DOWN" in out or "<BROADCAST,MULTICAST>" in out, out


def test_a_kernel_without_netem_refuses_delay_before_anything_changes(labs, owner, running):
    topology, lab = running
    if netlink.features()["netem"]:
        pytest.skip("this kernel has netem: delay is applied, not refused")
    offered = links.capabilities(lab.queue)
    assert offered["impairments"]["delay"] is False and offered["impairments"]["loss"] == "nftables"
    response = patch(api(owner), topology.pk, {"impairment": {"delay_ms": 20, "loss_percent": 1}})
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert [e["path"] for e in errors] == ["impairment.delay_ms"] and "netem" in errors[0]["message"]
    assert "impairment" not in Topology.objects.get(pk=topology.pk).document["links"][0]  # nothing was saved
    assert reaches(labs, lab)


@pytest.mark.skipif(not netlink.features()["netem"], reason="this host's kernel has no netem (sch_netem): "
                                                            "the delay path cannot run here")
def test_delay_applies_live_where_the_kernel_has_netem(labs, owner, running):
    topology, lab = running
    response = patch(api(owner), topology.pk, {"impairment": {"delay_ms": 100}})
    assert response.status_code == 200, response.content
    _, out = labs.run(lab, "c1", "ping", "-c", "3", "-W", "2", "192.168.10.1")
    times = [float(t) for t in re.findall(r"time=([\d.]+)", out)]
    assert times and min(times) >= 190, out  # both ends delay what they send: a round trip meets it twice


def test_a_stopped_lab_saves_the_change_only(owner, lab_worker):
    topology = services.import_topology(owner, reference_document(), replace=True)
    response = patch(api(owner), topology.pk, {"state": "down"})
    assert response.status_code == 200 and response.json()["applied"] is False, response.content
    assert Topology.objects.get(pk=topology.pk).document["links"][0]["state"] == "down"
