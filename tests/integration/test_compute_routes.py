"""Compute routes on real labs: documents without a route, routes computed through the API, deployed by the
real worker, then "ping all": every host reaches every other host's addresses.

    the triangle          r1, r2, r3 in a triangle, a host on each: ping all through the API (the real exec
                          worker), the whole matrix, routers included
    switched LANs         examples/switch-lan.json (dual stack, one router), and two routers on one switch
                          with a host behind each (dual stack: hosts get a default and a route the other way):
                          ping all through the API
    a ring of 20          r1..r20 in a ring, a host on each (40 containers): the matrix between the hosts, one
                          exec per host (see :func:`host_matrix`), and two pings whose TTL says the short way
                          round was taken
"""
from __future__ import annotations

import time
from collections import Counter
from functools import partial

import pytest
from django.test import Client

from tests.unit.test_routes import example, ring, triangle, two_routers_lan, without_routes
from topology import pingall
from topology.models import ApiToken

API = "/api/v1"


@pytest.fixture
def api(owner):
    _, secret = ApiToken.issue(owner, "integration")
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def routed(api, document: dict) -> dict:
    """``document`` with the routes the API computes for it."""
    response = api.post(f"{API}/routes/compute", document, content_type="application/json")
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["routes"], answer
    return answer["document"]


def host_holes(answer: dict, hosts: set[str]) -> dict:
    """The cells of a ping all's matrix between two hosts that are not ok (none, when routing works)."""
    assert "error" not in answer, answer
    owners = {t["address"]: t["node"] for t in answer["targets"]}
    cells = {(source, address): cell for source, row in answer["results"].items() if source in hosts
             for address, cell in row.items() if owners[address] in hosts}
    expected = sum(len([a for a, n in owners.items() if n in hosts and n != h]) for h in hosts)
    assert len(cells) == expected, (len(cells), expected)  # every pair was pinged
    return {pair: cell for pair, cell in cells.items() if not cell["ok"]}


LATE = "the ping did not end in time"


def _ping_again(lab_id: int, targets: dict, ends: float, pair: tuple[str, str]) -> dict:
    return pingall._ping(lab_id, pair[0], targets[pair[1]], ends)


def late_again(lab, answer: dict, hosts: set[str]) -> dict:
    """``answer`` with its host-to-host cells that did not end in time pinged again, up to twice, 4 at a time, as
    ping all pings (:func:`topology.pingall._ping`). A docker exec that did not end in its 4 s is the machine's
    load (2 cores shared by every test run), not a hole in the routes: a ping with no route, or no reply, ends
    in 1 s and is kept as it was."""
    from concurrent.futures import ThreadPoolExecutor

    targets = {t["address"]: pingall.Target(t["node"], t["interface"], t["address"]) for t in answer["targets"]}
    for _ in range(2):
        late = [(source, address) for source, row in answer["results"].items() if source in hosts
                for address, cell in row.items() if cell["error"] == LATE and targets[address].node in hosts]
        if not late:
            break
        with ThreadPoolExecutor(max_workers=4) as pool:
            cells = list(pool.map(partial(_ping_again, lab.pk, targets, time.monotonic() + 120), late))
        for (source, address), cell in zip(late, cells, strict=True):
            answer["results"][source][address] = cell
    return answer


# Each argument pinged as ping all pings it (one packet, 1 s, numeric; -6 for IPv6), once more if it got no reply.
PING_EACH = ('for a in "$@"; do six=""; case "$a" in *:*) six=-6;; esac; '
             'if ping $six -c1 -W1 -n "$a" >/dev/null 2>&1 || ping $six -c1 -W1 -n "$a" >/dev/null 2>&1; '
             'then echo "ok $a"; else echo "no reply from $a, twice"; fi; done')


