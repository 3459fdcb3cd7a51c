"""The ``frr`` kind's specifics: its default files, its start command, its checker's answers, its starting
configurations and its running configurations (pure: no Django, no Docker, no I/O).

Both sides import it: the planner (:mod:`topology.engine.plan`) for a node's files and commands, the exec
worker (:mod:`topology.frr_worker`) for the checker's command and answers, the API (:mod:`topology.api.frr`)
for starting configurations and the diffs of "save configs".

How an FRR node starts (Debian bookworm's FRR 8.4 in ``topolab/frr``):

- its ``/etc/frr/frr.conf``, ``/etc/frr/daemons`` and ``/etc/frr/vtysh.conf`` are the node's own files, or
  defaults for those it does not give: a ``frr.conf`` with its hostname, a ``daemons`` enabling the daemons
  its ``frr.conf`` uses (:func:`daemons_for`; zebra and staticd always run), a ``vtysh.conf`` with the
  integrated configuration (one ``frr.conf`` for every daemon);
- once it is wired (addresses, routes and impairments set), before its own ``exec`` commands, the node runs
  :data:`START_SCRIPT` (put into the container as :data:`START_PATH`): it gives ``/etc/frr`` to ``frr:frr``
  with mode 0640 (as the Debian package ships it: the daemons run as ``frr`` and read it), checks
  ``frr.conf`` with FRR's own checker (``vtysh -C``; a bad line fails the deploy with FRR's message and the
  line), starts ``watchfrr`` and the daemons through the package's ``frrinit.sh`` and waits until every
  daemon answers on its socket (bounded);
- the daemons are given no capability the node lacks: FRR 8.4 asks for CAP_SYS_ADMIN (for netns-based VRFs)
  at start-up and exits when it is refused, and a node never has it, so they run with the image's
  ``frr_caps.so`` preloaded (see ``topology/native/frr_caps.c``), which drops what the node does not hold
  from that request. What they need is CAP_NET_ADMIN (routes, interfaces) and CAP_NET_RAW (OSPF's and
  IS-IS's raw sockets), see :mod:`topology.kinds`.
"""
from __future__ import annotations

import difflib
import posixpath
import re

CONF = "/etc/frr/frr.conf"
DAEMONS = "/etc/frr/daemons"
VTYSH_CONF = "/etc/frr/vtysh.conf"
START_PATH = "/usr/local/sbin/topolab-frr-start"
START_COMMAND = "topolab-frr-start"  # what the deploy's log and a failure name
PRELOAD = "/usr/lib/topolab/frr_caps.so"
MAX_CONFIG_BYTES = 256 * 1024  # what /frr/check takes, the same as a node's file
START_WAIT = 20  # seconds the start command waits for every daemon to answer

# Every daemon FRR 8.4's frrinit.sh knows, in its order (zebra first); watchfrr is not one of them.
ALL_DAEMONS = ("zebra", "bgpd", "ripd", "ripngd", "ospfd", "ospf6d", "isisd", "babeld", "pimd", "pim6d", "ldpd",
               "nhrpd", "eigrpd", "sharpd", "pbrd", "staticd", "bfdd", "fabricd", "vrrpd", "pathd")
ALWAYS = ("zebra", "staticd")  # frrinit.sh starts these whatever the daemons file says
# Each daemon's options, as the Debian package's daemons file gives them (vty on the loopback only; zebra's
# larger netlink buffer so that a burst of route changes is not lost).
_OPTIONS = {name: "-A ::1" if name in ("ospf6d", "ripngd", "pim6d") else "-A 127.0.0.1" for name in ALL_DAEMONS}
_OPTIONS["zebra"] = "-A 127.0.0.1 -s 90000000"

