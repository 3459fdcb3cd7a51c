"""Turns a validated document into an ordered list of phases of steps (pure: no root, no I/O).

A plan is a list of phases; the steps of one phase do not depend on each other
and may run concurrently, and a phase starts when the one before it is done:

    create containers -> start them -> links -> bridges -> sysctls
    -> interfaces -> routes -> impairments -> exec commands
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import ClassVar

from .. import kinds
from ..schema import Document, Problem
from ..schema.checks import Limits
from ..schema.models import Impairment
from . import names
from .states import NodeState

# The node's main process: says it started (the first line of the node's Logs view), then
# sleeps as PID 1 while the lab runs; exec keeps the shell from lingering as a parent.
NODE_COMMAND = ["/bin/sh", "-c", 'echo "$(cat /etc/hostname): started by Topolab"; exec sleep infinity']


class PlanError(ValueError):
    """The document is valid but cannot be deployed here; ``problems`` say where and why."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


@dataclass(frozen=True)
class Context:
    """Who and where: the names and limits a plan is made for."""

    site: str
    lab_id: int
    owner: str
    limits: Limits = Limits()
    default_resources: dict = field(default_factory=lambda: {"cpus": 1.0, "memory_mb": 256, "pids": 256})


@dataclass(frozen=True)
class Step:
    """One unit of work on one node; subclasses say what, and ``TITLE`` names it for people.

    ``DONE_STATE`` is the state the node is in once the step has ended well
    (None: the step does not change it).
    """

    node: str
    TITLE: ClassVar[str] = "{node}"
    DONE_STATE: ClassVar[NodeState | None] = None

    @property
    def title(self) -> str:
        return self.TITLE.format_map(self.__dict__)


@dataclass(frozen=True)
class CreateContainer(Step):
    """Create (not start) a node's container, with its files already inside."""

    container: str
    image: str
    labels: dict
    env: dict
    files: tuple  # of (path, content, mode as int)
    cpus: float
    memory_mb: int
    pids: int
    capabilities: tuple
    command: tuple = tuple(NODE_COMMAND)

    TITLE: ClassVar[str] = "create {node}"
    DONE_STATE: ClassVar[NodeState | None] = NodeState.CREATING


@dataclass(frozen=True)
class StartContainer(Step):
    """Start a created container."""

    TITLE: ClassVar[str] = "start {node}"


@dataclass(frozen=True)
class CreateLink(Step):
    """A veth pair born in both namespaces: ``node:interface`` <-> ``peer_node:peer_interface``."""

    interface: str
    peer_node: str
    peer_interface: str
    alias: str

    TITLE: ClassVar[str] = "link {node}:{interface} - {peer_node}:{peer_interface}"


@dataclass(frozen=True)
class CreateBridge(Step):
    """The Linux bridge of a switch node."""

    bridge: str
    alias: str

    TITLE: ClassVar[str] = "bridge {node}:{bridge}"


@dataclass(frozen=True)
class ConfigureInterface(Step):
    """MAC, MTU, addresses, bridge port and administrative state of one interface."""

    interface: str
    addresses: tuple = ()
    mac: str | None = None
    mtu: int | None = None
    up: bool = True
    master: str | None = None

    TITLE: ClassVar[str] = "configure {node}:{interface}"


@dataclass(frozen=True)
class SetSysctls(Step):
    """Namespaced sysctls of one node, written from the host."""

    values: tuple  # of (key, value)

    TITLE: ClassVar[str] = "sysctls {node}"


@dataclass(frozen=True)
class AddRoute(Step):
    """A static route in a node."""

    to: str
    via: str | None = None
    dev: str | None = None
    exist_ok: bool = False  # a node started again re-adds its neighbours' routes: those still there are fine

    @property
    def title(self) -> str:
        target = f"via {self.via}" if self.via else f"dev {self.dev}"
        return f"route {self.node}: {self.to} {target}"


@dataclass(frozen=True)
class Impair(Step):
    """Traffic shaping on one end of a link: the link's impairment, as the document gives it."""

    interface: str
    impairment: Impairment

    TITLE: ClassVar[str] = "impair {node}:{interface}"


@dataclass(frozen=True)
class ExecSequence(Step):
    """A node's ``exec`` commands, in order (nodes run theirs concurrently)."""

    commands: tuple

    @property
    def title(self) -> str:
        return f"exec {self.node} ({len(self.commands)} command{'s' if len(self.commands) != 1 else ''})"


