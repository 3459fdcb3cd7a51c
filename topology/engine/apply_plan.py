"""The difference between the document a lab runs and a new one, as the steps that make it so (pure: no I/O).

"Apply changes" on a running lab changes what changed and nothing else:

- a node removed goes (unplugged, its container removed); a node added is
  created, started and wired to its running neighbours as a deploy would;
- a node whose kind, image, env, resources or ``exec`` changed, or that lost
  a sysctl (the value a fresh namespace has is the only way back), or an frr
  node whose files under /etc/frr changed (its daemons read them once), cannot
  change in place: it is made again (a new container from the new document)
  and wired again, its neighbours keeping their containers;
- a node that stays gets in place: its links removed and added, the changed
  ends of its links (addresses, MAC, MTU, state, impairment), its changed sysctls, its routes removed and added (all
  of them again, ``exist_ok``, where an address or a link changed under them:
  the kernel drops routes with their interface or address), and its changed
  files written (removed ones deleted);
- nodes that are not running (stopped, failed) are left as they are: they
  start, later, from the new document.

:func:`apply_plan` returns the plan with a :class:`Changes` saying all of it
in a user's words, for the preview before anything is done.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import ClassVar

from .. import kinds
from ..schema import Document
from . import names
from .node_plan import INTERFACE_KEY, UnplugNode, start_plan
from .plan import (
    CONTAINERS,
    AddRoute,
    Context,
    CreateLink,
    Impair,
    Phase,
    Plan,
    SetSysctls,
    Step,
    _sysctls,
    _through_down_link,
    check_deployable,
    configure_step,
    node_commands,
    node_files,
    node_main_command,
)

# The phases of an apply, in order; each node started afresh brings the phases of a start (node_plan).
ORDER = ("remove links", "unplug", "remove containers", "create container", "start container", "create links",
         "create bridge", "set sysctls", "configure interfaces", "reconfigure interfaces", "remove routes",
         "add routes", "impair links", "write files", "run exec commands")


@dataclass(frozen=True)
class DeleteInterface(Step):
    """Delete one link end of a node that stays (the other end goes with it)."""

    interface: str

    TITLE: ClassVar[str] = "unlink {node}:{interface}"


@dataclass(frozen=True)
class RemoveContainer(Step):
    """Remove a node's container (a node removed, or made again)."""

    TITLE: ClassVar[str] = "remove {node}"


@dataclass(frozen=True)
class ReconfigureInterface(Step):
    """Change one end of a link that stays: its old addresses go, its new ones come; MAC, MTU, state."""

    interface: str
    addresses: tuple = ()         # all of the end's addresses now (those it has already are fine)
    remove: tuple = ()            # addresses it no longer has
    mac: str | None = None        # None: unchanged
    mtu: int | None = None        # None: unchanged
    up: bool | None = None        # None: unchanged

    TITLE: ClassVar[str] = "reconfigure {node}:{interface}"


@dataclass(frozen=True)
class DeleteRoute(Step):
    """A static route a node no longer has (one already gone is fine)."""

    to: str
    via: str | None = None
    dev: str | None = None

    @property
    def title(self) -> str:
        target = f"via {self.via}" if self.via else f"dev {self.dev}"
        return f"unroute {self.node}: {self.to} {target}"


@dataclass(frozen=True)
class WriteFiles(Step):
    """Files of a running node written in place (``files``: path, content, mode), others deleted (``remove``)."""

    files: tuple = ()
    remove: tuple = ()

    TITLE: ClassVar[str] = "files {node}"


@dataclass
class Changes:
    """What an apply does, for people: each list holds short sentences or small dicts (see :meth:`as_dict`)."""

    nodes_created: list[str] = field(default_factory=list)
    nodes_removed: list[str] = field(default_factory=list)
    nodes_restarted: list[dict] = field(default_factory=list)   # {"node", "why": [...]}
    links_added: list[str] = field(default_factory=list)
    links_removed: list[str] = field(default_factory=list)
    links_changed: list[dict] = field(default_factory=list)     # {"link", "what": [...]}
    addresses_added: list[str] = field(default_factory=list)    # "c2:eth0 192.168.11.3/24"
    addresses_removed: list[str] = field(default_factory=list)
    routes_added: list[str] = field(default_factory=list)       # "c1: 10.0.0.0/8 via 192.168.10.1"
    routes_removed: list[str] = field(default_factory=list)
    sysctls: list[str] = field(default_factory=list)            # "r1: net.ipv4.ip_forward=1"
    files: list[str] = field(default_factory=list)              # "r1: /etc/motd (written)"
    left: list[str] = field(default_factory=list)               # nodes not running, left for their start

    @property
    def empty(self) -> bool:
        return not any(getattr(self, name) for name in self.__dataclass_fields__ if name != "left")

    def as_dict(self) -> dict:
        return {name: list(getattr(self, name)) for name in self.__dataclass_fields__}


