"""Rules that look across a whole ``topolab/v1`` document.

Each check takes the items that passed their own type checks and returns a
list of :class:`Problem` values (:func:`check_routes`, :func:`check_document`
and :func:`check_parts`: a pair, errors and warnings); errors reject the
document, warnings only inform. :func:`check_json` comes first of all, on the
parsed JSON itself, for values no model should see.

Every check costs about the size of the document (n log n at worst), never its
square: addresses are compared as integers in dicts, and "is this address in
one of those subnets" is a binary search among the subnets, sorted and merged.
Within :func:`topology.schema.validate` each address is read once, by its
model; the checks get it back from :func:`~.models.remembered_addresses`.
"""
from __future__ import annotations

import ipaddress
from bisect import bisect_right
from dataclasses import dataclass
from typing import Any, Iterable, NamedTuple

from ..kinds import kind as kind_of
from .models import MAX_INTEGER_DIGITS, Document, Link, Node, address_key


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
    # In the whole document: these bound the work of checking it (every address and route is read and
    # compared) so that the largest document allowed is checked in well under a second. A 100-router
    # ring with a static route from every router to every subnet it is not on needs about 10,000.
    max_addresses: int = 12288
    max_routes: int = 12288
    max_cpus: float = 2.0
    max_memory_mb: int = 2048
    max_pids: int = 4096


class LongInteger:
    """Stands for an integer of the JSON text too long to read (what :func:`topology.schema.loads` puts
    in its place, for :func:`check_json` to report with its path)."""

    __slots__ = ("digits",)

    def __init__(self, digits: int):
        self.digits = digits


_LONGEST = 10 ** MAX_INTEGER_DIGITS  # the smallest integer of one digit too many


def _digits(value: int) -> int:
    """How many decimal digits ``value`` has (without making its text, which Python may refuse)."""
    value = abs(value)
    digits = int((value.bit_length() - 1) * 0.30102999566398120) + 1  # the fewest it can have
    return digits + 1 if value >= 10 ** digits else digits


def _surrogate(text: str) -> str | None:
    """The first lone UTF-16 surrogate in ``text``, written ``\\ud800``; None when ``text`` is text
    (JSON's ``\\ud800`` escape makes one in a Python string; no UTF-8 can hold it)."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a surrogate is the one thing a str holds that UTF-8 cannot
        return f"\\u{ord(text[exc.start]):04x}"
    return None


def _readable(data: Any) -> bool:
    """Whether every string and key of ``data`` is text and every integer short enough (no paths:
    the fast pass, over every value of a document that is nearly always fine)."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if not value.isascii() and _surrogate(value):
                return False
        elif isinstance(value, dict):
            if any(isinstance(key, str) and not key.isascii() and _surrogate(key) for key in value):
                return False
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, int):
            if not -_LONGEST < value < _LONGEST:
                return False
        elif isinstance(value, LongInteger):
            return False
    return True


def check_json(data: Any) -> list[Problem]:
    """Errors in the JSON values themselves, before any model sees them: a string or a key holding a
    lone UTF-16 surrogate (which no UTF-8 text can hold, so the document could be neither stored
    as text nor exported) and an integer of more than ``MAX_INTEGER_DIGITS`` digits (which Python
    cannot turn into text). Each is reported with its JSON path, in the document's order."""
    if _readable(data):
        return []
    problems: list[Problem] = []
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if surrogate := _surrogate(value):
                problems.append(Problem(path, f"holds a lone UTF-16 surrogate ({surrogate}), which is not text"))
        elif isinstance(value, dict):
            children = []
            for key, child in value.items():
                surrogate = _surrogate(key) if isinstance(key, str) else None
                # The path itself must be text: the key's surrogates are written as escapes.
                name = key.encode("utf-8", "backslashreplace").decode("utf-8") if surrogate else str(key)
                child_path = f"{path}.{name}" if path else name
                if surrogate:
                    problems.append(Problem(child_path, f"the key holds a lone UTF-16 surrogate ({surrogate}), "
                                                        "which is not text"))
                children.append((child_path, child))
            stack.extend(reversed(children))
        elif isinstance(value, list):
            stack.extend(reversed([(f"{path}[{i}]", child) for i, child in enumerate(value)]))
        elif isinstance(value, LongInteger) or (isinstance(value, int) and not -_LONGEST < value < _LONGEST):
            digits = value.digits if isinstance(value, LongInteger) else _digits(value)
            problems.append(Problem(path, f"is an integer of {digits} digits; a number has at most {MAX_INTEGER_DIGITS}"))
    return problems


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


def _ip_text(version: int, value: int) -> str:
    return str(ipaddress.IPv4Address(value) if version == 4 else ipaddress.IPv6Address(value))


