"""A topolab/v1 document under construction from a foreign lab: nodes, links and the commands that configure them.

Both importers fill a :class:`Draft` (nodes with their kind's hints, links between ``node:interface``
ports, each node's commands with where they came from); :meth:`Draft.finish` turns the recognised commands
(:mod:`.shell`) into addresses, routes, sysctls and link settings, decides each node's kind, and gives the
document with, for each of its nodes and links, the file and line it came from (so that the schema's
problems can name them).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import shell
from .errors import Issue

NODE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
SYSCTL_KEY = re.compile(r"^net\.(ipv4|ipv6|core)\.[A-Za-z0-9_.-]+$")
FORWARDING = ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding")
_RENAME = re.compile(r"^ip link set (?:dev )?(\S+) down && ip link set (?:dev )?\1 name (\S+) && "
                     r"ip link set (?:dev )?\2 up$")


@dataclass(frozen=True)
class Where:
    """Where something was read: a file, a line and a YAML path."""

    file: str
    line: int = 0
    path: str = ""

    def issue(self, message: str) -> Issue:
        return Issue(self.file, self.line, message, self.path)


@dataclass
class NodeDraft:
    """One node being built. ``hint`` is the kind its source says outright (``switch``, ``frr``) or None;
    ``forwards`` what the source's default forwarding is for it when no sysctl says (None: off)."""

    name: str
    where: Where
    hint: str | None = None
    forwards: bool | None = None
    image: str | None = None
    env: dict = field(default_factory=dict)
    sysctls: dict = field(default_factory=dict)
    files: list = field(default_factory=list)
    resources: dict = field(default_factory=dict)
    position: dict | None = None
    lines: list = field(default_factory=list)  # (text, Where)
    source: str = ""  # its name in the foreign lab
    labels: dict = field(default_factory=dict)  # kept in the document's annotations


def safe_name(raw: str, taken: set[str]) -> str:
    """A topolab node name for a foreign one: lower case, ``[a-z0-9-]``, a letter first, unique."""
    name = re.sub(r"[^a-z0-9-]+", "-", str(raw).lower()).strip("-")
    if not name or not name[0].isalpha():
        name = "n" + ("-" + name if name else "")
    name = name[:31].rstrip("-")
    base, n = name, 2
    while name in taken:
        suffix = f"-{n}"
        name, n = base[:31 - len(suffix)] + suffix, n + 1
    return name