def link_key(link) -> frozenset:
    """A link's identity: its two ends (``(node, interface)``), in either order."""
    return frozenset((e.node, e.interface) for e in link.endpoints)


def link_title(link) -> str:
    a, b = link.endpoints
    return f"{a.node}:{a.interface} - {b.node}:{b.interface}"


def _route_key(route) -> tuple:
    return (str(route.network()), route.via and str(ipaddress.ip_address(route.via)), route.dev)


def _route_text(node: str, key: tuple) -> str:
    to, via, dev = key
    return f"{node}: {to} " + (f"via {via}" if via else f"dev {dev}")


def restart_reasons(old, new) -> list[str]:
    """Why node ``old`` cannot become ``new`` in place (empty: it can)."""
    why = []
    if old.kind != new.kind:
        why.append(f"kind {old.kind} → {new.kind}")
    if old.effective_image != new.effective_image:
        why.append(f"image {old.effective_image} → {new.effective_image}")
    if old.env != new.env:
        why.append("env changed")
    if old.resources != new.resources:
        why.append("resources changed")
    if node_commands(old) != node_commands(new):
        why.append("exec commands changed")
    gone = sorted(set(old.sysctls) - set(new.sysctls))
    if gone:
        why.append(f"sysctl{'s' if len(gone) > 1 else ''} removed ({', '.join(gone)})")
    if node_main_command(old) != node_main_command(new):
        why.append("main process changed")
    if kinds.kind(new.kind).frr and _frr_files(old) != _frr_files(new):
        why.append("FRR's files changed (FRR starts again with them)")
    return why


def _frr_files(node) -> dict:
    """An frr node's files under /etc/frr: its daemons read them once, at their start."""
    return {path: (content, mode) for path, content, mode in node_files(node) if path.startswith("/etc/frr/")}


def _families(doc: Document, name: str) -> set[int]:
    return {ipaddress.ip_interface(x).version for link in doc.links for e in link.endpoints if e.node == name
            for x in e.addresses}


def _merge(plans: list[Plan]) -> list[Phase]:
    """The phases of several plans run as one: steps of the same phase together, each step once, in ORDER."""
    by_name: dict[str, list] = {}
    pools: dict[str, str] = {}
    for plan in plans:
        for phase in plan.phases:
            steps = by_name.setdefault(phase.name, [])
            pools[phase.name] = phase.pool
            for step in phase.steps:
                if step not in steps:
                    steps.append(step)
    return [Phase(name, tuple(by_name[name]), pools[name]) for name in ORDER if by_name.get(name)]


def start_many(doc: Document, ctx: Context, nodes: list[str], running: set[str], exists: dict[str, bool]) -> list[Phase]:
    """Start ``nodes`` (each in its container if ``exists`` says it still has one, else a new one) wired to
    ``running`` and to each other: one plan, each link made once."""
    plans, now = [], set(running)
    for name in nodes:
        plans.append(start_plan(doc, ctx, name, now, container_exists=exists.get(name, False)))
        now.add(name)
    return _merge(plans)