class Subnets:
    """The union of some subnets of one IP family, asked whether an address is in any of them.

    The subnets become sorted, merged ranges of integers; a question is a binary search. A few
    (``FEW``: an interface's one or two) are only looked through, which costs less than sorting.
    """

    FEW = 4

    def __init__(self, version: int, subnets: Iterable[tuple[int, int]]):
        """``subnets``: ``(an address in it as an integer, prefix length)`` pairs."""
        bits = 32 if version == 4 else 128
        self.ranges = []
        for value, prefix in subnets:
            size = 1 << (bits - prefix)
            first = value & ~(size - 1)
            self.ranges.append((first, first + size - 1))
        self.firsts: list[int] = []
        self.lasts: list[int] = []
        if len(self.ranges) <= self.FEW:
            return
        for first, last in sorted(self.ranges):
            if self.lasts and first <= self.lasts[-1] + 1:  # inside, overlapping or next to the one before
                self.lasts[-1] = max(self.lasts[-1], last)
            else:
                self.firsts.append(first)
                self.lasts.append(last)

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def __contains__(self, value: int) -> bool:
        if len(self.ranges) <= self.FEW:
            return any(first <= value <= last for first, last in self.ranges)
        i = bisect_right(self.firsts, value) - 1
        return i >= 0 and value <= self.lasts[i]


def check_addresses(links: list[tuple[int, Link]]) -> list[Problem]:
    """Errors: an IP address used twice in the document (whatever its prefix length)."""
    errors: list[Problem] = []
    seen: dict[tuple[int, int], tuple[int, int, int]] = {}  # where each address is first, as (i, j, k)
    for i, link in links:
        for j, end in enumerate(link.endpoints):
            for k, (version, value, _) in enumerate(end.address_keys()):
                earlier = seen.setdefault((version, value), (i, j, k))
                if earlier != (i, j, k):
                    errors.append(Problem(_address_path(i, j, k),
                                          f"{_ip_text(version, value)} is already used at {_address_path(*earlier)}"))
    return errors


def _address_path(i: int, j: int, k: int) -> str:
    return f"links[{i}].endpoints[{j}].addresses[{k}]"


def node_interfaces(doc_links: list[tuple[int, Link]]) -> dict[str, dict[str, list]]:
    """For each node its links name, ``{interface: [its addresses]}`` (as :meth:`Endpoint.address_keys` gives them)."""
    result: dict[str, dict[str, list]] = {}
    for _, link in doc_links:
        for end in link.endpoints:
            result.setdefault(end.node, {})[end.interface] = end.address_keys()
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
        connected: dict[int, Subnets] | None = None  # by IP version, made at the node's first 'via'
        for j, route in enumerate(node.routes):
            if route.dev is not None and route.dev not in mine and (node.name, route.dev) not in known:
                errors.append(Problem(f"nodes[{i}].routes[{j}].dev", f"'{node.name}' has no interface '{route.dev}'"))
            if route.via is not None:
                if connected is None:
                    connected = {v: Subnets(v, ((value, prefix) for addrs in mine.values()
                                                for version, value, prefix in addrs if version == v))
                                 for v in (4, 6)}
                version, value = address_key(route.via)
                if value not in connected[version]:
                    via = ipaddress.ip_address(route.via)
                    warnings.append(
                        Problem(f"nodes[{i}].routes[{j}].via", f"{via} is in no subnet connected to '{node.name}'")
                    )
    return errors, warnings


def check_subnets(links: list[tuple[int, Link]]) -> list[Problem]:
    """Warn when both ends of a link have addresses of one family and no address of the second end is
    in a subnet of the first."""
    warnings: list[Problem] = []
    for i, link in links:
        a, b = (end.address_keys() for end in link.endpoints)
        for version in (4, 6):
            b_ips = [value for v, value, _ in b if v == version]
            if not b_ips:
                continue
            a_nets = Subnets(version, ((value, prefix) for v, value, prefix in a if v == version))
            if a_nets and not any(ip in a_nets for ip in b_ips):
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


def _items(value) -> list:
    return value if isinstance(value, list) else []


def count_problems(data: dict, limits: Limits) -> list[Problem]:
    """The server's limits on counts (nodes, links, addresses and routes in all), from the raw JSON data.

    Cheap (one pass, no parsing of values), so a document far over a limit costs
    nothing more than this: the caller refuses it with these problems alone.
    """
    nodes = _items(data.get("nodes"))
    links = _items(data.get("links"))
    addresses = sum(len(_items(end.get("addresses"))) for link in links if isinstance(link, dict)
                    for end in _items(link.get("endpoints")) if isinstance(end, dict))
    routes = sum(len(_items(node.get("routes"))) for node in nodes if isinstance(node, dict))
    problems = []
    for path, count, cap, what in (("nodes", len(nodes), limits.max_nodes, "nodes"),
                                   ("links", len(links), limits.max_links, "links"),
                                   ("links", addresses, limits.max_addresses, "addresses in all"),
                                   ("nodes", routes, limits.max_routes, "routes in all")):
        if count > cap:
            problems.append(Problem(path, f"{count} {what}; this server allows at most {cap}"))
    return problems


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
