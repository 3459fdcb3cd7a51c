"""Compute routes: the static routes that let every node of a ``topolab/v1`` document reach every subnet of
the lab by a shortest path, IPv4 and IPv6 (pure: no Django, no I/O; the API and ``lab routes`` call it).

The graph is the one drawn, with the links that are ``down`` left out (they carry nothing). Switches are
layer 2: the interfaces on one switch, or on one chain of switches, are one segment and share its subnets.
A subnet is a network one of the lab's interface addresses is in; two nodes are neighbours when they have
addresses in one subnet on one segment. Paths count hops over forwarding nodes (a kind that ``forwards``);
ties go to the lowest next-hop address, so the answer is the same every time.

What each kind gets:

- a router (``router``): a route to every subnet it is not on, via the neighbour on a shortest path;
- an FRR router (``frr``): nothing, its daemons route it; it still forwards, so it is a gateway and a hop;
- a host: with one router on its subnets (or several on one segment), a ``default`` route via it (the
  lowest address when there are several, plus a route for each subnet another of them reaches in fewer
  hops); a host with routers on several segments gets a route to each subnet instead; one with no router
  gets nothing (it reaches only its own subnets);
- a switch: nothing (it has no addresses).

Routes the user wrote are never overwritten: a computed route whose prefix the node has already (whatever
its ``via``) is not proposed, and a host's own default route for a family stands for the proposed one.
Subnets a node cannot reach are said in the notes, not guessed.
"""
from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache

from . import kinds, schema
from .schema.models import MAX_ROUTES_PER_NODE

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
FAMILIES = (4, 6)
DEFAULTS = {4: ipaddress.ip_network("0.0.0.0/0"), 6: ipaddress.ip_network("::/0")}
NAMES_SHOWN = 5  # node names a note lists before "and N more"


@dataclass
class Computed:
    """The proposed routes (``{"node", "to", "via"}``) in document order, and the notes: sentences saying what
    was left alone and why."""

    routes: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"routes": self.routes, "notes": self.notes}


@dataclass(frozen=True)
class _Neighbour:
    """A node ``node`` reaches at ``address`` (in ``network``), from the interface ``interface``, on segment
    ``segment``."""

    node: str
    address: Address
    interface: str
    segment: object
    network: Network


class _Segments:
    """Union-find of ``(node, interface)`` ends: a link joins its two ends, a switch all of its own."""

    def __init__(self):
        self.parent: dict = {}

    def find(self, key):
        self.parent.setdefault(key, key)
        root = key
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[key] != root:  # path compression
            self.parent[key], key = root, self.parent[key]
        return root

    def join(self, a, b) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)  # the smaller root: deterministic


def _names(names) -> str:
    names = list(names)
    shown = ", ".join(names[:NAMES_SHOWN])
    return shown + (f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else "")


@lru_cache(maxsize=65536)  # a network is written once per node that routes to it
def _to(network: Network) -> str:
    return "default" if network.prefixlen == 0 else str(network)


@lru_cache(maxsize=65536)  # as _to: a router is the next hop of many
def _text(address: Address) -> str:
    return str(address)


# What a node does for routing, from its kind's traits (never its kind's name: kinds.py says what a kind is).
BRIDGE, DAEMONS, FORWARDER, END = "bridges", "routed by its daemons", "forwards", "end system"


def _role(kind: kinds.Kind) -> str:
    if kind.bridge:
        return BRIDGE
    if kind.frr:
        return DAEMONS
    return FORWARDER if kind.forwards else END


def _own_prefixes(node: schema.Node) -> dict[Network, Address | None]:
    """The prefixes of the node's own routes, each with its via (None for a route by ``dev``)."""
    own = {}
    for route in node.routes:
        network = route.network(fallback_version=6 if ":" in route.to else 4)
        own.setdefault(network, ipaddress.ip_address(route.via) if route.via else None)
    return own