CONTAINERS = "containers"  # creating and starting containers: the Docker Engine's slow, heavy calls
CONFIGURE = "configure"    # netlink, sysctl and exec calls into running nodes: light, more at once


@dataclass(frozen=True)
class Phase:
    """Steps that may run concurrently; ``pool`` says how many at once (:data:`CONTAINERS` or :data:`CONFIGURE`)."""

    name: str
    steps: tuple
    pool: str = CONFIGURE

    def __len__(self) -> int:
        return len(self.steps)


@dataclass(frozen=True)
class Plan:
    """The phases of a build, in order."""

    phases: tuple

    @property
    def steps(self) -> list[Step]:
        return [step for phase in self.phases for step in phase.steps]

    def __len__(self) -> int:
        return sum(len(phase) for phase in self.phases)


def _resources(node, ctx: Context) -> tuple[float, int, int]:
    asked = node.resources
    caps = {"cpus": ctx.limits.max_cpus, "memory_mb": ctx.limits.max_memory_mb, "pids": ctx.limits.max_pids}
    values = []
    for key in ("cpus", "memory_mb", "pids"):
        value = getattr(asked, key) if asked is not None else None
        value = ctx.default_resources[key] if value is None else value
        values.append(min(value, caps[key]))
    return float(values[0]), int(values[1]), int(values[2])


def check_deployable(doc: Document) -> None:
    """Refuse, with every reason, a valid document this engine cannot build."""
    names_ = kinds.deployable()
    usable = ", ".join(names_[:-1]) + f" or {names_[-1]}" if len(names_) > 1 else names_[0]
    problems = [
        Problem(f"nodes[{i}].kind", f"kind '{node.kind}' cannot be deployed yet; use {usable}")
        for i, node in enumerate(doc.nodes)
        if not kinds.kind(node.kind).deployable
    ]
    if problems:
        raise PlanError(problems)


