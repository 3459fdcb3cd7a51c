"""Unit tests of Compute routes (:mod:`topology.routes`): the pure function, on documents of every shape.

Besides the exact routes of small labs, every lab here is checked by :func:`walk`, a small forwarding
simulator (longest prefix match hop by hop over the links that are up, switches joining their ports): with
the computed routes, every host reaches every address of the lab, by the fewest hops there are.
"""
from __future__ import annotations

import copy
import ipaddress
import json
from collections import deque
from pathlib import Path

import pytest

from tests.documents import reference_document
from topology import routes, schema

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


# -- documents --------------------------------------------------------------------------------------------------
def _link(a: str, ai: str, aa: list[str], b: str, bi: str, ba: list[str], **extra) -> dict:
    return {"endpoints": [{"node": a, "interface": ai, "addresses": aa},
                          {"node": b, "interface": bi, "addresses": ba}], **extra}


def ring(count: int, *, name: str = "ring", dual: bool = False) -> dict:
    """``count`` routers in a ring (r1..rN, link i between ri and ri+1: 10.255.i.0/30, .1 and .2), a host on
    each (hi, 10.1.i.0/24: the router .1, the host .2); with ``dual``, fd00:255:i::/64 and fd00:1:i::/64 too.
    No routes."""
    nodes, links = [], []
    for i in range(1, count + 1):
        nodes += [{"name": f"r{i}", "kind": "router"}, {"name": f"h{i}", "kind": "host"}]
        after = i % count + 1
        six = dual
        links.append(_link(f"r{i}", "eth1", [f"10.255.{i}.1/30"] + ([f"fd00:255:{i}::1/64"] if six else []),
                           f"r{after}", "eth2", [f"10.255.{i}.2/30"] + ([f"fd00:255:{i}::2/64"] if six else [])))
        links.append(_link(f"h{i}", "eth0", [f"10.1.{i}.2/24"] + ([f"fd00:1:{i}::2/64"] if six else []),
                           f"r{i}", "eth0", [f"10.1.{i}.1/24"] + ([f"fd00:1:{i}::1/64"] if six else [])))
    return {"format": "topolab/v1", "name": name, "nodes": nodes, "links": links}


def triangle(*, dual: bool = False) -> dict:
    """Three routers in a triangle with a host each, as a new user draws it: r1-r2 10.0.12.0/30, r2-r3
    10.0.23.0/30, r1-r3 10.0.13.0/30 (the lower router .1), hi on 192.168.i.0/24 behind ri (.1, the host .2)."""
    def addresses(v4: str, v6: str) -> list[str]:
        return [v4] + ([v6] if dual else [])

    links = [
        _link("r1", "eth1", addresses("10.0.12.1/30", "fd00:12::1/64"), "r2", "eth1", addresses("10.0.12.2/30", "fd00:12::2/64")),
        _link("r2", "eth2", addresses("10.0.23.1/30", "fd00:23::1/64"), "r3", "eth2", addresses("10.0.23.2/30", "fd00:23::2/64")),
        _link("r1", "eth2", addresses("10.0.13.1/30", "fd00:13::1/64"), "r3", "eth1", addresses("10.0.13.2/30", "fd00:13::2/64")),
    ]
    for i in (1, 2, 3):
        links.append(_link(f"h{i}", "eth0", addresses(f"192.168.{i}.2/24", f"fd00:{i}::2/64"),
                           f"r{i}", "eth0", addresses(f"192.168.{i}.1/24", f"fd00:{i}::1/64")))
    nodes = [{"name": f"r{i}", "kind": "router"} for i in (1, 2, 3)] + [{"name": f"h{i}"} for i in (1, 2, 3)]
    return {"format": "topolab/v1", "name": "triangle", "nodes": nodes, "links": links}


