"""Rules that look across a whole ``topolab/v1`` document.

Each check takes the items that passed their own type checks and returns a
list of :class:`Problem` values (:func:`check_routes`, :func:`check_document`
and :func:`check_parts`: a pair, errors and warnings); errors reject the
document, warnings only inform.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import NamedTuple

from ..kinds import kind as kind_of
from .models import Document, Link, Node


class Problem(NamedTuple):
    """One error or warning, with the JSON path of what it is about."""

    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass(frozen=True)
class Limits:
    """What the server allows: how many nodes and links a document may have, and caps on a node's resources."""

    max_nodes: int = 500
    max_links: int = 2000
    max_cpus: float = 2.0
    max_memory_mb: int = 2048
    max_pids: int = 4096


def _same_file(path: str) -> str:
    """One spelling per file: ``/etc//frr/./frr.conf`` and ``/etc/frr/frr.conf`` are one file."""
    return "/" + "/".join(part for part in path.split("/") if part not in ("", "."))


def check_nodes(nodes: list[tuple[int, Node]], limits: Limits) -> list[Problem]:
    """Errors: a node name given twice, a file path given twice in one node (however spelled).

    ``limits`` is not used here: resource caps are warnings, from :func:`check_resources`.
    """
    errors: list[Problem] = []
    seen: dict[str, int] = {}
    for i, node in nodes:
        if node.name in seen:
            errors.append(Problem(f"nodes[{i}].name", f"'{node.name}' is already the name of nodes[{seen[node.name]}]"))
        else:
            seen[node.name] = i
        paths: dict[str, int] = {}
        for j, f in enumerate(node.files):
            same = _same_file(f.path)
            if same in paths:
                errors.append(Problem(f"nodes[{i}].files[{j}].path",
                                      f"'{f.path}' is given twice (also nodes[{i}].files[{paths[same]}])"))
            else:
                paths[same] = j
    return errors


def check_links(
    links: list[tuple[int, Link]], node_names: set[str], nodes_by_name: dict[str, Node]
) -> list[Problem]:
    """Errors: an endpoint naming no node, an interface used twice, an address on a bridging node
    (a switch) or an interface named like its bridge."""
    errors: list[Problem] = []
    used: dict[tuple[str, str], str] = {}
    for i, link in links:
        for j, end in enumerate(link.endpoints):
            path = f"links[{i}].endpoints[{j}]"
            if end.node not in node_names:
                errors.append(Problem(f"{path}.node", f"no node named '{end.node}'"))
                continue
            key = (end.node, end.interface)
            if key in used:
                errors.append(
                    Problem(f"{path}.interface", f"{end.node}:{end.interface} is already used by {used[key]}")
                )
            else:
                used[key] = f"links[{i}]"
            node = nodes_by_name.get(end.node)
            bridge = kind_of(node.kind).bridge if node is not None else None
            if bridge is not None:
                if end.addresses:
                    errors.append(
                        Problem(f"{path}.addresses", f"'{end.node}' is a {node.kind}: its interfaces carry no addresses")
                    )
                if end.interface == bridge:
                    errors.append(
                        Problem(f"{path}.interface", f"'{bridge}' is the {node.kind}'s own bridge; choose another name")
                    )
    return errors


def check_addresses(links: list[tuple[int, Link]]) -> list[Problem]:
    """Errors: an IP address used twice in the document (whatever its prefix length)."""
    errors: list[Problem] = []
    seen: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, str] = {}
    for i, link in links:
        for j, end in enumerate(link.endpoints):
            for k, iface in enumerate(end.interface_addresses()):
                path = f"links[{i}].endpoints[{j}].addresses[{k}]"
                if iface.ip in seen:
                    errors.append(Problem(path, f"{iface.ip} is already used at {seen[iface.ip]}"))
                else:
                    seen[iface.ip] = path
    return errors


def node_interfaces(doc_links: list[tuple[int, Link]]) -> dict[str, dict[str, list]]:
    """For each node its links name, ``{interface: [its addresses]}``."""
    result: dict[str, dict[str, list]] = {}
    for _, link in doc_links:
        for end in link.endpoints:
            result.setdefault(end.node, {})[end.interface] = end.interface_addresses()
    return result