def _sysctls(node, families: set[int], interfaces: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    if 6 in families:
        # Docker may start a container with IPv6 off; a node given IPv6 addresses needs it on.
        values["net.ipv6.conf.all.disable_ipv6"] = "0"
        values["net.ipv6.conf.default.disable_ipv6"] = "0"
        # Duplicate address detection keeps link-local addresses tentative for
        # a second or two after "up", and neighbour discovery fails meanwhile:
        # a lab reported running must answer at once. The kernel skips DAD only
        # when both "all" and the interface say so; interfaces are still down here.
        values["net.ipv6.conf.all.accept_dad"] = "0"
        values["net.ipv6.conf.default.accept_dad"] = "0"
        for ifname in interfaces:
            if "." not in ifname:  # a dot would read as a key separator
                values[f"net.ipv6.conf.{ifname}.accept_dad"] = "0"
    values.update(kinds.kind(node.kind).sysctls)
    values.update(node.sysctls)
    return values


def _through_down_link(route, down_ifaces: set, down_nets: list, up_nets: list) -> bool:
    """A route the kernel cannot hold while a link is down (its device is down, or its gateway is reachable only
    through a down link): a deploy leaves it out; setting the link up live adds it (:mod:`topology.live`)."""
    if route.dev in down_ifaces:
        return True
    if not route.via:
        return False
    gateway = ipaddress.ip_address(route.via)
    reach = [net for net in down_nets + up_nets if net.version == gateway.version and gateway in net]
    return bool(reach) and all(net in down_nets for net in reach) and not any(net in up_nets for net in reach)


def node_files(node) -> tuple:
    """``(path, content, mode)`` of the files put into ``node``'s container before it starts: the document's
    (a kind may add defaults of its own for files the node does not give)."""
    own = tuple((f.path, f.content, int(f.mode, 8)) for f in node.files)
    kind = kinds.kind(node.kind)
    return own + tuple(kind.files(node)) if kind.files else own


def node_commands(node) -> tuple:
    """The commands run in ``node`` once it is wired (addresses, routes and impairments set): the document's
    ``exec`` (a kind may run its own first, such as starting its daemons)."""
    return (*kinds.kind(node.kind).commands, *node.exec)


def node_main_command(node) -> tuple:
    """The main process of ``node``'s container."""
    return tuple(NODE_COMMAND)


def create_step(node, ctx: Context) -> CreateContainer:
    """The step creating ``node``'s container."""
    cpus, memory_mb, pids = _resources(node, ctx)
    return CreateContainer(
        node=node.name,
        container=names.container_name(ctx.site, ctx.lab_id, node.name),
        image=node.effective_image,
        labels=names.labels(ctx.site, ctx.lab_id, node.name, ctx.owner),
        env=dict(node.env),
        files=node_files(node),
        cpus=cpus,
        memory_mb=memory_mb,
        pids=pids,
        capabilities=kinds.kind(node.kind).capabilities,
        command=node_main_command(node),
    )


def configure_step(end, link, bridge: str | None, ctx: Context) -> ConfigureInterface:
    """The step configuring one end of ``link`` (``bridge``: its node's bridge, which the end joins). An end
    the document gives no MAC gets the lab's own for it (:func:`names.interface_mac`), the same every time."""
    return ConfigureInterface(
        node=end.node, interface=end.interface, addresses=tuple(end.addresses),
        mac=end.mac or names.interface_mac(ctx.site, ctx.lab_id, end.node, end.interface),
        mtu=link.mtu, up=link.state == "up", master=bridge,
    )


def build_plan(doc: Document, ctx: Context) -> Plan:
    """The phases that turn ``doc`` into a running lab."""
    check_deployable(doc)
    alias = names.interface_alias(ctx.site, ctx.lab_id)
    kind_of = {node.name: kinds.kind(node.kind) for node in doc.nodes}

    creates = [create_step(node, ctx) for node in doc.nodes]
    starts = [StartContainer(node=node.name) for node in doc.nodes]

    links, interfaces, impairments = [], [], []
    families: dict[str, set[int]] = {node.name: set() for node in doc.nodes}
    node_ifnames: dict[str, list[str]] = {node.name: [] for node in doc.nodes}
    # Per node: the interfaces and networks of its down links, and the networks of its up ones.
    down_and_up: dict[str, tuple[set, list, list]] = {node.name: (set(), [], []) for node in doc.nodes}
    for link in doc.links:
        a, b = link.endpoints
        for end in link.endpoints:
            down_ifaces, down_nets, up_nets = down_and_up[end.node]
            if link.state == "down":
                down_ifaces.add(end.interface)
            (down_nets if link.state == "down" else up_nets).extend(i.network for i in end.interface_addresses())
        links.append(CreateLink(node=a.node, interface=a.interface, peer_node=b.node,
                                peer_interface=b.interface, alias=alias))
        for end in link.endpoints:
            bridge = kind_of[end.node].bridge
            families[end.node].update(ipaddress.ip_interface(x).version for x in end.addresses)
            node_ifnames[end.node].append(end.interface)
            interfaces.append(configure_step(end, link, bridge, ctx))
            if link.impairment is not None:
                impairments.append(Impair(node=end.node, interface=end.interface, impairment=link.impairment))

    bridges = [CreateBridge(node=n.name, bridge=kind_of[n.name].bridge, alias=alias)
               for n in doc.nodes if kind_of[n.name].bridge is not None]
    sysctls = []
    for node in doc.nodes:
        values = _sysctls(node, families[node.name], node_ifnames[node.name])
        if values:
            sysctls.append(SetSysctls(node=node.name, values=tuple(values.items())))
    routes = [
        AddRoute(node=node.name, to=str(route.network()), via=route.via, dev=route.dev)
        for node in doc.nodes
        for route in node.routes
        if not _through_down_link(route, *down_and_up[node.name])
    ]
    execs = [ExecSequence(node=node.name, commands=node_commands(node)) for node in doc.nodes if node_commands(node)]

    phases = [
        Phase("create containers", tuple(creates), CONTAINERS),
        Phase("start containers", tuple(starts), CONTAINERS),
        Phase("create links", tuple(links)),
        Phase("create bridges", tuple(bridges)),
        # Before addresses: a node may start with IPv6 off; after links and
        # bridges: per-interface keys need their interface.
        Phase("set sysctls", tuple(sysctls)),
        Phase("configure interfaces", tuple(interfaces)),
        Phase("add routes", tuple(routes)),
        Phase("impair links", tuple(impairments)),
        Phase("run exec commands", tuple(execs)),
    ]
    return Plan(tuple(phase for phase in phases if phase.steps))
