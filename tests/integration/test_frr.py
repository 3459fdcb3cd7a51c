"""The frr kind deployed for real: FRR's daemons in lab nodes, through the real lab and exec workers.

The example triangle (examples/frr-ospf-triangle.json):

            h1 (192.168.1.2)
             |
            f1 ----10.0.13.0/30---- f3 -- h3 (192.168.3.2)
             |                     /
        10.0.12.0/30     10.0.23.0/30
             |                 /
            f2 --------------'
             |
            h2 (192.168.2.2)

OSPF converges and every host reaches every other; with f1-f2 cut live, h1 still reaches h2, through f3
(one hop more). BGP between two routers exchanges their hosts' prefixes. A bad frr.conf fails the deploy with
FRR's own message and its line, and /frr/check says the same from a throwaway container.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from django.test import Client

from topology import frr, kinds, links, schema
from topology.models import ApiToken, Topology

API = "/api/v1"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "frr-ospf-triangle.json"
HOSTS = {"h1": "192.168.1.2", "h2": "192.168.2.2", "h3": "192.168.3.2"}
CONVERGE = 60  # seconds OSPF or BGP may take, at most


def api(owner) -> Client:
    _, secret = ApiToken.issue(owner, "frr")
    return Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {secret}")


def post(client: Client, path: str, body: dict):
    return client.post(f"{API}{path}", json.dumps(body), content_type="application/json")


def ttl(labs, lab, source: str, target: str) -> int | None:
    """The TTL of one ping's reply from ``source`` to ``target``, or None when none came."""
    code, out = labs.run(lab, source, "ping", "-c", "1", "-W", "1", "-n", target)
    found = re.search(r"ttl=(\d+)", out)
    return int(found.group(1)) if code == 0 and found else None


def until(what: str, check, bound: float = CONVERGE):
    """Poll ``check`` until it is true; how long it took (fails after ``bound`` seconds)."""
    started = time.monotonic()
    while True:
        if check():
            took = time.monotonic() - started
            print(f"{what}: {took:.1f} s")
            return took
        assert time.monotonic() - started < bound, f"{what}: not within {bound} s"
        time.sleep(0.5)


def all_reach(labs, lab, hops: int | None = None) -> bool:
    """Every host reaches every other (through ``hops`` routers exactly, when given)."""
    found = [ttl(labs, lab, a, HOSTS[b]) for a in HOSTS for b in HOSTS if a != b]
    return all(t is not None and (hops is None or t == 64 - hops) for t in found)


def test_ospf_converges_every_host_reaches_every_other_and_a_cut_link_is_routed_around(labs, owner):
    lab = labs.deploy(json.loads(EXAMPLE.read_text()))
    assert lab.state == "running", lab.reason
    code, out = labs.run(lab, "f1", "ps", "-eo", "user,comm")
    assert code == 0 and re.search(r"^frr\s+ospfd$", out, re.M) and re.search(r"^frr\s+zebra$", out, re.M), out
    code, out = labs.run(lab, "f1", "grep", "^Cap", "/proc/1/status")
    assert code == 0
    bounding = int(re.search(r"CapBnd:\s+([0-9a-f]+)", out).group(1), 16)
    assert not bounding & (1 << 21), "the node must not hold CAP_SYS_ADMIN"  # 21: CAP_SYS_ADMIN

    # Converged: every host reaches every other through two routers (its own and the other's; a path through
    # the third router is what OSPF may use for a moment while the last adjacency comes up).
    until("OSPF converged, every host reaches every other", lambda: all_reach(labs, lab, hops=2))
    code, out = labs.run(lab, "f1", "vtysh", "-c", "show ip ospf neighbor")
    assert code == 0 and "10.0.12.2" in out and "10.0.13.2" in out, out

    topology = Topology.objects.get(lab=lab)
    links.change(topology, "f1:eth0", {"state": "down"})  # cut f1-f2
    until("routed around the cut link (h1 -> f1 -> f3 -> f2 -> h2)",
          lambda: ttl(labs, lab, "h1", HOSTS["h2"]) == 61)
    code, out = labs.run(lab, "h1", "traceroute", "-n", "-w", "1", "-q", "1", HOSTS["h2"])
    assert code == 0 and "10.0.13.2" in out, out  # through f3
    assert all_reach(labs, lab)


def bgp_pair() -> dict:
    """h1 -- f1 ==eBGP== f2 -- h2, with the starting configurations of BGP (no static routes between sites)."""
    document = {
        "format": "topolab/v1", "name": "frr-bgp-pair",
        "nodes": [{"name": "f1", "kind": "frr"}, {"name": "f2", "kind": "frr"},
                  {"name": "h1", "routes": [{"to": "default", "via": "192.168.1.1"}]},
                  {"name": "h2", "routes": [{"to": "default", "via": "192.168.2.1"}]}],
        "links": [
            {"endpoints": [{"node": "f1", "interface": "eth0", "addresses": ["10.0.12.1/30"]},
                           {"node": "f2", "interface": "eth0", "addresses": ["10.0.12.2/30"]}]},
            {"endpoints": [{"node": "h1", "interface": "eth0", "addresses": ["192.168.1.2/24"]},
                           {"node": "f1", "interface": "eth1", "addresses": ["192.168.1.1/24"]}]},
            {"endpoints": [{"node": "h2", "interface": "eth0", "addresses": ["192.168.2.2/24"]},
                           {"node": "f2", "interface": "eth1", "addresses": ["192.168.2.1/24"]}]},
        ],
    }
    parsed = schema.parse(document)
    kind_of = {n.name: kinds.kind(n.kind) for n in parsed.nodes}
    for node in document["nodes"][:2]:
        node["files"] = frr.starting_config(parsed, node["name"], ["bgp"], kind_of)
    return document


