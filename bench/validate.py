#!/usr/bin/env python3
"""How long checking a topolab/v1 document takes, against its size, up to the largest the limits allow.

    .venv/bin/python bench/validate.py [--runs 5] [--target-ms 200]

For each family of documents it doubles the size up to the limits (the
server's default ``Limits()``: 500 nodes, 2,000 links, 12,288 addresses and
12,288 routes in all; the format's: 64 addresses an interface, 1,024 routes a
node, 5 MiB a document) and prints the
time of ``topology.schema.validate`` (parsed JSON data in) and of
``topology.schema.loads`` (JSON text in: what the API and the command line
call), in milliseconds, the fastest of ``--runs`` (the run least disturbed by
other work on the machine), with the CPU time of ``loads``. The families:

- ``lab``: routers joined by dual-stack links, each with a few routes, a
  position and a sysctl: a real lab, grown to 500 nodes and 2,000 links;
- ``addresses``: 500 nodes, 2,000 links, n IPv4 addresses at each end, up to
  64 (which fits in 5 MiB): the densest in what the checks compare;
- ``ipv6``: the same with IPv6 addresses, as many as 5 MiB holds;
- ``routes``: 500 nodes with n routes each, as many as 5 MiB holds;
- ``annotations``: small numbers in the free-form ``annotations``, up to 5 MiB;
- ``all limits``: 500 nodes, 2,000 links, and as many addresses and routes as
  the server allows, at once.

The last line of each family is the largest document the limits allow for
it; the target (200 ms by default) is said met or not for each. Documents are
valid (the checks run to their end) and written as compact JSON (the most
content 5 MiB holds). No Django, no database: the schema alone. Timings are
wall-clock: run it on a quiet machine.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from topology.schema import Limits, loads, validate  # noqa: E402
from topology.schema.checks import count_problems  # noqa: E402
from topology.schema.models import MAX_ADDRESSES_PER_INTERFACE, MAX_DOCUMENT_BYTES, MAX_ROUTES_PER_NODE  # noqa: E402

LIMITS = Limits()
NODES, LINKS = LIMITS.max_nodes, LIMITS.max_links


def text(document: dict) -> str:
    return json.dumps(document, separators=(",", ":"))


def v4(n: int) -> str:
    """The n-th address of 10.0.0.0/8."""
    n += 10 << 24
    return f"{n >> 24}.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def v6(n: int) -> str:
    return f"2001:db8:{n >> 16 & 0xffff:x}:{n & 0xffff:x}::"


def _links(nodes: int, links: int, ends) -> list[dict]:
    """``links`` links over ``nodes`` nodes; ``ends(l)`` gives the addresses of link l's two ends."""
    result = []
    for link in range(links):
        a, b = link % nodes, (link * 7 + 1 + link // nodes) % nodes
        if a == b:
            b = (b + 1) % nodes
        ea, eb = ends(link)
        result.append({"endpoints": [{"node": f"n{a}", "interface": f"e{link}a", "addresses": ea},
                                     {"node": f"n{b}", "interface": f"e{link}b", "addresses": eb}]})
    return result


def lab(scale: float) -> dict:
    """A real lab's content, ``scale`` of the way to 500 nodes and 2,000 links."""
    nodes, links = max(2, round(NODES * scale)), max(1, round(LINKS * scale))

    def ends(link):  # a /30 and a /64 per link
        return ([f"{v4(4 * link + 1)}/30", f"2001:db8:{link:x}::1/64"],
                [f"{v4(4 * link + 2)}/30", f"2001:db8:{link:x}::2/64"])

    document = {"format": "topolab/v1", "name": "bench-lab", "nodes": [], "links": _links(nodes, links, ends)}
    for i in range(nodes):
        gateway = v4(4 * i + 2) if i < links else "192.0.2.1"
        document["nodes"].append({
            "name": f"n{i}", "kind": "router", "position": {"x": i * 10, "y": (i % 7) * 10},
            "sysctls": {"net.ipv4.conf.all.rp_filter": "0"},
            "routes": [{"to": f"172.{16 + i // 256}.{i % 256}.0/24", "via": gateway},
                       {"to": "default", "via": gateway},
                       {"to": f"2001:db8:{0xf000 + i:x}::/48", "via": f"2001:db8:{i % links:x}::2"}]})
    return document


def addresses(per_end: int, family: str = "v4") -> dict:
    """500 nodes, 2,000 links, ``per_end`` addresses at each end, each pair in a subnet of its own."""
    def ends(link):
        base = link * per_end
        if family == "v4":
            return ([f"{v4(4 * (base + k) + 1)}/30" for k in range(per_end)],
                    [f"{v4(4 * (base + k) + 2)}/30" for k in range(per_end)])
        return ([f"{v6(base + k)}1/64" for k in range(per_end)], [f"{v6(base + k)}2/64" for k in range(per_end)])

    return {"format": "topolab/v1", "name": "bench-addresses",
            "nodes": [{"name": f"n{i}", "kind": "router"} for i in range(NODES)], "links": _links(NODES, LINKS, ends)}


def routes(per_node: int) -> dict:
    """500 nodes, each on one link with a /24, with ``per_node`` routes through its neighbour."""
    nodes = [{"name": f"n{i}", "kind": "router",
              "routes": [{"to": f"{v4(256 * (i * per_node + j + 65536))}/24", "via": v4(256 * (i // 2) + 2 - i % 2)}
                         for j in range(per_node)]} for i in range(NODES)]
    links = [{"endpoints": [{"node": f"n{2 * k}", "interface": "eth0", "addresses": [f"{v4(256 * k + 1)}/24"]},
                            {"node": f"n{2 * k + 1}", "interface": "eth0", "addresses": [f"{v4(256 * k + 2)}/24"]}]}
             for k in range(NODES // 2)]
    return {"format": "topolab/v1", "name": "bench-routes", "nodes": nodes, "links": links}


def annotations(count: int) -> dict:
    return {"format": "topolab/v1", "name": "bench-annotations", "nodes": [{"name": "a"}],
            "annotations": {"editor": {"view": [i % 1000 for i in range(count)]}}}


def everything() -> dict:
    """Every limit at once: 500 nodes, 2,000 links, the most addresses and routes a document may hold."""
    per_end = LIMITS.max_addresses // (2 * LINKS)
    document = addresses(per_end)
    per_node = LIMITS.max_routes // NODES
    for i, node in enumerate(document["nodes"]):
        gateway = document["links"][i]["endpoints"][1]["addresses"][0].split("/")[0]
        node["routes"] = [{"to": f"{v4(256 * (i * per_node + j + 65536))}/24", "via": gateway} for j in range(per_node)]
        # n{i} is on links[i]'s first end; the route's gateway is that link's other end.
        document["links"][i]["endpoints"][0]["node"] = f"n{i}"
    return document


def allowed(document: dict) -> bool:
    """Within every limit: 5 MiB, and the server's counts of nodes, links, addresses and routes."""
    return len(text(document).encode()) <= MAX_DOCUMENT_BYTES and not count_problems(document, LIMITS)


def most(make, cap: int) -> int:
    """The largest n up to ``cap`` for which ``make(n)`` is within the limits (a binary search)."""
    low, high = 1, cap
    while low < high:
        middle = (low + high + 1) // 2
        if allowed(make(middle)):
            low = middle
        else:
            high = middle - 1
    return low


def doubling(largest: int, first: int = 1) -> list[int]:
    """first, 2 first, 4 first... and ``largest`` (a size too close below it is left out)."""
    sizes, n = [], first
    while n * 1.5 < largest:
        sizes.append(n)
        n *= 2
    return sizes + [largest]


def families():
    """``(family, [(size, a function making the document)...])``: documents are made one at a time (the
    garbage collector walks every live object: keeping them all would be timed too)."""
    per_v4 = most(addresses, MAX_ADDRESSES_PER_INTERFACE)
    per_v6 = most(lambda n: addresses(n, "v6"), MAX_ADDRESSES_PER_INTERFACE)
    per_node = most(routes, MAX_ROUTES_PER_NODE)
    numbers = most(annotations, MAX_DOCUMENT_BYTES // 2)  # a number takes 2 bytes at least: "0,"
    yield "lab", [(f"{max(2, round(NODES * s))} nodes", lambda s=s: lab(s)) for s in (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1)]
    yield "addresses", [(f"{n}/end", lambda n=n: addresses(n)) for n in doubling(per_v4)]
    yield "ipv6", [(f"{n}/end", lambda n=n: addresses(n, "v6")) for n in doubling(per_v6)]
    yield "routes", [(f"{n}/node", lambda n=n: routes(n)) for n in doubling(per_node)]
    yield "annotations", [(f"{n}", lambda n=n: annotations(n)) for n in doubling(numbers, first=numbers // 32)]
    yield "all limits", [("at once", everything)]


def fastest_ms(function, argument, runs: int) -> tuple[float, float]:
    """(wall-clock, CPU) milliseconds of the fastest of ``runs`` calls: the one least disturbed by
    whatever else the machine runs."""
    times = []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        function(argument, LIMITS)
        times.append((time.perf_counter() - wall, time.process_time() - cpu))
    return 1000 * min(t[0] for t in times), 1000 * min(t[1] for t in times)


def counts(document: dict) -> tuple[int, int, int, int]:
    nodes, links = document["nodes"], document.get("links", [])
    addresses = sum(len(end.get("addresses", [])) for link in links for end in link["endpoints"])
    return len(nodes), len(links), addresses, sum(len(node.get("routes", [])) for node in nodes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--target-ms", type=float, default=200.0)
    args = parser.parse_args()

    print(f"topology.schema.validate and .loads, fastest of {args.runs} (milliseconds; loads' CPU time too); "
          f"limits: {NODES} nodes, {LINKS} links, {MAX_ADDRESSES_PER_INTERFACE} addresses an interface, "
          f"{MAX_ROUTES_PER_NODE} routes a node, {LIMITS.max_addresses} addresses and {LIMITS.max_routes} routes "
          f"in all, {MAX_DOCUMENT_BYTES} bytes")
    print(f"{'family':<12} {'size':>14} {'bytes':>9} {'nodes':>6} {'links':>6} {'addrs':>7} {'routes':>7} "
          f"{'validate':>9} {'loads':>8} {'cpu':>8} {'us/KiB':>7}")
    verdicts = []
    for family, documents in families():
        for size, make in documents:
            document = make()
            raw = text(document)
            result = loads(raw, LIMITS)
            if not result.ok:  # a benchmark of refusals would measure nothing
                raise SystemExit(f"{family} {size}: not valid: {result.errors[:3]}")
            checked, _ = fastest_ms(validate, document, args.runs)
            read, cpu = fastest_ms(loads, raw, args.runs)
            nodes, links, addrs, rts = counts(document)
            print(f"{family:<12} {size:>14} {len(raw):>9} {nodes:>6} {links:>6} {addrs:>7} {rts:>7} "
                  f"{checked:>9.1f} {read:>8.1f} {cpu:>8.1f} {1000 * read / (len(raw) / 1024):>7.0f}", flush=True)
        verdicts.append((family, size, len(raw), read))
    print()
    print(f"The largest document of each family (loads, the API's path), against the target of {args.target_ms:.0f} ms:")
    for family, size, length, read in verdicts:
        verdict = "met" if read < args.target_ms else "NOT met"
        print(f"  {family:<12} {size:>14} {length / 2 ** 20:5.2f} MiB {read:8.1f} ms  target {verdict}")


if __name__ == "__main__":
    main()