def apply_plan(old: Document, new: Document, ctx: Context, running: set[str],
               containers: set[str] | None = None) -> tuple[Plan, Changes]:
    """The plan turning the lab that runs ``old`` (its nodes in ``running`` running; those in ``containers``
    holding a container, running or not: all of ``running`` when not given) into ``new``, and what it does."""
    check_deployable(new)
    containers = set(running) if containers is None else set(containers) | set(running)
    changes = Changes()
    old_nodes = {n.name: n for n in old.nodes}
    new_nodes = {n.name: n for n in new.nodes}
    removed = [name for name in old_nodes if name not in new_nodes]
    added = [name for name in new_nodes if name not in old_nodes]
    remade = {}
    for name in new_nodes:
        if name in old_nodes:
            why = restart_reasons(old_nodes[name], new_nodes[name])
            if why:
                remade[name] = why
    restarted = [name for name in new_nodes if name in remade and name in running]
    kept = {name for name in new_nodes if name in old_nodes and name not in remade and name in running}
    changes.nodes_created = list(added)
    changes.nodes_removed = list(removed)
    changes.nodes_restarted = [{"node": name, "why": remade[name]} for name in restarted]
    changes.left = sorted(name for name in new_nodes if name in old_nodes and name not in running)

    old_links = {link_key(link): link for link in old.links}
    new_links = {link_key(link): link for link in new.links}
    after = kept | set(added) | set(restarted)  # what runs once it is done
    alias = names.interface_alias(ctx.site, ctx.lab_id)

    phases: dict[str, list] = {name: [] for name in ORDER}
    touched_routes: set[str] = set()  # kept nodes whose routes are all given again (exist_ok)

    # -- links removed, between nodes that stay (those of removed or remade nodes go with their unplugging)
    for key, link in old_links.items():
        if key in new_links:
            continue
        changes.links_removed.append(link_title(link))
        ends = [e for e in link.endpoints if e.node in kept]
        if len(ends) == 2:  # else it went (or goes) with the node at its other end
            phases["remove links"].append(DeleteInterface(node=ends[0].node, interface=ends[0].interface))
        touched_routes.update(e.node for e in ends)

    # -- nodes removed or made again: unplugged, their containers removed
    for name in removed + [n for n in new_nodes if n in remade]:
        if name in running:
            phases["unplug"].append(UnplugNode(node=name, alias=alias))
        if name in containers:
            phases["remove containers"].append(RemoveContainer(node=name))

    # -- links added or changed between nodes that stay
    new_ends: set[tuple[str, str]] = set()  # ends made on nodes that stay: their interface sysctls are written
    for key, link in new_links.items():
        ends_kept = all(e.node in kept for e in link.endpoints)
        if key not in old_links:
            changes.links_added.append(link_title(link))
            changes.addresses_added += [f"{e.node}:{e.interface} {a}" for e in link.endpoints for a in e.addresses]
            if ends_kept:
                a, b = link.endpoints
                new_ends.update((e.node, e.interface) for e in link.endpoints)
                phases["create links"].append(CreateLink(node=a.node, interface=a.interface, peer_node=b.node,
                                                         peer_interface=b.interface, alias=alias))
                for end in link.endpoints:
                    phases["configure interfaces"].append(
                        configure_step(end, link, kinds.kind(new_nodes[end.node].kind).bridge, ctx))
                    if link.impairment is not None:
                        phases["impair links"].append(Impair(node=end.node, interface=end.interface,
                                                             impairment=link.impairment))
                    touched_routes.add(end.node)
            continue
        _changed_link(old_links[key], link, ends_kept, ctx, new_nodes, phases, changes, touched_routes)

    # -- sysctls, routes and files of nodes that stay
    for name in sorted(kept):
        before, now = old_nodes[name], new_nodes[name]
        up_ifaces = {e.interface for link in new.links for e in link.endpoints if e.node == name
                     and all(x.node in after for x in link.endpoints)}
        all_ifaces = {e.interface for link in new.links for e in link.endpoints if e.node == name}
        wanted = _sysctls(now, _families(new, name), sorted(up_ifaces))
        had = _sysctls(before, _families(old, name), sorted(up_ifaces))
        values = {}
        for key, value in wanted.items():
            iface = _interface_of(key)
            if iface in all_ifaces and iface not in up_ifaces:
                continue  # its link waits for a node that is not running: written when that node starts
            if had.get(key) != value or (name, iface) in new_ends:
                values[key] = value
        if values:
            phases["set sysctls"].append(SetSysctls(node=name, values=tuple(values.items())))
            changes.sysctls += [f"{name}: {k}={v}" for k, v in values.items()]

        old_routes = {_route_key(r): r for r in before.routes}
        new_routes = {_route_key(r): r for r in now.routes}
        for key in old_routes.keys() - new_routes.keys():
            to, via, dev = key
            phases["remove routes"].append(DeleteRoute(node=name, to=to, via=via, dev=dev))
            changes.routes_removed.append(_route_text(name, key))
        reach = _reach_after(new, name, after)
        for key, route in new_routes.items():
            fresh = key not in old_routes
            if fresh:
                changes.routes_added.append(_route_text(name, key))
            if not (fresh or (name in touched_routes and _gateway_on(route, reach[2]))):
                continue
            if not _through_down_link(route, *reach):
                phases["add routes"].append(AddRoute(node=name, to=key[0], via=route.via, dev=route.dev, exist_ok=True))

        old_files = {f: (c, m) for f, c, m in node_files(before)}
        new_files = {f: (c, m) for f, c, m in node_files(now)}
        written = tuple((p, c, m) for p, (c, m) in new_files.items() if old_files.get(p) != (c, m))
        gone = tuple(sorted(old_files.keys() - new_files.keys()))
        if written or gone:
            phases["write files"].append(WriteFiles(node=name, files=written, remove=gone))
            changes.files += [f"{name}: {p} (written)" for p, _, _ in written] + [f"{name}: {p} (deleted)" for p in gone]

    # -- nodes added or made again: started afresh, wired to what runs (their neighbours' ends made again)
    fresh = [name for name in new_nodes if name in added or name in restarted]
    start_phases = start_many(new, ctx, fresh, kept, {}) if fresh else []
    for phase in start_phases:
        phases[phase.name].extend(step for step in phase.steps if step not in phases[phase.name])
    for name in fresh:
        _describe_routes(old_nodes.get(name), new_nodes[name], changes)

    pools = {"remove containers": CONTAINERS, "create container": CONTAINERS, "start container": CONTAINERS}
    plan = Plan(tuple(Phase(name, tuple(phases[name]), pools.get(name, "configure")) for name in ORDER
                      if phases[name]))
    return plan, changes


