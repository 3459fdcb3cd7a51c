"""Generated topologies the benchmarks and the README's screenshots share (pure: no Django, no side effects)."""
from __future__ import annotations


def generated(nodes: int, links: int, positions: bool) -> dict:
    """Routers in a ring (plus chords up to `links`), the other nodes hosts, one per router in turn."""
    routers = max(2, nodes // 5)
    hosts = nodes - routers
    doc_nodes, doc_links = [], []
    used: dict[str, int] = {}

    def iface(name: str) -> str:
        used[name] = used.get(name, -1) + 1
        return f"eth{used[name]}"

    for i in range(routers):
        node = {"name": f"r{i}", "kind": "router"}
        if positions:
            node["position"] = {"x": (i % 10) * 600, "y": (i // 10) * 500}
        doc_nodes.append(node)
    for j in range(hosts):
        r = j % routers
        node = {"name": f"h{j}", "kind": "host"}
        if positions:
            k = j // routers
            node["position"] = {"x": (r % 10) * 600 + (k - 1.5) * 110, "y": (r // 10) * 500 + 180}
        doc_nodes.append(node)
        doc_links.append({"endpoints": [{"node": f"h{j}", "interface": iface(f"h{j}")},
                                        {"node": f"r{r}", "interface": iface(f"r{r}")}]})
    step = 1
    while len(doc_links) < links:
        for i in range(routers):
            if len(doc_links) >= links:
                break
            a, b = f"r{i}", f"r{(i + step) % routers}"
            doc_links.append({"endpoints": [{"node": a, "interface": iface(a)}, {"node": b, "interface": iface(b)}]})
        step += 1
    return {"format": "topolab/v1", "name": f"bench-{nodes}-{links}", "nodes": doc_nodes, "links": doc_links}