# A configuration line that needs a daemon: (regular expression over one line, the daemon). Lines are
# matched with their leading spaces removed, so a command inside an interface block counts too.
_USES = (
    (r"router bgp\b", "bgpd"),
    (r"router ospf(\s|$)", "ospfd"),
    (r"ip ospf\s", "ospfd"),
    (r"router ospf6\b", "ospf6d"),
    (r"ipv6 ospf6\s", "ospf6d"),
    (r"router isis\b", "isisd"),
    (r"ipv6? router isis\b", "isisd"),
    (r"router openfabric\b", "fabricd"),
    (r"ip router openfabric\b", "fabricd"),
    (r"router rip\s*$", "ripd"),
    (r"ip rip\s", "ripd"),
    (r"router ripng\b", "ripngd"),
    (r"ipv6 ripng\s", "ripngd"),
    (r"router eigrp\b", "eigrpd"),
    (r"router babel\b", "babeld"),
    (r"(router pim|ip pim|ip igmp|ip multicast)\b", "pimd"),
    (r"(router pim6|ipv6 pim|ipv6 mld)\b", "pim6d"),
    (r"(mpls ldp|mpls label)\b", "ldpd"),
    (r"ip nhrp\b", "nhrpd"),
    (r"(pbr-map|pbr-policy)\b", "pbrd"),
    (r"(bfd|neighbor \S+ bfd|ip ospf bfd|ipv6 ospf6 bfd|isis bfd)\b", "bfdd"),
    (r"vrrp\s", "vrrpd"),
    (r"(segment-routing|traffic-eng|mpls-te)\b", "pathd"),
)
_USES_RE = tuple((re.compile(pattern), daemon) for pattern, daemon in _USES)

# The lines FRR's "show running-config" writes before the configuration itself.
_HEADER_RE = re.compile(r"^(Building configuration\.\.\.|Current configuration:|frr version \S.*)$")
_CHECK_LINE_RE = re.compile(r"^line (\d+): ?(.*)$")

# A starting configuration's choices (the API's "daemons" list) and the daemons each one runs.
CHOICES = ("ospf", "bgp", "isis")
BASE_AS = 64512  # the first private AS number: node i of the document is AS BASE_AS + i
ISIS_AREA = "49.0001"
ISIS_TAG = "topolab"


def daemons_for(config: str) -> list[str]:
    """The daemons ``config`` (a ``frr.conf``) needs, in FRR's order: zebra and staticd, and those whose
    commands it uses (``router ospf`` needs ospfd, ``router bgp`` bgpd, ``ip pim`` pimd, ``bfd`` bfdd...)."""
    wanted = set(ALWAYS)
    for raw in config.splitlines():
        line = raw.strip()
        if not line or line.startswith(("!", "#")):
            continue
        for pattern, daemon in _USES_RE:
            if pattern.match(line):
                wanted.add(daemon)
    return [name for name in ALL_DAEMONS if name in wanted]


def daemons_file(daemons) -> str:
    """A ``/etc/frr/daemons`` enabling ``daemons`` (FRR's daemon names: ``ospfd``...) and no others."""
    chosen = set(daemons) | set(ALWAYS)
    lines = ["# Which FRR daemons run, read by /usr/lib/frr/frrinit.sh (written by Topolab from frr.conf:",
             "# zebra and staticd always run). Edit it to run others.", ""]
    lines += [f"{name}={'yes' if name in chosen else 'no'}" for name in ALL_DAEMONS if name not in ALWAYS]
    lines += ["", "vtysh_enable=yes"]
    lines += [f'{name}_options="{_OPTIONS[name]}"' for name in ALL_DAEMONS]
    return "\n".join(lines) + "\n"


def default_config(hostname: str) -> str:
    """The ``frr.conf`` of a node that gives none: its hostname, nothing routed yet."""
    return (f"frr defaults traditional\nhostname {hostname}\nlog file /var/log/frr/frr.log informational\n"
            "service integrated-vtysh-config\n!\n")


VTYSH_DEFAULT = "service integrated-vtysh-config\n"