def _gateway_on(route, up_nets: list) -> bool:
    """Whether the kernel can hold ``route`` again: a route via a gateway needs it on a subnet of a link that
    is up (a route given again only because something changed under it is left out when the change took its
    gateway away; a new one is asked for, and the kernel's refusal says why)."""
    if not route.via:
        return True
    gateway = ipaddress.ip_address(route.via)
    return any(net.version == gateway.version and gateway in net for net in up_nets)


def _interface_of(key: str) -> str | None:
    found = INTERFACE_KEY.match(key)
    return found.group(1) if found else None


def _reach_after(doc: Document, name: str, after: set[str]):
    from .node_plan import _reach

    return _reach(doc, name, lambda link, other: link.state == "up" and other.node in after)


def _describe_routes(old, new, changes: Changes) -> None:
    """The routes a node started afresh gains and loses: all of them for a node added, the differences for
    one made again (its addresses are said with its links)."""
    before = {_route_key(r) for r in old.routes} if old is not None else set()
    now = {_route_key(r) for r in new.routes}
    changes.routes_added += [_route_text(new.name, key) for key in sorted(now - before)]
    changes.routes_removed += [_route_text(new.name, key) for key in sorted(before - now)]


def _changed_link(old, new, ends_kept: bool, ctx: Context, new_nodes: dict, phases: dict, changes: Changes,
                  touched_routes: set[str]) -> None:
    """The steps for a link that stays between nodes that stay: each end's differences."""
    what = []
    if old.state != new.state:
        what.append(f"{old.state} → {new.state}")
    if old.mtu != new.mtu:
        what.append(f"mtu {old.mtu or 'default'} → {new.mtu or 'default'}")
    if old.impairment != new.impairment:
        what.append("impairment " + ("cleared" if new.impairment is None else "set"))
    old_ends = {(e.node, e.interface): e for e in old.endpoints}
    for end in new.endpoints:
        before = old_ends[(end.node, end.interface)]
        added = [a for a in end.addresses if a not in before.addresses]
        gone = [a for a in before.addresses if a not in end.addresses]
        mac_changed = (before.mac or "").lower() != (end.mac or "").lower()
        changes.addresses_added += [f"{end.node}:{end.interface} {a}" for a in added]
        changes.addresses_removed += [f"{end.node}:{end.interface} {a}" for a in gone]
        if mac_changed:
            what.append(f"{end.node}:{end.interface} mac")
        if not ends_kept:
            continue
        state_changed = old.state != new.state
        if added or gone or mac_changed or old.mtu != new.mtu or state_changed:
            mac = (end.mac or names.interface_mac(ctx.site, ctx.lab_id, end.node, end.interface)) if mac_changed else None
            phases["reconfigure interfaces"].append(ReconfigureInterface(
                node=end.node, interface=end.interface, addresses=tuple(end.addresses), remove=tuple(gone), mac=mac,
                mtu=(new.mtu or 1500) if old.mtu != new.mtu else None, up=(new.state == "up") if state_changed else None))
            touched_routes.add(end.node)
        if old.impairment != new.impairment:
            phases["impair links"].append(Impair(node=end.node, interface=end.interface, impairment=new.impairment))
    if what or any(e.addresses != old_ends[(e.node, e.interface)].addresses for e in new.endpoints):
        changes.links_changed.append({"link": link_title(new), "what": what or ["addresses"]})