class Draft:
    """The document being built; ``problems`` and ``warnings`` collect :class:`Issue` s as it goes."""

    def __init__(self, name: str, description: str | None = None):
        self.name, self.description = name, description
        self.nodes: dict[str, NodeDraft] = {}
        self.by_source: dict[str, str] = {}
        self.links: list[dict] = []
        self.link_where: list[Where] = []
        self.ports: dict[tuple[str, str], dict] = {}
        self.problems: list[Issue] = []
        self.warnings: list[Issue] = []
        self.annotations: dict = {}

    # -- building ----------------------------------------------------------------------------------------------
    def add_node(self, source: str, where: Where, name: str | None = None) -> NodeDraft:
        """A node for the foreign ``source``, called ``name`` when that is given and free (the name an export
        kept for it), else ``source`` or the nearest valid name (with a warning)."""
        if name and NODE_NAME.match(name) and name not in self.nodes:
            return self._new_node(name, source, where)
        name = source if NODE_NAME.match(str(source)) and source not in self.nodes else safe_name(source, set(self.nodes))
        if name != source:
            why = ("a node's name is at most 31 characters" if len(str(source)) > 31 and NODE_NAME.match(str(source)[:31])
                   else "a name is lower case letters, digits and '-', starting with a letter")
            self.warnings.append(where.issue(f"node '{source}' is called '{name}' here ({why})"))
        return self._new_node(name, source, where)

    def _new_node(self, name: str, source: str, where: Where) -> NodeDraft:
        node = NodeDraft(name, where, source=str(source))
        self.nodes[name] = node
        self.by_source[str(source)] = name
        return node

    def node_of(self, source: str) -> str | None:
        return self.by_source.get(str(source))

    def add_link(self, ends: list[tuple[str, str, dict]], where: Where, extra: dict | None = None) -> bool:
        """Add a link between two ``(source node, interface, endpoint extras)``; a problem and False when an
        end names no node or a port already used."""
        endpoints, ok = [], True
        for source, interface, more in ends:
            node = self.node_of(source)
            if node is None:
                self.problems.append(where.issue(f"no node named '{source}'"))
                ok = False
                continue
            if (node, interface) in self.ports:
                self.problems.append(where.issue(f"interface {source}:{interface} is in two links"))
                ok = False
                continue
            endpoints.append({"node": node, "interface": interface, **more})
        if not ok:
            return False
        if endpoints[0]["node"] == endpoints[1]["node"] and endpoints[0]["interface"] == endpoints[1]["interface"]:
            self.problems.append(where.issue("a link from an interface to itself"))
            return False
        link = {"endpoints": endpoints, **(extra or {})}
        for endpoint in endpoints:
            self.ports[(endpoint["node"], endpoint["interface"])] = endpoint
        self.links.append(link)
        self.link_where.append(where)
        return True

    # -- finishing ---------------------------------------------------------------------------------------------
    def finish(self) -> tuple[dict, dict[str, Where]]:
        """The document and, for ``nodes[i]`` and ``links[i]``, where each came from."""
        settings: dict[tuple[str, str], dict] = {}
        document_nodes = []
        origins: dict[str, Where] = {}
        for i, node in enumerate(self.nodes.values()):
            document_nodes.append(self._finish_node(node, settings))
            origins[f"nodes[{i}]"] = node.where
        for i, link in enumerate(self.links):
            self._link_settings(link, settings, self.link_where[i])
            origins[f"links[{i}]"] = self.link_where[i]
        document = {"format": "topolab/v1", "name": self.name}
        if self.description:
            document["description"] = self.description
        document["nodes"] = document_nodes
        document["links"] = self.links
        if self.annotations:
            document["annotations"] = self.annotations
        return document, origins

    def _rename(self, node: NodeDraft) -> list[tuple[str, Where, shell.Action | None]]:
        """The node's lines parsed, with interface renames applied to its ports first."""
        parsed = []
        for text, where in node.lines:
            match = _RENAME.match(text.strip())
            action = shell.Action("rename", match.groups()) if match else shell.parse(text)
            if action and action.what == "rename":
                old, new = action.args
                endpoint = self.ports.pop((node.name, old), None)
                if endpoint is not None and (node.name, new) not in self.ports:
                    endpoint["interface"] = new
                    self.ports[(node.name, new)] = endpoint
                    continue
                if endpoint is not None:
                    self.ports[(node.name, old)] = endpoint
            parsed.append((text, where, action))
        return parsed

    def _finish_node(self, node: NodeDraft, settings: dict) -> dict:
        parsed = self._rename(node)
        mine = {iface for (name, iface) in self.ports if name == node.name}
        bridges = {a.args[0] for _, _, a in parsed if a and a.what == "bridge"}
        masters = {a.args[0]: a.args[1] for _, _, a in parsed if a and a.what == "master"}
        addressed = {a.args[0] for _, _, a in parsed if a and a.what == "addr"}
        kind = node.hint
        if kind is None and len(bridges) == 1 and mine and all(masters.get(i) in bridges for i in mine) \
                and not (addressed & (mine | bridges)) and set(masters) <= mine:
            kind = "switch"
        sysctls = dict(node.sysctls)
        for _, _, action in parsed:
            if action and action.what == "sysctl" and SYSCTL_KEY.match(action.args[0]):
                sysctls[action.args[0]] = str(action.args[1])
        if kind is None:
            said = [sysctls[k] for k in FORWARDING if k in sysctls]
            forwards = any(v == "1" for v in said) if said else bool(node.forwards)
            kind = "router" if forwards else "host"
        forward_value = "1" if kind in ("router", "frr") else "0"
        for key in FORWARDING:
            if sysctls.get(key) == forward_value:
                del sysctls[key]  # what the kind sets already

        routes, exec_lines = [], []
        for text, where, action in parsed:
            what = action.what if action else None
            args = action.args if action else ()
            if what == "comment":
                continue
            if what == "sysctl" and SYSCTL_KEY.match(args[0]):
                continue
            if what == "addr" and args[0] in mine and kind != "switch":
                self.ports[(node.name, args[0])].setdefault("addresses", []).append(args[1])
                continue
            if what == "route" and (args[2] is None or args[2] in mine):
                routes.append({"to": args[0], **({"via": args[1]} if args[1] else {"dev": args[2]})})
                continue
            if what == "up" and (args[0] in mine or (kind == "switch" and args[0] in bridges)):
                continue
            if what in ("down", "mtu", "netem", "mac") and args[0] in mine:
                settings.setdefault((node.name, args[0]), {})[what] = (args[1] if len(args) > 1 else True, where)
                continue
            if what in ("bridge", "master") and kind == "switch":
                continue
            if what == "frr" and kind == "frr":
                continue
            if what == "addr" and args[0] not in ("lo",) and args[0] not in mine:
                self.warnings.append(where.issue(f"'{text.strip()}': {node.name} has no link on {args[0]}; "
                                                 "kept as a command"))
            exec_lines.append(text.strip() if "\n" not in text else text)
        out: dict = {"name": node.name, "kind": kind}
        if node.image:
            out["image"] = node.image
        if node.position:
            out["position"] = node.position
        if routes:
            out["routes"] = routes
        if sysctls:
            out["sysctls"] = sysctls
        if node.env:
            out["env"] = node.env
        if node.files:
            out["files"] = node.files
        if exec_lines:
            out["exec"] = exec_lines
        if node.resources:
            out["resources"] = node.resources
        return out

    def _link_settings(self, link: dict, settings: dict, where: Where) -> None:
        """Link state, MTU and impairment from what its ends' commands set (both ends alike, or a warning)."""
        ends = [settings.get((e["node"], e["interface"]), {}) for e in link["endpoints"]]
        for key, what in (("state", "down"), ("mtu", "mtu"), ("impairment", "netem")):
            values = [end[what][0] for end in ends if what in end]
            if not values:
                continue
            if len(values) == 1 or values[0] != values[1]:
                self.warnings.append(where.issue(f"the two ends of this link set its {key} differently; in "
                                                 "topolab/v1 it is the link's, on both ends: both get the first"))
            link[key] = "down" if key == "state" else values[0]
        for endpoint, end in zip(link["endpoints"], ends, strict=True):
            if "mac" in end:
                endpoint["mac"] = end["mac"][0]
