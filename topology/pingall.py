""""Ping all" for a running lab (root side, in the exec worker): who reaches whom, with round-trip times.

From every node of the lab that has an address, one ping (``ping -c1 -W1 -n``, ``-6`` for IPv6) to every
address of the lab, as the lab's records say it was deployed (:attr:`LabNode.interfaces`, not the document:
the document may have changed since). A node's own addresses are left out: "c1 reaches c1" says nothing
about the network and only adds noise to the matrix. Link-local IPv6 addresses (fe80::/10) need a zone to
be pinged and loopback ones never leave the node, so neither is a target.

A ping without a reply is sent once more before its cell says so: a lab's first packets can go unanswered
while neighbours are learned, and one lost packet is not a hole. Every ping goes through
:func:`topology.node_exec.run_in_node` (an argv list, no shell), at most
:data:`PARALLEL` at once, and the whole run stops at its deadline: pings not started by then are reported
as not run rather than making the caller wait. A matrix larger than :data:`MAX_SOURCES` x
:data:`MAX_TARGETS` is refused before anything runs.
"""
from __future__ import annotations

import ipaddress
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.db import close_old_connections, connection

from .models import LIVE_STATES, Lab, NodeStatus
from .node_exec import run_in_node

log = logging.getLogger(__name__)

PARALLEL = 16          # pings at once per lab: enough to be quick, few enough for the Docker Engine
MAX_SOURCES = 64       # nodes pinging
MAX_TARGETS = 256      # addresses pinged
DEFAULT_DEADLINE = 30  # seconds the whole run may take
MAX_DEADLINE = 60
PING_TIMEOUT = 4       # seconds one ping's exec may take (ping waits 1 s; docker exec adds its own)

# iputils: "64 bytes from 192.168.11.2: icmp_seq=1 ttl=63 time=0.091 ms"; busybox: "seq=0 ttl=64 time=0.123 ms".
RTT = re.compile(r"bytes from .*?\btime[=<]\s*([0-9]+(?:\.[0-9]+)?)\s*ms")
UNREACHABLE = re.compile(r"From (\S+?):? .*?(Destination \w+ Unreachable|Time to live exceeded|"
                         r"Address unreachable|No route|Port unreachable)", re.IGNORECASE)
NO_REPLY = "no reply in 1 s"
NO_REPLY_TWICE = "no reply in 1 s, twice"
PING_ERROR = re.compile(r"^ping: (?:[a-z]+: )?(.+)$", re.MULTILINE)


class TooBig(Exception):
    """The matrix would pass :data:`MAX_SOURCES` or :data:`MAX_TARGETS`; nothing was run."""


@dataclass(frozen=True)
class Target:
    """One address of the lab: the node and interface it is on."""

    node: str
    interface: str
    address: str

    @property
    def version(self) -> int:
        return ipaddress.ip_address(self.address).version

    def as_dict(self) -> dict:
        return {"node": self.node, "interface": self.interface, "address": self.address}


@dataclass(frozen=True)
class Plan:
    """What a ping all runs: its sources, its targets, and each (source, target) pair to ping."""

    sources: list[str]
    targets: list[Target]
    pairs: list[tuple[str, Target]]


def _addresses(interfaces) -> list[tuple[str, str]]:
    """(interface, address without its prefix length) of a node's deployed interfaces, by interface name
    (eth2 before eth10); link-local IPv6, loopback and unreadable addresses are left out (see the module's
    docstring)."""
    found = []
    listed = [i for i in interfaces if isinstance(i, dict)] if isinstance(interfaces, list) else []
    for iface in sorted(listed, key=lambda i: _natural(str(i.get("name", "")))):
        for text in iface.get("addresses") or []:
            try:
                address = ipaddress.ip_interface(str(text)).ip
            except ValueError:
                continue
            if address.is_link_local or address.is_loopback or address.is_unspecified:
                continue
            found.append((str(iface.get("name", "")), str(address)))
    return found


def _natural(name: str) -> list:
    """A sort key that puts eth2 before eth10."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name) if part]


def plan(nodes: list[tuple[str, list]], running: set[str] | None = None) -> Plan:
    """The plan for ``nodes`` ((name, deployed interfaces) in the order to show them).

    Sources are the nodes with an address (of ``running`` ones, when given: a stopped node cannot ping, but
    its addresses stay targets, holes that say it is down); targets every address; each source pings every
    target that is not its own. :class:`TooBig` beyond the caps (the message says how big it is and what
    the caps are).
    """
    targets: list[Target] = []
    own: dict[str, set[str]] = {}
    seen: set[str] = set()
    for name, interfaces in nodes:
        for iface, address in _addresses(interfaces):
            own.setdefault(name, set()).add(address)
            if address not in seen:  # the same address twice in a lab: one column, the first node's
                seen.add(address)
                targets.append(Target(name, iface, address))
    sources = [name for name, _ in nodes if name in own and (running is None or name in running)]
    if len(sources) > MAX_SOURCES or len(targets) > MAX_TARGETS:
        raise TooBig(f"this lab has {len(sources)} nodes with addresses and {len(targets)} addresses; ping all "
                     f"runs from at most {MAX_SOURCES} nodes to at most {MAX_TARGETS} addresses. Ping the ones "
                     "you need from a console or with the exec API")
    pairs = [(source, target) for source in sources for target in targets if target.address not in own[source]]
    return Plan(sources, targets, pairs)


def argv_for(target: Target) -> list[str]:
    """The ping of one target: one packet, a 1 s wait, numeric output; ``-6`` for an IPv6 address."""
    return ["ping", *(["-6"] if target.version == 6 else []), "-c1", "-W1", "-n", target.address]


def judge(answer: dict) -> dict:
    """One cell, ``{"ok", "rtt_ms", "error"}``, from :func:`run_in_node`'s answer to a ping."""
    if answer.get("error"):
        detail = answer.get("detail") or answer["error"]
        return {"ok": False, "rtt_ms": None, "error": str(detail)[:200]}
    output = answer.get("output") or ""
    if answer.get("timed_out"):
        return {"ok": False, "rtt_ms": None, "error": "the ping did not end in time"}
    rtt = RTT.search(output)
    if answer.get("exit_code") == 0:
        return {"ok": True, "rtt_ms": round(float(rtt.group(1)), 3) if rtt else None, "error": ""}
    if rtt:  # a reply came, yet ping says it failed (e.g. a duplicate or a corrupted reply): not reached
        return {"ok": False, "rtt_ms": None, "error": f"ping exited {answer.get('exit_code')} despite a reply"}
    unreachable = UNREACHABLE.search(output)
    if unreachable:
        return {"ok": False, "rtt_ms": None,
                "error": f"{unreachable.group(2).lower()} (from {unreachable.group(1)})"}
    failed = PING_ERROR.search(output)
    if failed:
        return {"ok": False, "rtt_ms": None, "error": failed.group(1).strip()[:200]}
    if answer.get("exit_code") == 1:
        return {"ok": False, "rtt_ms": None, "error": NO_REPLY}
    last = output.strip().splitlines()[-1:] or [f"ping exited {answer.get('exit_code')}"]
    return {"ok": False, "rtt_ms": None, "error": last[0][:200]}