class _Lab:
    """The document read as segments, subnets and neighbours."""

    def __init__(self, document: schema.Document):
        self.order = [n.name for n in document.nodes]
        self.role = {n.name: _role(kinds.kind(n.kind)) for n in document.nodes}
        self.own = {n.name: _own_prefixes(n) for n in document.nodes}
        segments = _Segments()
        ends = []  # (node, interface, addresses) of the ends on links that are up
        self.connected: dict[str, set[Network]] = defaultdict(set)  # on any link, up or down
        self.down_only: set[Network] = set()
        up_networks: set[Network] = set()
        for link in document.links:
            up = link.state != "down"
            for end in link.endpoints:
                for text in end.addresses:
                    network = ipaddress.ip_interface(text).network
                    if not network.is_link_local:
                        self.connected[end.node].add(network)
                        (up_networks if up else self.down_only).add(network)
            if up:
                a, b = link.endpoints
                segments.join((a.node, a.interface), (b.node, b.interface))
                ends += [(e.node, e.interface, e.addresses) for e in link.endpoints]
        for node, interface, _ in ends:
            if self.role.get(node) == BRIDGE:
                segments.join((BRIDGE, node), (node, interface))
        self.down_only -= up_networks
        # (segment, network) -> [(node, interface, address)]; network -> its segments
        self.on: dict[tuple, list[tuple[str, str, Address]]] = defaultdict(list)
        self.segments_of: dict[Network, set] = defaultdict(set)
        self.interfaces_in: dict[tuple[str, Network], set[str]] = defaultdict(set)
        for node, interface, addresses in ends:
            if self.role.get(node) == BRIDGE:
                continue
            segment = segments.find((node, interface))
            for text in addresses:
                iface = ipaddress.ip_interface(text)
                if iface.network.is_link_local:
                    continue  # fe80::/10 is on every segment at once: no route goes to it
                self.on[(segment, iface.network)].append((node, interface, iface.ip))
                self.segments_of[iface.network].add(segment)
                self.interfaces_in[(node, iface.network)].add(interface)
        self._families: dict[str, set[int]] = defaultdict(set)
        for node, network in self.interfaces_in:
            self._families[node].add(network.version)
        self.neighbours: dict[str, dict[int, list[_Neighbour]]] = {name: {4: [], 6: []} for name in self.order}
        for (segment, network), members in self.on.items():
            if len(self.segments_of[network]) > 1:
                # A subnet on two segments: the kernel could send to a neighbour in it out of the wrong one (a route
                # takes a via or a dev, not both), so no route goes through it; a note says so.
                continue
            for node, interface, _ in members:
                for other, _, address in members:
                    if other != node:
                        self.neighbours[node][network.version].append(
                            _Neighbour(other, address, interface, segment, network))

    def forwards(self, node: str) -> bool:
        return self.role[node] in (FORWARDER, DAEMONS)

    def families(self, node: str) -> set[int]:
        """The IP versions the node has an address of (on a link that is up)."""
        return self._families[node]

    def distances(self, network: Network, segment) -> dict[str, int]:
        """Hops from each node to ``network`` over forwarding nodes (0 for a forwarding node on it)."""
        distance = {node: 0 for node, _, _ in self.on[(segment, network)] if self.forwards(node)}
        frontier = sorted(distance)
        while frontier:
            following = []
            for node in frontier:
                for neighbour in self.neighbours[node][network.version]:
                    if neighbour.node not in distance:
                        distance[neighbour.node] = distance[node] + 1
                        if self.forwards(neighbour.node):
                            following.append(neighbour.node)
            frontier = following
        return distance


def _key(address: Address) -> int:
    return int(address)


class _Proposals:
    """The routes proposed so far, and what was left out, per node."""

    def __init__(self, lab: _Lab):
        self.lab = lab
        self.routes: dict[str, list[tuple[Network, _Neighbour]]] = defaultdict(list)
        self.kept: dict[str, list[tuple[Network, _Neighbour]]] = defaultdict(list)
        self.unreachable: dict[Network, list[str]] = defaultdict(list)

    def propose(self, node: str, network: Network, via: _Neighbour) -> None:
        """Propose a route, unless the node has one to that prefix (said in the notes if it goes elsewhere)."""
        if network not in self.lab.own[node]:
            self.routes[node].append((network, via))
        elif self.lab.own[node][network] != via.address:
            self.kept[node].append((network, via))


def _host_plan(lab: _Lab, host: str, family: int) -> tuple[str, list[_Neighbour], _Neighbour | Address | None]:
    """How a host is routed in one family: ``("none" | "default" | "specific", its gateways, the default's
    gateway)``; the default's gateway is the host's own default route's via when it has one."""
    gateways = sorted((n for n in lab.neighbours[host][family] if lab.forwards(n.node)), key=lambda n: _key(n.address))
    if not gateways:
        return "none", gateways, None
    own = lab.own[host].get(DEFAULTS[family], False)
    if len({g.node for g in gateways}) > 1 and len({g.segment for g in gateways}) > 1:
        return "specific", gateways, own if own is not False else None
    if own is not False:
        chosen = next((g for g in gateways if g.address == own), own)
        return "default", gateways, chosen
    return "default", gateways, gateways[0]