def two_routers_lan() -> dict:
    """A dual-stack switched LAN with two routers: h1, h2, r1, r2 on s1 (10.1.0.0/24, fd00:1::/64; r1 .1,
    r2 .2), h3 behind r1 (10.3.0.0/24, fd00:3::/64), h4 behind r2 (10.4.0.0/24, fd00:4::/64)."""
    lan = {"h1": ("10.1.0.11/24", "fd00:1::11/64"), "h2": ("10.1.0.12/24", "fd00:1::12/64"),
           "r1": ("10.1.0.1/24", "fd00:1::1/64"), "r2": ("10.1.0.2/24", "fd00:1::2/64")}
    links = [_link(node, "eth0", list(pair), "s1", f"eth{i}", []) for i, (node, pair) in enumerate(lan.items(), 1)]
    links += [_link("r1", "eth1", ["10.3.0.1/24", "fd00:3::1/64"], "h3", "eth0", ["10.3.0.13/24", "fd00:3::13/64"]),
              _link("r2", "eth1", ["10.4.0.1/24", "fd00:4::1/64"], "h4", "eth0", ["10.4.0.14/24", "fd00:4::14/64"])]
    nodes = [{"name": n, "kind": "host"} for n in ("h1", "h2", "h3", "h4")]
    nodes += [{"name": "s1", "kind": "switch"}, {"name": "r1", "kind": "router"}, {"name": "r2", "kind": "router"}]
    return {"format": "topolab/v1", "name": "two-routers-lan", "nodes": nodes, "links": links}


def without_routes(document: dict) -> dict:
    """A copy of ``document`` with no node's routes."""
    copied = copy.deepcopy(document)
    for node in copied["nodes"]:
        node.pop("routes", None)
    return copied


