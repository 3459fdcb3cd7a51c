"""Plans for one node of a running lab: stop it, or start it again wired as the document says (pure: no I/O).

Stopping a node first deletes its link ends in its own namespace (a veth's
other end goes with it, at once: the kernel frees a dead namespace a while
after its last process ends, and a neighbour's end left until then would be
in the way of the link made again), then stops its container.

Starting it again runs the steps a deploy would run for that node alone, and,
for each neighbour that is running, the steps of the neighbour's end of their
links: the veth born again in both namespaces under the same names, each end's
MAC (the document's, or the lab's own for it: :func:`names.interface_mac`),
MTU, addresses, bridge port and state, the neighbour's sysctls of that
interface, its routes (all of them again, ``exist_ok``: the kernel dropped those
through the vanished end), the link's impairment on both ends; then the node's
own sysctls, routes and ``exec`` commands, as at deploy. A link to a neighbour
that is not running is left out: it comes back when that neighbour starts.
Nothing else of the neighbours is touched.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import ClassVar

from .. import kinds
from ..schema import Document
from . import names
from .plan import (
    CONTAINERS,
    AddRoute,
    Context,
    CreateBridge,
    CreateLink,
    ExecSequence,
    Impair,
    Phase,
    Plan,
    SetSysctls,
    StartContainer,
    Step,
    _sysctls,
    _through_down_link,
    check_deployable,
    configure_step,
    create_step,
    node_commands,
)
from .states import NodeState

# A sysctl of one interface: net.ipv4.conf.<ifname>.<key>, and the same under ipv6 and neigh.
INTERFACE_KEY = re.compile(r"^net\.ipv[46]\.(?:conf|neigh)\.([^.]+)\.")


@dataclass(frozen=True)
class UnplugNode(Step):
    """Delete a node's link ends in its namespace (their other ends go with them): every interface carrying
    the lab's ``alias``, whatever the document, edited since the deploy, calls them now."""

    alias: str

    TITLE: ClassVar[str] = "unplug {node}"


@dataclass(frozen=True)
class StopContainer(Step):
    """Stop a node's container (kept, to be started again)."""

    TITLE: ClassVar[str] = "stop {node}"
    DONE_STATE: ClassVar[NodeState | None] = NodeState.STOPPED


def interfaces_of(doc: Document, node: str) -> list[str]:
    """The names of ``node``'s link ends, in the document's order."""
    return [end.interface for link in doc.links for end in link.endpoints if end.node == node]


def stop_plan(ctx: Context, node: str) -> Plan:
    """Unplug ``node``, then stop its container."""
    return Plan((Phase("unplug", (UnplugNode(node=node, alias=names.interface_alias(ctx.site, ctx.lab_id)),)),
                 Phase("stop container", (StopContainer(node=node),), CONTAINERS)))


def _interface_key(key: str) -> str | None:
    found = INTERFACE_KEY.match(key)
    return found.group(1) if found else None


def _reach(doc: Document, name: str, carries) -> tuple[set, list, list]:
    """``name``'s down interfaces, and the networks of its down and up links, where ``carries(link, other)``
    says whether a link (to the node of ``other``, its other end) carries traffic now."""
    down_ifaces: set = set()
    down_nets: list = []
    up_nets: list = []
    for link in doc.links:
        for this, other in ((link.endpoints[0], link.endpoints[1]), (link.endpoints[1], link.endpoints[0])):
            if this.node != name:
                continue
            nets = [i.network for i in this.interface_addresses()]
            if carries(link, other):
                up_nets.extend(nets)
            else:
                down_ifaces.add(this.interface)
                down_nets.extend(nets)
    return down_ifaces, down_nets, up_nets


def _routes(doc: Document, name: str, running: set[str]) -> list[AddRoute]:
    """The routes of ``name`` the kernel can hold while the nodes in ``running`` run (``exist_ok``)."""
    reach = _reach(doc, name, lambda link, other: link.state == "up" and other.node in running)
    return [AddRoute(node=name, to=str(route.network()), via=route.via, dev=route.dev, exist_ok=True)
            for route in doc.node(name).routes if not _through_down_link(route, *reach)]


def start_plan(doc: Document, ctx: Context, node: str, running: set[str], *, container_exists: bool) -> Plan:
    """Start ``node`` (creating its container first when it no longer exists) and wire it to the running
    nodes in ``running`` (its neighbours among them; ``node`` itself is not in it)."""
    check_deployable(doc)
    this_node = doc.node(node)
    kind_of = {n.name: kinds.kind(n.kind) for n in doc.nodes}
    alias = names.interface_alias(ctx.site, ctx.lab_id)
    now_running = set(running) | {node}

    links, interfaces, impairments = [], [], []
    created: dict[str, set[str]] = {}  # node -> its ends made again
    families: dict[str, set[int]] = {}
    for link in doc.links:
        a, b = link.endpoints
        for end in (a, b):
            families.setdefault(end.node, set()).update(ipaddress.ip_interface(x).version for x in end.addresses)
        if node not in (a.node, b.node):
            continue
        this, other = (a, b) if a.node == node else (b, a)
        if other.node not in now_running:
            continue
        links.append(CreateLink(node=this.node, interface=this.interface, peer_node=other.node,
                                peer_interface=other.interface, alias=alias))
        for end in (this, other):
            created.setdefault(end.node, set()).add(end.interface)
            interfaces.append(configure_step(end, link, kind_of[end.node].bridge, ctx))
            if link.impairment is not None:
                impairments.append(Impair(node=end.node, interface=end.interface, impairment=link.impairment))

    sysctls = []
    for name in [node] + sorted(created.keys() - {node}):
        mine = created.get(name, set())
        values = _sysctls(doc.node(name), families.get(name, set()), sorted(mine))
        ends = set(interfaces_of(doc, name))
        if name == node:  # all of its own, but those of its ends left out (their neighbour is not running)
            kept = {k: v for k, v in values.items() if _interface_key(k) not in ends - mine}
        else:  # a neighbour's: those of its ends made again only
            kept = {k: v for k, v in values.items() if _interface_key(k) in mine}
        if kept:
            sysctls.append(SetSysctls(node=name, values=tuple(kept.items())))

    routes = _routes(doc, node, now_running)
    for name in sorted(created.keys() - {node}):
        routes += _routes(doc, name, now_running)

    bridge = kind_of[node].bridge
    phases = [
        Phase("create container", (create_step(this_node, ctx),), CONTAINERS) if not container_exists else None,
        Phase("start container", (StartContainer(node=node),), CONTAINERS),
        Phase("create links", tuple(links)),
        Phase("create bridge", (CreateBridge(node=node, bridge=bridge, alias=alias),)) if bridge else None,
        Phase("set sysctls", tuple(sysctls)),
        Phase("configure interfaces", tuple(interfaces)),
        Phase("add routes", tuple(routes)),
        Phase("impair links", tuple(impairments)),
        Phase("run exec commands", (ExecSequence(node=node, commands=node_commands(this_node)),))
        if node_commands(this_node) else None,
    ]
    return Plan(tuple(phase for phase in phases if phase is not None and phase.steps))


def restart_plan(doc: Document, ctx: Context, node: str, running: set[str]) -> Plan:
    """Stop ``node`` and start it again (its container kept)."""
    return Plan(stop_plan(ctx, node).phases + start_plan(doc, ctx, node, running, container_exists=True).phases)