# Run in the node (bash: it sources FRR's frrcommon.sh) once it is wired. Exit 1 with FRR's own message when
# frr.conf is refused, 2 when a daemon does not come up in time. Files the document gives keep their content;
# only their owner and mode change.
START_SCRIPT = f"""#!/bin/bash
# Starts FRR in a Topolab node (see topology/frr.py): checks frr.conf, starts the daemons, waits for them.
for f in {CONF} {DAEMONS} {VTYSH_CONF}; do
    [ -e "$f" ] && chown frr:frr "$f" && chmod 0640 "$f"
done
chown frr:frr /etc/frr && chmod 0750 /etc/frr
if ! out=$(vtysh -C -f {CONF} 2>&1); then
    printf '%s\\n' "$out" | grep -v "^% Can't open configuration file {VTYSH_CONF}" | sed 's|^|{CONF}: |' >&2
    exit 1
fi
if pidof watchfrr >/dev/null 2>&1; then
    echo "FRR runs already"
    exit 0
fi
rm -f /var/run/frr/*.pid /var/run/frr/*.vty  # left by the container's previous run, if any
out=$(LD_PRELOAD={PRELOAD} /usr/lib/frr/frrinit.sh start 2>&1) || {{ printf '%s\\n' "$out" >&2; exit 2; }}
daemons=$(. /usr/lib/frr/frrcommon.sh >/dev/null 2>&1; daemon_list 2>/dev/null)  # what frrinit.sh started
waited=0
for d in $daemons; do
    until [ -S /var/run/frr/$d.vty ]; do
        if [ $waited -ge {START_WAIT * 10} ]; then
            echo "FRR's $d did not start within {START_WAIT} s" >&2
            exit 2
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
done
echo "FRR started: $daemons"
"""


def kind_files(node) -> list[tuple[str, str, int]]:
    """``(path, content, mode)`` of what an frr node gets besides its own files: defaults for the FRR files
    it does not give (a ``daemons`` derived from its ``frr.conf``) and the start script."""
    given = {same_path(f.path): f.content for f in node.files}
    config = given.get(CONF, default_config(node.name))
    added = []
    if CONF not in given:
        added.append((CONF, config, 0o640))
    if DAEMONS not in given:
        added.append((DAEMONS, daemons_file(daemons_for(config)), 0o640))
    if VTYSH_CONF not in given:
        added.append((VTYSH_CONF, VTYSH_DEFAULT, 0o640))
    if START_PATH not in given:
        added.append((START_PATH, START_SCRIPT, 0o755))
    return added


def same_path(path: str) -> str:
    """A file's path as the schema compares them (``/etc//frr/./frr.conf`` is ``/etc/frr/frr.conf``)."""
    return posixpath.normpath(path) if path.startswith("/") else path


def parse_check(output: str) -> list[dict]:
    """FRR's checker's (``vtysh -C``) complaints as ``[{"line": int | None, "message": str}]``: one per line
    it names (``line 4: % Unknown command: ...``); other lines it printed have no line number."""
    errors = []
    for raw in output.splitlines():
        text = raw.strip()
        if not text or text.startswith(f"% Can't open configuration file {VTYSH_CONF}"):
            continue
        found = _CHECK_LINE_RE.match(text)
        if found:
            errors.append({"line": int(found.group(1)), "message": found.group(2).strip()})
        else:
            errors.append({"line": None, "message": text})
    return errors


def clean_running_config(text: str) -> str:
    """FRR's ``show running-config`` as a file: without its header lines ("Building configuration...",
    "Current configuration:", the version line) and the blank lines and "!" right after them."""
    lines = text.replace("\r\n", "\n").split("\n")
    kept = [line for line in lines if not _HEADER_RE.match(line.strip())]
    while kept and kept[0].strip() in ("", "!"):
        kept.pop(0)
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept) + "\n" if kept else ""


def config_diff(node: str, saved: str, running: str) -> str:
    """A unified diff from the document's ``frr.conf`` of ``node`` to its running one ("" when equal)."""
    return "".join(difflib.unified_diff(saved.splitlines(keepends=True), running.splitlines(keepends=True),
                                        fromfile=f"{node}:{CONF} (document)", tofile=f"{node}:{CONF} (running)"))


