"""Every node kind, in one place: what it runs, what the engine gives it, how the editor draws it.

The schema's list of kinds, the planner's sysctls and capabilities, the node
images' recipes (:mod:`topology.images`) and the editor's palette, canvas
shapes, colours and name prefixes are all read from :data:`KINDS`; nothing
else declares a kind. Adding a kind is one :class:`Kind` here plus, if it
needs an image of its own, one recipe in :mod:`topology.images`.

Plain Python (no Django, no Docker): both the web tier and the root worker
import it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType

from . import frr

# A new network namespace may inherit forwarding from the host
# (net.core.devconf_inherit_init_net), so every kind says "on" or "off"
# explicitly: a lab behaves the same on every machine.
_FORWARDING_ON = MappingProxyType({"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"})
_FORWARDING_OFF = MappingProxyType({"net.ipv4.ip_forward": "0", "net.ipv6.conf.all.forwarding": "0"})


@dataclass(frozen=True)
class Kind:
    """One node kind.

    ``bridge`` is the name of the Linux bridge that joins all of a node's
    interfaces (a switch), or None; such interfaces carry no addresses.
    ``forwards`` says the node routes packets: it gets forwarding on, takes
    the lowest address of a subnet and is a hosts' gateway in "Assign
    addresses". ``deploy_refusal`` is why a kind cannot be deployed yet
    (empty when it can). ``shape`` is a Cytoscape.js node shape, ``colour``
    its fill in the light and the dark theme, ``size`` its width and height
    on the canvas, ``prefix`` the start of the names the editor makes up. ``files(node)`` gives the
    ``(path, content, mode)`` files a node of the kind gets besides its own (defaults for those it does
    not give), ``commands`` the commands it runs once wired, before its own ``exec`` (its daemons);
    ``frr`` says it runs FRR's routing daemons (:mod:`topology.frr`: checker, starting and saved configs).
    """

    name: str
    summary: str
    image: str
    prefix: str
    shape: str
    colour: tuple[str, str]
    forwards: bool = False
    bridge: str | None = None
    capabilities: tuple[str, ...] = ("NET_ADMIN",)
    deploy_refusal: str = ""
    size: tuple[int, int] = (40, 40)
    extra_sysctls: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    files: Callable | None = None
    commands: tuple[str, ...] = ()
    frr: bool = False

    @property
    def deployable(self) -> bool:
        return not self.deploy_refusal

    @property
    def sysctls(self) -> dict[str, str]:
        """What the kind adds to a node's sysctls (the node's own values win)."""
        return {**(_FORWARDING_ON if self.forwards else _FORWARDING_OFF), **self.extra_sysctls}


# Every node may configure its own namespace's network (NET_ADMIN: it is a
# network lab), nothing more: the default ``capabilities``.
KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("host", "an end system: forwarding off, a default route", image="topolab/base", prefix="h",
             shape="round-rectangle", colour=("#e8eef8", "#27313f")),
        Kind("router", "forwards IPv4 and IPv6 between its interfaces (static routes)", image="topolab/base",
             prefix="r", shape="diamond", colour=("#fdf0dc", "#3b3222"), forwards=True),
        Kind("switch", "a Linux bridge joining all of its interfaces; they carry no addresses",
             image="topolab/base", prefix="s", shape="rectangle", colour=("#e9f3ec", "#22352a"), bridge="br0",
             size=(56, 26)),
        # FRR's daemons change routes and interfaces (NET_ADMIN) and OSPF and IS-IS speak through raw sockets
        # (NET_RAW, in Docker's defaults already: named so that it stays). Never SYS_ADMIN: see topology/frr.py.
        Kind("frr", "a router running the FRR routing daemons", image="topolab/frr", prefix="f", shape="hexagon",
             colour=("#fdf0dc", "#3b3222"), forwards=True, capabilities=("NET_ADMIN", "NET_RAW"),
             files=frr.kind_files, commands=(frr.START_COMMAND,), frr=True),
    )
}
NAMES: tuple[str, ...] = tuple(KINDS)
DEFAULT = "host"


def kind(name: str) -> Kind:
    """The kind called ``name`` (KeyError for a kind the schema would have refused)."""
    return KINDS[name]


def deployable() -> tuple[str, ...]:
    """The names of the kinds this engine can deploy, in registry order."""
    return tuple(k.name for k in KINDS.values() if k.deployable)


def default_images() -> dict[str, str]:
    """Each kind's default image."""
    return {k.name: k.image for k in KINDS.values()}


def frr_image() -> str:
    """The image of the kind that runs FRR (what FRR's checker runs in)."""
    return next(k.image for k in KINDS.values() if k.frr)