def host_matrix(lab) -> dict:
    """The ping-all matrix between the hosts only, in ping all's shape (its plan: every host to every other
    host's addresses), with one exec per host pinging its row: ping all's one exec per cell, 3,160 of them for
    a ring of 40 nodes, is more than its 60 s deadline holds on 2 shared cores."""
    from concurrent.futures import ThreadPoolExecutor

    from topology.node_exec import run_in_node

    hosts = {n["name"] for n in lab.topology.document["nodes"] if n.get("kind", "host") == "host"}
    rows = sorted((n for n in lab.nodes.all() if n.name in hosts), key=lambda n: pingall._natural(n.name))
    plan = pingall.plan([(n.name, n.interfaces) for n in rows])
    started = time.monotonic()

    def row(source: str) -> dict:
        addresses = [t.address for s, t in plan.pairs if s == source]
        answer = run_in_node(lab.pk, source, ["sh", "-c", PING_EACH, "ping-each", *addresses], 120)
        lines = (answer.get("output") or "").splitlines()
        seen = {line.split()[-1] if line.startswith("ok ") else line.split()[3].rstrip(","): line for line in lines}
        return {a: {"ok": seen.get(a, "").startswith("ok "), "rtt_ms": None,
                    "error": "" if seen.get(a, "").startswith("ok ") else seen.get(a) or str(answer)[:200]}
                for a in addresses}

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = dict(zip(plan.sources, pool.map(row, plan.sources), strict=True))
    return {"sources": plan.sources, "targets": [t.as_dict() for t in plan.targets], "results": results,
            "took_ms": int((time.monotonic() - started) * 1000)}


def deploy_and_ping(labs, api, document: dict, *, hosts_only: bool = False, then=None) -> tuple[dict, float]:
    """Deploy ``document``, ping all (through the API, or between the hosts only), run ``then(lab)``, destroy
    it; the matrix and how long the deploy took. Fails on any host that does not reach another's address."""
    started = time.monotonic()
    lab = labs.deploy(document)
    took = time.monotonic() - started
    assert lab.state == "running", lab.reason
    hosts = {n["name"] for n in document["nodes"] if n.get("kind", "host") == "host"}
    try:
        if hosts_only:
            answer = host_matrix(lab)
        else:
            response = api.post(f"{API}/topologies/{lab.topology_id}/ping-all")
            assert response.status_code == 200, response.content
            answer = response.json()
        holes = host_holes(late_again(lab, answer, hosts), hosts)
        assert holes == {}, Counter((source, cell["error"]) for (source, _), cell in holes.items())
        if then:
            then(lab)
    finally:
        labs.destroy(lab)
    return answer, took


def test_the_triangle_routed_by_compute_routes_pings_all(labs, api):
    document = routed(api, triangle())
    answer, _ = deploy_and_ping(labs, api, document)
    # The routers reach each other too (every subnet, by a shortest path): the whole matrix is green, but for
    # an exec the machine's load kept past its time.
    assert [pair for pair, cell in (((s, a), c) for s, row in answer["results"].items() for a, c in row.items())
            if not cell["ok"] and cell["error"] != LATE] == []


@pytest.mark.parametrize("lan", ["switch-lan", "two-routers-lan"])
def test_a_dual_stack_switched_lan_routed_by_compute_routes_pings_all(labs, api, lan):
    original = example("switch-lan") if lan == "switch-lan" else two_routers_lan()
    document = routed(api, without_routes(original))
    if lan == "switch-lan":
        assert document == original  # the routes its author wrote, exactly
    answer, _ = deploy_and_ping(labs, api, document)
    assert any(":" in t["address"] for t in answer["targets"])  # IPv6 was pinged as well as IPv4


def test_a_ring_of_twenty_routers_routed_by_compute_routes_pings_all(labs, api):
    document = routed(api, ring(20))

    def shortest_ways(lab):
        # The short way round, either side: h1 to h6 passes r1..r6, h1 to h16 r1, r20..r16; six routers each.
        for target in ("10.1.6.2", "10.1.16.2"):
            code, out = labs.run(lab, "h1", "ping", "-c1", "-W2", "-n", target)
            assert code == 0 and "ttl=58" in out, out

    answer, took = deploy_and_ping(labs, api, document, hosts_only=True, then=shortest_ways)
    print(f"\nthe ring of 20 routers and 20 hosts (40 containers) deployed in {took:.1f} s; "
          f"ping all between the hosts ({sum(len(row) for row in answer['results'].values())} pings) "
          f"took {answer['took_ms'] / 1000:.1f} s")