# -- starting configurations ---------------------------------------------------------------------------------
def _segments(doc, kind_of) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """For each node interface ``(node, interface)``: the far ends ``(node, interface)`` on its Ethernet
    segment (a direct link, or every port of the switches it reaches, through switches)."""
    switch = {n.name for n in doc.nodes if kind_of[n.name].bridge is not None}
    peer: dict[tuple[str, str], tuple[str, str]] = {}
    for link in doc.links:
        a, b = link.endpoints
        if link.state == "up":
            peer[(a.node, a.interface)] = (b.node, b.interface)
            peer[(b.node, b.interface)] = (a.node, a.interface)
    ports: dict[str, list[str]] = {}
    for node, ifname in peer:
        if node in switch:
            ports.setdefault(node, []).append(ifname)
    found: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for end, far in peer.items():
        if end[0] in switch:
            continue
        reached, seen, stack = [], set(), [far]
        while stack:
            here = stack.pop()
            if here[0] not in switch:
                reached.append(here)
                continue
            if here[0] in seen:
                continue
            seen.add(here[0])
            stack.extend(peer[(here[0], p)] for p in ports.get(here[0], []) if (here[0], p) != here)
        found[end] = [r for r in reached if r != end]
    return found


def _router_id(addresses, index: int) -> str:
    """The lowest IPv4 address of the node, else one made from its index (10.255.x.y)."""
    v4 = sorted(a.ip for a in addresses if a.version == 4)
    if v4:
        return str(v4[0])
    number = index + 1
    return f"10.255.{number // 256 % 256}.{number % 256 or 1}"


def isis_net(router_id: str) -> str:
    """An IS-IS NET from an IPv4 router-id: each octet as three digits, as a system ID (10.0.0.1 ->
    ``49.0001.0100.0000.0001.00``)."""
    digits = "".join(f"{int(octet):03d}" for octet in router_id.split("."))
    return f"{ISIS_AREA}.{digits[0:4]}.{digits[4:8]}.{digits[8:12]}.00"


def _point_to_point(address) -> bool:
    return (address.version == 4 and address.network.prefixlen >= 30) or \
        (address.version == 6 and address.network.prefixlen >= 126)


def starting_config(doc, node_name: str, choices, kind_of) -> list[dict]:
    """A starting ``frr.conf`` and ``daemons`` for the frr node ``node_name`` of the (valid) document ``doc``,
    running the routing protocols ``choices`` (of :data:`CHOICES`) on every addressed interface:
    ``[{"path", "content"}]``. ``kind_of`` maps each node's name to its :class:`topology.kinds.Kind` (passed
    in: the registry imports this module). KeyError when there is no such node.

    OSPF: area 0 on every interface with an IPv4 address (point-to-point on /30 and /31), OSPFv3 likewise for
    IPv6; a router-id from the lowest IPv4 address. BGP: AS ``BASE_AS`` + the node's index, a neighbour for
    every address of an frr node on a segment it shares (directly or through switches) with that node's AS,
    ``network`` statements for its connected prefixes, and no policy needed for eBGP (so they are really
    exchanged). IS-IS: level 2, a NET derived from the router-id, on every addressed interface. Interfaces
    towards hosts only are passive (no adjacency can form there; their prefixes are still announced)."""
    index = next((i for i, n in enumerate(doc.nodes) if n.name == node_name), None)
    if index is None:
        raise KeyError(node_name)
    as_of = {n.name: BASE_AS + i for i, n in enumerate(doc.nodes)}
    segments = _segments(doc, kind_of)
    interfaces: list[tuple[str, list]] = []  # (name, [ipaddress interfaces]) in link order
    addresses_of: dict[tuple[str, str], list] = {}
    for link in doc.links:
        for end in link.endpoints:
            addresses_of[(end.node, end.interface)] = end.interface_addresses()
            if end.node == node_name:
                interfaces.append((end.interface, end.interface_addresses()))
    mine = [a for _, addrs in interfaces for a in addrs]
    router_id = _router_id(mine, index)
    chosen = [c for c in CHOICES if c in set(choices)]
    has6 = any(a.version == 6 for a in mine)

    def towards_hosts_only(ifname: str) -> bool:
        far = segments.get((node_name, ifname), [])
        # End systems only: neither routers nor switches (behind which routers may be).
        return bool(far) and all(not kind_of[n].forwards and kind_of[n].bridge is None for n, _ in far)

    out = ["frr defaults traditional", f"hostname {node_name}", "log file /var/log/frr/frr.log informational",
           "service integrated-vtysh-config", "!"]
    # The routing processes first, each with its router-id: an interface's "ip ospf area" read before them would
    # start OSPF with a router-id of its own choosing, and its neighbours would see two routers at one address.
    if "ospf" in chosen and any(a.version == 4 for a in mine):
        out += ["router ospf", f" ospf router-id {router_id}", "exit", "!"]
    if "ospf" in chosen and has6:
        out += ["router ospf6", f" ospf6 router-id {router_id}", "exit", "!"]
    if "bgp" in chosen:
        out += _bgp(node_name, as_of, kind_of, router_id, interfaces, segments, addresses_of)
    if "isis" in chosen:
        out += [f"router isis {ISIS_TAG}", " is-type level-2-only", f" net {isis_net(router_id)}", "exit", "!"]
    for ifname, addrs in interfaces:
        if not addrs:
            continue
        v4 = [a for a in addrs if a.version == 4]
        v6 = [a for a in addrs if a.version == 6]
        body = []
        if "ospf" in chosen and v4:
            body.append(" ip ospf area 0")
            if any(_point_to_point(a) for a in v4):
                body.append(" ip ospf network point-to-point")
            if towards_hosts_only(ifname):
                body.append(" ip ospf passive")
        if "ospf" in chosen and v6:
            body.append(" ipv6 ospf6 area 0")
            if any(_point_to_point(a) for a in v6):
                body.append(" ipv6 ospf6 network point-to-point")
            if towards_hosts_only(ifname):
                body.append(" ipv6 ospf6 passive")
        if "isis" in chosen:
            if v4:
                body.append(f" ip router isis {ISIS_TAG}")
            if v6:
                body.append(f" ipv6 router isis {ISIS_TAG}")
            if any(_point_to_point(a) for a in addrs):
                body.append(" isis network point-to-point")
            if towards_hosts_only(ifname):
                body.append(" isis passive")
        if body:
            out += [f"interface {ifname}", *body, "exit", "!"]
    daemons = {"ospf": ["ospfd"] + (["ospf6d"] if has6 else []), "bgp": ["bgpd"], "isis": ["isisd"]}
    config = "\n".join(out) + "\n"
    wanted = sorted({d for c in chosen for d in daemons[c]} | set(daemons_for(config)))
    return [{"path": CONF, "content": config}, {"path": DAEMONS, "content": daemons_file(wanted)}]