def _lost_output(answer: dict) -> bool:
    """A ping that answered 0 with no output at all: the Docker Engine now and then loses a fast command's
    output (docker-py#2042); the rtt is then asked for once more."""
    return not answer.get("error") and answer.get("exit_code") == 0 and not (answer.get("output") or "").strip()


def _ping(lab_id: int, source: str, target: Target, deadline: float) -> dict:
    try:
        if time.monotonic() >= deadline:
            return {"ok": False, "rtt_ms": None, "error": "not run: ping all reached its deadline"}
        answer = run_in_node(lab_id, source, argv_for(target), PING_TIMEOUT)
        if _lost_output(answer) and time.monotonic() < deadline:
            answer = run_in_node(lab_id, source, argv_for(target), PING_TIMEOUT)
        cell = judge(answer)
        if cell["error"] == NO_REPLY and time.monotonic() < deadline:
            # One more packet: a lab's very first packets can go unanswered while its neighbours are still
            # being learned (seen on a switched LAN just deployed), and one lost packet is not a hole.
            cell = judge(run_in_node(lab_id, source, argv_for(target), PING_TIMEOUT))
            if cell["error"] == NO_REPLY:
                cell["error"] = NO_REPLY_TWICE
        return cell
    except Exception as exc:  # one ping's crash is its own cell, not the run's
        log.exception("ping all: %s -> %s crashed", source, target.address)
        return {"ok": False, "rtt_ms": None, "error": f"the ping crashed: {exc}"[:200]}
    finally:
        connection.close()  # each pool thread has its own database connection: do not leave it open


def _nodes(lab: Lab) -> tuple[list[tuple[str, list]], set[str]]:
    """The lab's deployed nodes (name, interfaces) in the document's order (the editor's), those it no longer
    names last; and the names of those running."""
    order = {}
    for i, node in enumerate(lab.topology.document.get("nodes", []) if isinstance(lab.topology.document, dict) else []):
        if isinstance(node, dict) and isinstance(node.get("name"), str):
            order.setdefault(node["name"], i)
    rows = list(lab.nodes.all())
    rows.sort(key=lambda n: (order.get(n.name, len(order)), n.name))
    return [(n.name, n.interfaces) for n in rows], {n.name for n in rows if n.state == NodeStatus.RUNNING}


def ping_all(lab_id: int, deadline: float = DEFAULT_DEADLINE) -> dict:
    """Ping every address of a running lab from every node with an address.

    ``{"sources": [names], "targets": [{node, interface, address}], "results": {source: {address: {ok,
    rtt_ms, error}}}, "took_ms"}``, or a refusal ``{"error", "detail"}``: ``"not_running"`` (no such lab or
    it does not run) or ``"too_big"`` (past the caps). A node that is not running (in a degraded lab) pings
    nothing, but its addresses are still pinged: who cannot reach it is the point.
    """
    close_old_connections()
    started = time.monotonic()
    seconds = min(max(float(deadline), 1.0), MAX_DEADLINE)
    lab = Lab.objects.select_related("topology").filter(pk=int(lab_id)).first()
    if lab is None or lab.state not in LIVE_STATES:
        return {"error": "not_running", "detail": f"the lab is {lab.state if lab else 'gone'}; deploy it first"}
    try:
        chosen = plan(*_nodes(lab))
    except TooBig as exc:
        return {"error": "too_big", "detail": str(exc)}
    results: dict[str, dict] = {source: {} for source in chosen.sources}
    if chosen.pairs:
        ends = started + seconds
        with ThreadPoolExecutor(max_workers=min(PARALLEL, len(chosen.pairs)),
                                thread_name_prefix=f"pingall-{lab.pk}") as pool:
            cells = list(pool.map(lambda pair: _ping(lab.pk, pair[0], pair[1], ends), chosen.pairs))
        for (source, target), cell in zip(chosen.pairs, cells, strict=True):
            results[source][target.address] = cell
    return {"sources": chosen.sources, "targets": [t.as_dict() for t in chosen.targets], "results": results,
            "took_ms": int((time.monotonic() - started) * 1000)}