def test_bgp_between_two_routers_exchanges_a_prefix_and_save_configs_pulls_the_running_ones(labs, owner):
    lab = labs.deploy(bgp_pair())
    assert lab.state == "running", lab.reason

    def learnt() -> bool:
        code, out = labs.run(lab, "f1", "vtysh", "-c", "show ip bgp")
        return code == 0 and "192.168.2.0/24" in out

    until("BGP exchanged f2's prefix", learnt)
    _, out = labs.run(lab, "f1", "ip", "route", "show", "192.168.2.0/24")
    assert "proto bgp" in out and "via 10.0.12.2" in out, out
    until("h1 reaches h2 through the BGP route", lambda: ttl(labs, lab, "h1", "192.168.2.2") == 62, bound=20)

    # Save configs: the diffs first, then the running configurations saved into the document.
    topology = Topology.objects.get(lab=lab)
    client = api(owner)
    labs.run(lab, "f1", "vtysh", "-c", "configure terminal", "-c", "router bgp 64512", "-c",
             "neighbor 10.0.12.2 description to-f2")
    response = post(client, f"/topologies/{topology.pk}/frr/save", {"dry_run": True})
    assert response.status_code == 200, response.content
    by_node = {entry["node"]: entry for entry in response.json()}
    assert set(by_node) == {"f1", "f2"} and all(e["path"] == frr.CONF and not e["error"] for e in by_node.values())
    assert by_node["f1"]["changed"] and "+ neighbor 10.0.12.2 description to-f2" in by_node["f1"]["diff"]
    topology.refresh_from_db()
    assert "description to-f2" not in json.dumps(topology.document)  # a dry run saves nothing

    response = post(client, f"/topologies/{topology.pk}/frr/save", {"dry_run": False})
    assert response.status_code == 200, response.content
    topology.refresh_from_db()
    (saved,) = [f["content"] for f in topology.document["nodes"][0]["files"] if f["path"] == frr.CONF]
    assert " neighbor 10.0.12.2 description to-f2" in saved
    assert "Building configuration" not in saved and "frr version" not in saved
    again = post(client, f"/topologies/{topology.pk}/frr/save", {"dry_run": True}).json()
    assert [e["changed"] for e in again] == [False, False], again

    # A node restarted alone starts FRR again (its start command runs again in the same container).
    response = client.post(f"{API}/topologies/{topology.pk}/nodes/f2/restart")
    assert response.status_code == 200 and response.json()["state"] == "running", response.content
    _, out = labs.run(lab, "f2", "ps", "-eo", "comm")
    assert "bgpd" in out.split() and "zebra" in out.split(), out
    until("BGP learnt f2's prefix again after f2's restart", learnt)
    until("h1 reaches h2 again", lambda: ttl(labs, lab, "h1", "192.168.2.2") == 62, bound=20)

    # FRR's checker accepts what it saved, and the starting configurations of all three protocols.
    assert post(client, "/frr/check", {"config": saved}).json() == {"ok": True, "errors": []}
    response = post(client, f"/topologies/{topology.pk}/frr/starting-config",
                    {"node": "f2", "daemons": ["ospf", "bgp", "isis"]})
    assert response.status_code == 200, response.content
    (config,) = [f["content"] for f in response.json()["files"] if f["path"] == frr.CONF]
    assert "router isis" in config and "router ospf" in config and "router bgp 64513" in config
    assert post(client, "/frr/check", {"config": config}).json() == {"ok": True, "errors": []}


BAD = "hostname f1\nrouter ospf\n ospf router-id 10.0.0.1\n this is not frr\n"


def test_a_bad_config_fails_the_deploy_with_its_line_and_the_check_says_the_same(labs, owner):
    document = {"format": "topolab/v1", "name": "frr-bad",
                "nodes": [{"name": "f1", "kind": "frr", "files": [{"path": frr.CONF, "content": BAD}]}]}
    lab = labs.deploy(document)
    assert lab.state == "failed"
    assert "line 4" in lab.reason and "Unknown command" in lab.reason and "this is not frr" in lab.reason, lab.reason
    assert not labs.containers(lab)  # whatever was built is removed

    client = api(owner)
    response = post(client, "/frr/check", {"config": BAD})
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["ok"] is False
    assert [e["line"] for e in answer["errors"]] == [4] and "this is not frr" in answer["errors"][0]["message"]
    assert post(client, "/frr/check", {"config": "hostname f1\n"}).json() == {"ok": True, "errors": []}


@pytest.mark.parametrize("config", ["", "!\n" * 20000])
def test_the_check_takes_an_empty_and_a_large_config(labs, owner, config):
    response = post(api(owner), "/frr/check", {"config": config})
    assert response.status_code == 200 and response.json() == {"ok": True, "errors": []}, response.content