def _bgp(node_name, as_of, kind_of, router_id, interfaces, segments, addresses_of) -> list[str]:
    """The ``router bgp`` block of :func:`starting_config`."""
    neighbours: list[tuple[str, int, int]] = []  # (address, AS, IP version)
    networks = {4: [], 6: []}
    for ifname, addrs in interfaces:
        for address in addrs:
            if address.version == 6 and address.ip.is_link_local:
                continue
            if address.network not in networks[address.version]:
                networks[address.version].append(address.network)
            for far_node, far_if in segments.get((node_name, ifname), []):
                if not kind_of[far_node].frr or far_node == node_name:
                    continue
                for far in addresses_of.get((far_node, far_if), []):
                    if far.version == address.version and far.ip in address.network and far.ip != address.ip:
                        entry = (str(far.ip), as_of[far_node], far.version)
                        if entry not in neighbours:
                            neighbours.append(entry)
    lines = [f"router bgp {as_of[node_name]}", f" bgp router-id {router_id}",
             # Without it FRR sends and accepts no eBGP route at all until a policy says which (RFC 8212).
             " no bgp ebgp-requires-policy",
             # Each address family's neighbours are activated below, by family.
             " no bgp default ipv4-unicast"]
    lines += [f" neighbor {address} remote-as {remote}" for address, remote, _ in neighbours]
    for version, family in ((4, "ipv4"), (6, "ipv6")):
        active = [address for address, _, v in neighbours if v == version]
        if not active and not networks[version]:
            continue
        lines.append(f" address-family {family} unicast")
        lines += [f"  network {net}" for net in networks[version]]
        lines += [f"  neighbor {address} activate" for address in active]
        lines.append(" exit-address-family")
    return lines + ["exit", "!"]


def valid_choices(value) -> list[str] | None:
    """The API's ``daemons`` list if it is one (a list of :data:`CHOICES`, at least one), else None."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v in CHOICES for v in value):
        return None
    return [c for c in CHOICES if c in value]