def compute(document: schema.Document) -> Computed:
    """The routes that make every node reach every subnet of the lab by a shortest path, and the notes."""
    lab = _Lab(document)
    proposals = _Proposals(lab)
    notes: list[str] = []
    plans: dict[tuple[str, int], tuple] = {}
    for name in lab.order:
        role = lab.role[name]
        if role == DAEMONS:
            notes.append(f"{name} is an frr router: its daemons route it (no static routes proposed)")
        if role != END:
            continue
        for family in sorted(lab.families(name)):
            plan = plans[(name, family)] = _host_plan(lab, name, family)
            mode, gateways, chosen = plan
            ip = f"IPv{family}"
            if mode == "none":
                if any(n.version == family and n not in lab.connected[name] for n in lab.segments_of):
                    notes.append(f"{name} has no router on its {ip} subnets: it reaches only them")
            elif mode == "default":
                if isinstance(chosen, _Neighbour):
                    if DEFAULTS[family] not in lab.own[name]:
                        proposals.routes[name].append((DEFAULTS[family], chosen))
                    routers = sorted({g.node for g in gateways})
                    if len(routers) > 1:
                        own = " (its own)" if DEFAULTS[family] in lab.own[name] else ""
                        notes.append(f"{name} has {len(routers)} routers on its {ip} subnet ({_names(routers)}): "
                                     f"default via {chosen.address}{own}, and a route for each subnet another "
                                     "reaches in fewer hops")
                else:
                    notes.append(f"{name} has its own {ip} default route via {chosen}, which is not a router on its "
                                 "subnets: it is kept, with a route for each subnet the routers reach")
            elif DEFAULTS[family] not in lab.own[name]:
                notes.append(f"{name} has routers on several {ip} segments ({_names(sorted({g.node for g in gateways}))}): "
                             "a route for each subnet, no default")

    destinations = sorted(lab.segments_of, key=lambda n: (n.version, int(n.network_address), n.prefixlen))
    for network in destinations:
        segments = lab.segments_of[network]
        if len(segments) > 1:
            notes.append(f"{network} is on {len(segments)} separate segments: no route to it proposed (which one "
                         "would it go to?)")
            continue
        segment = next(iter(segments))
        distance = lab.distances(network, segment)
        for name in lab.order:
            role = lab.role[name]
            if role in (BRIDGE, DAEMONS) or network in lab.connected[name] or network.version not in lab.families(name):
                continue
            if role == FORWARDER:
                steps = [n for n in lab.neighbours[name][network.version]
                         if lab.forwards(n.node) and distance.get(n.node) == distance.get(name, -1) - 1]
                if name not in distance or not steps:
                    proposals.unreachable[network].append(name)
                else:
                    proposals.propose(name, network, min(steps, key=lambda n: _key(n.address)))
                continue
            mode, gateways, chosen = plans[(name, network.version)]
            if mode == "none":
                continue  # said once for the host, above
            reaching = [g for g in gateways if g.node in distance]
            if not reaching:
                proposals.unreachable[network].append(name)
                continue
            fewest = min(distance[g.node] for g in reaching)
            best = [g for g in reaching if distance[g.node] == fewest]
            default = chosen.address if isinstance(chosen, _Neighbour) else chosen
            if mode == "default" and any(g.address == default for g in best):
                continue  # the default route goes the shortest way already
            proposals.propose(name, network, min(best, key=lambda n: _key(n.address)))

    for network in sorted(lab.down_only, key=lambda n: (n.version, int(n.network_address), n.prefixlen)):
        notes.append(f"{network} is only on links that are down: no route to it proposed")
    for network, names in proposals.unreachable.items():
        members = lab.on[(next(iter(lab.segments_of[network])), network)]
        why = "no path over links that are up" if any(lab.forwards(m[0]) for m in members) else "no router is on it"
        notes.append(f"{network} cannot be reached from {_names(names)} ({why}): no route to it proposed")
    routes = []
    for name in lab.order:
        if proposals.kept.get(name):
            kept = sorted(proposals.kept[name], key=lambda item: (item[0].version, int(item[0].network_address)))
            notes.append(f"{name} keeps its own route{'s' if len(kept) > 1 else ''} to "
                         + ", ".join(f"{n} (a shortest way: via {via.address})" for n, via in kept))
        mine = sorted(proposals.routes.get(name, []),
                      key=lambda item: (item[0].version, item[0].prefixlen != 0, int(item[0].network_address),
                                        item[0].prefixlen))
        if len(lab.own[name]) + len(mine) > MAX_ROUTES_PER_NODE:
            notes.append(f"{name} would need {len(mine)} routes besides its own {len(lab.own[name])}; a node holds at "
                         f"most {MAX_ROUTES_PER_NODE}: none proposed for it")
            continue
        for network, via in mine:
            routes.append({"node": name, "to": _to(network), "via": _text(via.address)})
    return Computed(routes, notes)


def with_routes(document: schema.Document, routes: list[dict]) -> dict:
    """The document as JSON data (:func:`schema.dump`) with ``routes`` added after each node's own."""
    data = schema.dump(document)
    by_node: dict[str, list[dict]] = defaultdict(list)
    for route in routes:
        by_node[route["node"]].append({"to": route["to"], "via": route["via"]})
    for node in data["nodes"]:
        if by_node.get(node["name"]):
            node["routes"] = list(node.get("routes", [])) + by_node[node["name"]]
    return data
