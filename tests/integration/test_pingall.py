""""Ping all" on the real reference lab, through the API and the real exec worker, then the command line.

    c1 (192.168.10.2/24) --eth0-- r1 --eth1-- c2 (192.168.11.2/24)
                         .10.1/24    .11.1/24

With c1's default route removed, c1 reaches only its own subnet (r1's 192.168.10.1), and c2's echo requests
reach c1 but its replies have no way back: exactly three holes. r1 still reaches c1, on a connected route.
"""
from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.test import Client

from tests.documents import reference_document
from tests.integration.test_switch_lan import switch_lan
from topology.models import ApiToken

API = "/api/v1"
PAIRS = {("c1", "192.168.10.1"), ("c1", "192.168.11.1"), ("c1", "192.168.11.2"), ("r1", "192.168.10.2"),
         ("r1", "192.168.11.2"), ("c2", "192.168.10.2"), ("c2", "192.168.10.1"), ("c2", "192.168.11.1")}
HOLES = {("c1", "192.168.11.1"), ("c1", "192.168.11.2"), ("c2", "192.168.10.2")}


def cells(answer: dict) -> dict:
    return {(source, address): cell for source, row in answer["results"].items() for address, cell in row.items()}


def test_it_shows_who_reaches_whom_then_exactly_the_holes_of_a_removed_route(labs, owner):
    lab = labs.deploy(reference_document())
    assert lab.state == "running", lab.reason
    _, secret = ApiToken.issue(owner, "integration")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    url = f"{API}/topologies/{lab.topology_id}/ping-all"

    response = client.post(url)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["sources"] == ["c1", "r1", "c2"]
    assert answer["targets"] == [
        {"node": "c1", "interface": "eth0", "address": "192.168.10.2"},
        {"node": "r1", "interface": "eth0", "address": "192.168.10.1"},
        {"node": "r1", "interface": "eth1", "address": "192.168.11.1"},
        {"node": "c2", "interface": "eth0", "address": "192.168.11.2"}]
    found = cells(answer)
    assert set(found) == PAIRS  # every pair, no node pinging itself
    for pair, cell in found.items():
        assert cell["ok"] and cell["error"] == "", (pair, cell)
        assert cell["rtt_ms"] is None or 0 < cell["rtt_ms"] < 1000, (pair, cell)
    assert sum(cell["rtt_ms"] is not None for cell in found.values()) >= 6  # times were read, not guessed
    assert answer["took_ms"] < 15_000

    code, output = labs.run(lab, "c1", "ip", "route", "del", "default")
    assert code == 0, output
    answer = client.post(url).json()
    found = cells(answer)
    assert {pair for pair, cell in found.items() if not cell["ok"]} == HOLES
    assert "unreachable" in found[("c1", "192.168.11.2")]["error"].lower()  # no route: ping says so at once
    assert found[("c2", "192.168.10.2")]["error"] == "no reply in 1 s, twice"  # the request got there, no reply
    assert all(found[pair]["ok"] for pair in PAIRS - HOLES)

    # The command line: the same matrix as text, exit 1 for the holes; --json is the API's answer.
    out = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("lab", "ping-all", "router-between-two-clients", "--user", owner.username, stdout=out)
    assert exited.value.code == 1
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith("5 of 8 reachable")
    assert sum("UNREACHABLE" in line for line in lines) == 3
    assert any(line.startswith("c2") and "192.168.10.2" in line and "UNREACHABLE" in line for line in lines)
    out = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("lab", "ping-all", "router-between-two-clients", "--user", owner.username, "--json", stdout=out)
    assert {pair for pair, cell in cells(json.loads(out.getvalue())).items() if not cell["ok"]} == HOLES

    labs.destroy(lab)
    assert client.post(url).status_code == 409


def test_it_pings_both_families_across_a_switch_and_leaves_the_switch_out(labs, owner):
    # h1..h3 on s1 (a bridge, no address of its own) with r1, h4 behind r1; each node has an IPv4 and an IPv6
    # address per interface: 12 addresses, 5 nodes pinging, 48 pings, every one of them answered.
    lab = labs.deploy(switch_lan())
    assert lab.state == "running", lab.reason
    _, secret = ApiToken.issue(owner, "integration")
    answer = Client(HTTP_AUTHORIZATION=f"Bearer {secret}").post(f"{API}/topologies/{lab.topology_id}/ping-all").json()
    assert answer["sources"] == ["h1", "h2", "h3", "h4", "r1"]
    assert [t["address"] for t in answer["targets"] if t["node"] == "r1"] == [
        "10.1.0.1", "fd00:1::1", "10.2.0.1", "fd00:2::1"]
    found = cells(answer)
    assert len(found) == 48
    assert {pair: cell for pair, cell in found.items() if not cell["ok"]} == {}
    assert found[("h1", "fd00:2::14")]["rtt_ms"] is None or found[("h1", "fd00:2::14")]["rtt_ms"] > 0
    labs.destroy(lab)