def check_routes(
    nodes: list[tuple[int, Node]], links: list[tuple[int, Link]], known: set[tuple[str, str]] | None = None
) -> tuple[list[Problem], list[Problem]]:
    """A route's ``dev`` must be the node's interface (error); its ``via`` should be in a subnet of one of
    the node's own addresses (warning).

    ``known`` adds ``(node, interface)`` pairs named by links that failed their own
    checks: a route through such an interface is not the route's mistake.
    """
    errors: list[Problem] = []
    warnings: list[Problem] = []
    interfaces = node_interfaces(links)
    known = known or set()
    for i, node in nodes:
        mine = interfaces.get(node.name, {})
        connected = [a.network for addrs in mine.values() for a in addrs]
        for j, route in enumerate(node.routes):
            path = f"nodes[{i}].routes[{j}]"
            if route.dev is not None and route.dev not in mine and (node.name, route.dev) not in known:
                errors.append(Problem(f"{path}.dev", f"'{node.name}' has no interface '{route.dev}'"))
            if route.via is not None:
                via = ipaddress.ip_address(route.via)
                if not any(via in net for net in connected):
                    warnings.append(
                        Problem(f"{path}.via", f"{via} is in no subnet connected to '{node.name}'")
                    )
    return errors, warnings


def check_subnets(links: list[tuple[int, Link]]) -> list[Problem]:
    """Warn when both ends of a link have addresses of one family and no address of the second end is
    in a subnet of the first."""
    warnings: list[Problem] = []
    for i, link in links:
        a, b = (end.interface_addresses() for end in link.endpoints)
        for version in (4, 6):
            a_nets = {x.network for x in a if x.version == version}
            b_ips = [x.ip for x in b if x.version == version]
            if a_nets and b_ips and not any(ip in net for ip in b_ips for net in a_nets):
                warnings.append(Problem(f"links[{i}]", f"the two ends have IPv{version} addresses in different subnets"))
    return warnings


def check_unlinked(nodes: list[tuple[int, Node]], links: list[tuple[int, Link]]) -> list[Problem]:
    """Warn about nodes that no link reaches."""
    linked = {end.node for _, link in links for end in link.endpoints}
    return [Problem(f"nodes[{i}]", f"'{node.name}' has no link") for i, node in nodes if node.name not in linked]


def check_resources(nodes: list[tuple[int, Node]], limits: Limits) -> list[Problem]:
    """Warn where a node asks for more than the server allows: it gets the cap."""
    warnings: list[Problem] = []
    caps = {"cpus": limits.max_cpus, "memory_mb": limits.max_memory_mb, "pids": limits.max_pids}
    for i, node in nodes:
        if node.resources is None:
            continue
        for key, cap in caps.items():
            asked = getattr(node.resources, key)
            if asked is not None and asked > cap:
                warnings.append(
                    Problem(f"nodes[{i}].resources.{key}", f"asks for {asked}; this server caps it at {cap}")
                )
    return warnings


def check_document(doc: Document, limits: Limits) -> tuple[list[Problem], list[Problem]]:
    """All cross-document rules of a fully typed document: (errors, warnings)."""
    return check_parts(list(enumerate(doc.nodes)), list(enumerate(doc.links)), {n.name for n in doc.nodes}, limits)


def check_parts(
    nodes: list[tuple[int, Node]],
    links: list[tuple[int, Link]],
    node_names: set[str],
    limits: Limits,
    *,
    node_count: int | None = None,
    link_count: int | None = None,
    interfaces: set[tuple[str, str]] | None = None,
) -> tuple[list[Problem], list[Problem]]:
    """Cross-document rules over the items that passed their own checks: (errors, warnings).

    ``node_names`` holds every name given in the document, typed or not, so that
    an endpoint naming a node with some other mistake is not reported twice.
    When some items failed their own checks, ``node_count`` and ``link_count``
    give the document's real sizes (the limits count every item) and
    ``interfaces`` every ``(node, interface)`` its links name.
    """
    errors: list[Problem] = []
    node_count = len(nodes) if node_count is None else node_count
    link_count = len(links) if link_count is None else link_count
    if node_count > limits.max_nodes:
        errors.append(Problem("nodes", f"{node_count} nodes; this server allows at most {limits.max_nodes}"))
    if link_count > limits.max_links:
        errors.append(Problem("links", f"{link_count} links; this server allows at most {limits.max_links}"))
    by_name = {node.name: node for _, node in nodes}
    errors += check_nodes(nodes, limits)
    errors += check_links(links, node_names, by_name)
    errors += check_addresses(links)
    route_errors, route_warnings = check_routes(nodes, links, interfaces)
    errors += route_errors
    warnings = route_warnings + check_subnets(links) + check_unlinked(nodes, links) + check_resources(nodes, limits)
    return errors, warnings