def example(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def compute(data: dict) -> routes.Computed:
    return routes.compute(schema.parse(data))


def table(computed: routes.Computed, node: str) -> dict[str, str]:
    return {r["to"] if r["to"] != "default" else "default" + ("6" if ":" in r["via"] else ""): r["via"]
            for r in computed.routes if r["node"] == node}


# -- a forwarding simulator ---------------------------------------------------------------------------------------
def walk(data: dict) -> dict[tuple[str, str], int]:
    """Send a packet from every host to every address of the lab, by longest prefix match at each hop (connected
    subnets, then the document's routes), over the links that are up; a switch joins its ports. The number of
    routed hops each took (a packet that loops, or finds no route, fails the test)."""
    document = schema.parse(data)
    kinds = {n.name: n.kind for n in document.nodes}
    wires: dict[tuple, set] = {}  # (node, interface) -> the ends it reaches at layer 2

    def join(a, b):
        wires.setdefault(a, {a}), wires.setdefault(b, {b})
        merged = wires[a] | wires[b]
        for key in merged:
            wires[key] = merged

    addresses: dict[tuple, list] = {}
    for link in document.links:
        if link.state == "down":
            continue
        a, b = link.endpoints
        join((a.node, a.interface), (b.node, b.interface))
        for end in link.endpoints:
            addresses[(end.node, end.interface)] = end.interface_addresses()
            if kinds[end.node] == "switch":
                join(("switch", end.node), (end.node, end.interface))
    owner = {str(ip.ip): key for key, ips in addresses.items() for ip in ips}

    def table_of(node):
        rows = [(ip.network, None, key[1]) for key, ips in addresses.items() if key[0] == node for ip in ips]
        for route in document.node(node).routes:
            rows.append((route.network(), ipaddress.ip_address(route.via) if route.via else None, route.dev))
        return rows

    tables = {n.name: table_of(n.name) for n in document.nodes}
    ports: dict[str, list] = {}
    for key in wires:
        ports.setdefault(key[0], []).append(key)
    hops = {}
    hosts = [n.name for n in document.nodes if n.kind == "host"]
    for source in hosts:
        for target, end in owner.items():
            if end[0] == source:
                continue
            destination, node, count, seen = ipaddress.ip_address(target), source, 0, set()
            while True:
                assert node not in seen, f"{source} -> {target}: a loop at {node}"
                seen.add(node)
                if node != source:
                    assert kinds[node] in ("router", "frr"), f"{source} -> {target}: forwarded by {node} ({kinds[node]})"
                    count += 1
                rows = [r for r in tables[node] if r[0].version == destination.version and destination in r[0]]
                assert rows, f"{source} -> {target}: no route at {node}"
                network, via, dev = max(rows, key=lambda r: r[0].prefixlen)
                step = destination if via is None else via
                here = [key for key in ports[node] if (dev is None or key[1] == dev)
                        and any(step in ip.network for ip in addresses.get(key, []))]
                assert here, f"{source} -> {target}: {node} has no interface towards {step}"
                reached = owner.get(str(step))
                assert reached and reached in wires[here[0]], f"{source} -> {target}: {step} is not on {node}'s segment"
                if step == destination:
                    break
                node = reached[0]
            hops[(source, target)] = count
    return hops


def shortest(data: dict) -> dict[tuple[str, str], int]:
    """The fewest routers a packet from each host to each address must pass (a breadth-first search of the
    drawn graph, switches free): none to an address on one of the host's own subnets, else the routers up to
    and including the nearest router on the address's subnet."""
    document = schema.parse(data)
    kinds = {n.name: n.kind for n in document.nodes}
    adjacent: dict[str, set[str]] = {n.name: set() for n in document.nodes}
    on: dict = {}  # network -> {node}
    owners = {}
    for link in document.links:
        if link.state == "down":
            continue
        a, b = (e.node for e in link.endpoints)
        adjacent[a].add(b), adjacent[b].add(a)
        for end in link.endpoints:
            for ip in end.interface_addresses():
                owners[str(ip.ip)] = (end.node, ip.network)
                on.setdefault(ip.network, set()).add(end.node)
    answer = {}
    for source in (n.name for n in document.nodes if n.kind == "host"):
        distance, queue = {source: 0}, deque([source])
        while queue:  # routers count one, switches none; hosts forward nothing
            node = queue.popleft()
            if node != source and kinds[node] == "host":
                continue
            for other in adjacent[node]:
                cost = distance[node] + (kinds[other] in ("router", "frr"))
                if other not in distance or cost < distance[other]:
                    distance[other] = cost
                    queue.append(other)
        for address, (node, network) in owners.items():
            if node == source:
                continue
            if source in on[network]:
                answer[(source, address)] = 0
            else:
                answer[(source, address)] = min(distance[x] for x in on[network]
                                                if kinds[x] in ("router", "frr") and x in distance)
    return answer


def with_computed(data: dict) -> dict:
    document = schema.parse(data)
    added = routes.with_routes(document, routes.compute(document).routes)
    result = schema.validate(added)
    assert result.ok, result.errors
    return added


def assert_everyone_reaches_everything_by_a_shortest_path(data: dict) -> None:
    assert walk(with_computed(data)) == shortest(data)


# -- the labs -----------------------------------------------------------------------------------------------------
def test_the_reference_lab_gets_exactly_the_routes_of_the_spec():
    original = reference_document()
    computed = compute(without_routes(original))
    assert computed.routes == [{"node": "c1", "to": "default", "via": "192.168.10.1"},
                               {"node": "c2", "to": "default", "via": "192.168.11.1"}]
    assert computed.notes == []
    assert routes.with_routes(schema.parse(without_routes(original)), computed.routes) == original
    assert_everyone_reaches_everything_by_a_shortest_path(without_routes(original))


@pytest.mark.parametrize("name", ["switch-lan", "two-sites-slow-link", "router-between-two-clients"])
def test_the_examples_get_back_the_routes_written_by_hand(name):
    original = example(name)
    assert with_computed(without_routes(original)) == original
    assert_everyone_reaches_everything_by_a_shortest_path(without_routes(original))


def test_a_triangle_of_routers_routes_each_host_subnet_over_the_direct_link():
    computed = compute(triangle())
    assert table(computed, "r1") == {"192.168.2.0/24": "10.0.12.2", "192.168.3.0/24": "10.0.13.2",
                                     "10.0.23.0/30": "10.0.12.2"}  # a tie (r2 or r3): the lowest next hop
    assert table(computed, "r2") == {"192.168.1.0/24": "10.0.12.1", "192.168.3.0/24": "10.0.23.2",
                                     "10.0.13.0/30": "10.0.12.1"}
    assert table(computed, "r3") == {"192.168.1.0/24": "10.0.13.1", "192.168.2.0/24": "10.0.23.1",
                                     "10.0.12.0/30": "10.0.13.1"}
    for i in (1, 2, 3):
        assert table(computed, f"h{i}") == {"default": f"192.168.{i}.1"}
    assert computed.notes == []
    assert_everyone_reaches_everything_by_a_shortest_path(triangle())


def test_dual_stack_gets_a_route_per_family():
    computed = compute(triangle(dual=True))
    assert table(computed, "h1") == {"default": "192.168.1.1", "default6": "fd00:1::1"}
    assert table(computed, "r1")["fd00:3::/64"] == "fd00:13::2"
    assert table(computed, "r1")["fd00:23::/64"] == "fd00:12::2"
    assert len(table(computed, "r1")) == 6
    assert_everyone_reaches_everything_by_a_shortest_path(triangle(dual=True))


@pytest.mark.parametrize("count", [4, 5, 20])
def test_a_ring_goes_the_short_way_round_and_a_tie_to_the_lowest_next_hop(count):
    computed = compute(ring(count))
    r1 = table(computed, "r1")
    assert r1["10.1.2.0/24"] == "10.255.1.2"                      # r2, clockwise
    assert r1[f"10.1.{count}.0/24"] == f"10.255.{count}.1"        # rN, the other way
    if count % 2 == 0:  # the host opposite is as far both ways: the lowest next hop, r2's 10.255.1.2
        assert r1[f"10.1.{count // 2 + 1}.0/24"] == "10.255.1.2"
    assert len(r1) == 2 * count - 3  # every subnet but its own three
    assert_everyone_reaches_everything_by_a_shortest_path(ring(count))


def test_a_ring_of_sixty_dual_stack_is_quick():
    import time

    document = schema.parse(ring(60, dual=True))
    started = time.process_time()  # CPU time: the machine's other work does not count
    computed = routes.compute(document)
    assert time.process_time() - started < 3
    assert len(computed.routes) == 60 * 2 * (2 * 60 - 3) + 60 * 2


def test_a_switched_lan_with_two_routers_gets_a_default_and_a_route_for_the_other_way():
    computed = compute(two_routers_lan())
    assert table(computed, "h1") == {"default": "10.1.0.1", "default6": "fd00:1::1",
                                     "10.4.0.0/24": "10.1.0.2", "fd00:4::/64": "fd00:1::2"}
    assert table(computed, "r1") == {"10.4.0.0/24": "10.1.0.2", "fd00:4::/64": "fd00:1::2"}
    assert table(computed, "h3") == {"default": "10.3.0.1", "default6": "fd00:3::1"}
    assert table(computed, "s1") == {}
    assert any(n.startswith("h1 has 2 routers on its IPv4 subnet (r1, r2): default via 10.1.0.1") for n in computed.notes)
    assert_everyone_reaches_everything_by_a_shortest_path(two_routers_lan())


def test_a_chain_of_switches_is_one_subnet():
    data = two_routers_lan()
    data["nodes"].append({"name": "s2", "kind": "switch"})
    # h2 moves to s2, which hangs off s1: still on 10.1.0.0/24 with both routers.
    data["links"][1]["endpoints"][1] = {"node": "s2", "interface": "eth1"}
    data["links"].append(_link("s1", "eth9", [], "s2", "eth9", []))
    computed = compute(data)
    assert table(computed, "h2") == table(computed, "h1") | {} and table(computed, "h2")["default"] == "10.1.0.1"
    assert_everyone_reaches_everything_by_a_shortest_path(data)


# -- what is left alone -------------------------------------------------------------------------------------------
def test_routes_written_by_hand_are_kept_and_never_overwritten():
    data = triangle()
    data["nodes"][0]["routes"] = [{"to": "192.168.3.0/24", "via": "10.0.12.2"}]   # r1: the long way, on purpose
    data["nodes"][3]["routes"] = [{"to": "0.0.0.0/0", "via": "192.168.1.1"}]      # h1: its own default
    computed = compute(data)
    assert "192.168.3.0/24" not in table(computed, "r1") and len(table(computed, "r1")) == 2
    assert table(computed, "h1") == {}
    assert "r1 keeps its own route to 192.168.3.0/24 (a shortest way: via 10.0.13.2)" in computed.notes
    added = with_computed(data)
    assert added["nodes"][0]["routes"][0] == {"to": "192.168.3.0/24", "via": "10.0.12.2"}  # first, as written
    assert len(added["nodes"][0]["routes"]) == 3
    assert walk(added)[("h1", "192.168.3.2")] == 3  # r1, r2, r3: the way the user chose
    # Nothing more to do once the routes are in: computing again proposes nothing.
    again = compute(added)
    assert again.routes == []
    assert again.notes == ["r1 keeps its own route to 192.168.3.0/24 (a shortest way: via 10.0.13.2)"]


def test_a_hosts_own_default_via_another_router_is_kept_and_the_rest_follows_it():
    data = two_routers_lan()
    data["nodes"][0]["routes"] = [{"to": "default", "via": "10.1.0.2"}]  # h1: via r2, not the lowest
    computed = compute(data)
    assert table(computed, "h1") == {"10.3.0.0/24": "10.1.0.1", "default6": "fd00:1::1", "fd00:4::/64": "fd00:1::2"}
    assert any(n.startswith("h1 has 2 routers on its IPv4 subnet (r1, r2): default via 10.1.0.2 (its own)")
               for n in computed.notes)
    assert_everyone_reaches_everything_by_a_shortest_path(data)


def test_a_hosts_own_default_via_no_router_is_kept_with_routes_around_it():
    data = triangle()
    data["nodes"][3]["routes"] = [{"to": "default", "via": "192.168.1.99"}]  # h1: nobody has that address
    computed = compute(data)
    assert table(computed, "h1") == {n: "192.168.1.1" for n in (
        "10.0.12.0/30", "10.0.13.0/30", "10.0.23.0/30", "192.168.2.0/24", "192.168.3.0/24")}
    assert ("h1 has its own IPv4 default route via 192.168.1.99, which is not a router on its subnets: it is kept, "
            "with a route for each subnet the routers reach") in computed.notes


def test_a_down_link_carries_nothing():
    data = triangle()
    data["links"][2]["state"] = "down"  # r1 - r3
    computed = compute(data)
    assert table(computed, "r1") == {"192.168.2.0/24": "10.0.12.2", "192.168.3.0/24": "10.0.12.2",
                                     "10.0.23.0/30": "10.0.12.2"}
    assert table(computed, "r3")["192.168.1.0/24"] == "10.0.23.1"
    assert not any(r["to"] == "10.0.13.0/30" for r in computed.routes)
    assert "10.0.13.0/30 is only on links that are down: no route to it proposed" in computed.notes
    assert_everyone_reaches_everything_by_a_shortest_path(data)


def test_subnets_nobody_can_reach_are_reported_not_guessed():
    data = triangle()
    data["links"][1]["state"] = "down"  # r2 - r3
    data["links"][2]["state"] = "down"  # r1 - r3: r3 and h3 are cut off
    computed = compute(data)
    assert "192.168.3.0/24" not in table(computed, "r1")
    assert any(n.startswith("192.168.3.0/24 cannot be reached from r1, r2, h1, h2 (no path over links that are up)")
               for n in computed.notes), computed.notes
    assert table(computed, "h3") == {"default": "192.168.3.1"}


def test_a_host_with_no_router_gets_nothing_and_is_told():
    data = reference_document()
    data["nodes"][1]["kind"] = "host"  # r1 forwards nothing now
    computed = compute(without_routes(data))
    assert computed.routes == []
    assert "c1 has no router on its IPv4 subnets: it reaches only them" in computed.notes


def test_frr_routers_are_left_to_their_daemons_and_still_gateways():
    computed = compute(without_routes(example("frr-ospf-triangle")))
    assert [r["node"] for r in computed.routes] == ["h1", "h2", "h3"]
    assert table(computed, "h1") == {"default": "192.168.1.1"}
    assert "f1 is an frr router: its daemons route it (no static routes proposed)" in computed.notes


def test_a_host_on_two_subnets_with_a_router_on_each_gets_specific_routes():
    data = triangle()
    # h1 gets a second leg, to r2 (192.168.9.0/24): every subnet by whichever router is nearer, ties to .1.1.
    data["links"].append(_link("h1", "eth1", ["192.168.9.2/24"], "r2", "eth9", ["192.168.9.1/24"]))
    computed = compute(data)
    assert table(computed, "h1") == {"192.168.2.0/24": "192.168.9.1", "192.168.3.0/24": "192.168.1.1",
                                     "10.0.12.0/30": "192.168.1.1", "10.0.13.0/30": "192.168.1.1",
                                     "10.0.23.0/30": "192.168.9.1"}
    assert any(n.startswith("h1 has routers on several IPv4 segments (r1, r2)") for n in computed.notes)
    assert_everyone_reaches_everything_by_a_shortest_path(data)


def test_one_subnet_on_two_separate_segments_is_reported():
    data = reference_document()
    data["links"][1]["endpoints"][0]["addresses"] = ["192.168.10.3/24"]
    data["links"][1]["endpoints"][1]["addresses"] = ["192.168.10.4/24"]
    computed = compute(without_routes(data))
    assert "192.168.10.0/24 is on 2 separate segments: no route to it proposed (which one would it go to?)" in computed.notes
    assert computed.routes == []  # nor through it: a route takes a via or a dev, not both, so r1 could pick the wrong one


def test_with_routes_adds_after_each_nodes_own_and_changes_nothing_else():
    data = example("two-sites-slow-link")
    data["nodes"][0]["routes"] = []
    document = schema.parse(data)
    added = routes.with_routes(document, routes.compute(document).routes)
    assert added["nodes"][0]["routes"] == [{"to": "default", "via": "10.1.0.1"}]
    assert {k: v for k, v in added.items() if k != "nodes"} == {k: v for k, v in data.items() if k != "nodes"}
    assert [n["name"] for n in added["nodes"]] == [n["name"] for n in data["nodes"]]
    assert added["nodes"][1] == data["nodes"][1]  # ra had its route already
