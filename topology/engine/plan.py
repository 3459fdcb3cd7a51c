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

from ..spec import Document, Problem
from ..spec.checks import SWITCH_BRIDGE, Limits
from . import names

# What a kind adds to a node's sysctls (the node's own values win). A new
# namespace may inherit forwarding from the host (net.core.devconf_inherit_init_net),
# so hosts and switches say "off" explicitly: a lab behaves the same on every machine.
KIND_SYSCTLS = {
    "host": {"net.ipv4.ip_forward": "0", "net.ipv6.conf.all.forwarding": "0"},
    "switch": {"net.ipv4.ip_forward": "0", "net.ipv6.conf.all.forwarding": "0"},
    "router": {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"},
    "frr": {"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"},
}
# Capabilities beyond Docker's defaults: every node may configure its own
# namespace's network (it is a network lab), nothing more.
KIND_CAPABILITIES = {"host": ["NET_ADMIN"], "router": ["NET_ADMIN"], "switch": ["NET_ADMIN"], "frr": ["NET_ADMIN"]}
DEPLOYABLE_KINDS = ("host", "router", "switch")
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
    """One unit of work on one node; subclasses say what, and ``TITLE`` names it for people."""

    node: str
    TITLE: ClassVar[str] = "{node}"

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

    @property
    def title(self) -> str:
        target = f"via {self.via}" if self.via else f"dev {self.dev}"
        return f"route {self.node}: {self.to} {target}"


@dataclass(frozen=True)
class Impair(Step):
    """Traffic shaping on one end of a link."""

    interface: str
    delay_ms: float | None = None
    jitter_ms: float | None = None
    loss_percent: float | None = None
    rate_kbit: int | None = None

    TITLE: ClassVar[str] = "impair {node}:{interface}"


@dataclass(frozen=True)
class ExecSequence(Step):
    """A node's ``exec`` commands, in order (nodes run theirs concurrently)."""

    commands: tuple

    @property
    def title(self) -> str:
        return f"exec {self.node} ({len(self.commands)} command{'s' if len(self.commands) != 1 else ''})"


@dataclass(frozen=True)
class Phase:
    """Steps that may run concurrently."""

    name: str
    steps: tuple

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
    problems = [
        Problem(f"nodes[{i}].kind", f"kind '{node.kind}' cannot be deployed yet; use host, router or switch")
        for i, node in enumerate(doc.nodes)
        if node.kind not in DEPLOYABLE_KINDS
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
    values.update(KIND_SYSCTLS.get(node.kind, {}))
    values.update(node.sysctls)
    return values


def build_plan(doc: Document, ctx: Context) -> Plan:
    """The phases that turn ``doc`` into a running lab."""
    check_deployable(doc)
    alias = names.interface_alias(ctx.site, ctx.lab_id)
    kinds = {node.name: node.kind for node in doc.nodes}

    creates, starts = [], []
    for node in doc.nodes:
        cpus, memory_mb, pids = _resources(node, ctx)
        creates.append(
            CreateContainer(
                node=node.name,
                container=names.container_name(ctx.site, ctx.lab_id, node.name),
                image=node.effective_image,
                labels=names.labels(ctx.site, ctx.lab_id, node.name, ctx.owner),
                env=dict(node.env),
                files=tuple((f.path, f.content, int(f.mode, 8)) for f in node.files),
                cpus=cpus,
                memory_mb=memory_mb,
                pids=pids,
                capabilities=tuple(KIND_CAPABILITIES[node.kind]),
            )
        )
        starts.append(StartContainer(node=node.name))

    links, interfaces, impairments = [], [], []
    families: dict[str, set[int]] = {node.name: set() for node in doc.nodes}
    node_ifnames: dict[str, list[str]] = {node.name: [] for node in doc.nodes}
    for link in doc.links:
        a, b = link.endpoints
        links.append(CreateLink(node=a.node, interface=a.interface, peer_node=b.node,
                                peer_interface=b.interface, alias=alias))
        for end in link.endpoints:
            is_switch = kinds[end.node] == "switch"
            families[end.node].update(ipaddress.ip_interface(x).version for x in end.addresses)
            node_ifnames[end.node].append(end.interface)
            interfaces.append(ConfigureInterface(
                node=end.node, interface=end.interface, addresses=tuple(end.addresses), mac=end.mac,
                mtu=link.mtu, up=link.state == "up", master=SWITCH_BRIDGE if is_switch else None,
            ))
            if link.impairment is not None:
                imp = link.impairment
                impairments.append(Impair(node=end.node, interface=end.interface, delay_ms=imp.delay_ms,
                                          jitter_ms=imp.jitter_ms, loss_percent=imp.loss_percent,
                                          rate_kbit=imp.rate_kbit))

    bridges = [CreateBridge(node=n.name, bridge=SWITCH_BRIDGE, alias=alias) for n in doc.nodes if n.kind == "switch"]
    sysctls = []
    for node in doc.nodes:
        values = _sysctls(node, families[node.name], node_ifnames[node.name])
        if values:
            sysctls.append(SetSysctls(node=node.name, values=tuple(values.items())))
    routes = [
        AddRoute(node=node.name, to=str(route.network()), via=route.via, dev=route.dev)
        for node in doc.nodes
        for route in node.routes
    ]
    execs = [ExecSequence(node=node.name, commands=tuple(node.exec)) for node in doc.nodes if node.exec]

    phases = [
        Phase("create containers", tuple(creates)),
        Phase("start containers", tuple(starts)),
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
