"""What a lab looks like to its user: state, nodes, interfaces, recent events (read-only, web side).

The command line's ``lab status``, the REST API's ``GET .../lab`` and the
websocket's first ``snapshot`` show the same shape, built here from the
database (never from Docker). Read-only, and imported by both sides (the
root worker publishes snapshots built here), so it imports neither side.
"""
from __future__ import annotations

from . import hosts, leases
from .kinds import DEFAULT as DEFAULT_KIND
from .models import BUSY_STATES, Lab, LabEvent, NodeStatus, Topology

MAX_EVENTS = 500


def interface(raw: dict) -> dict:
    """One deployed interface as ``{name, state, mac, mtu, addresses}``."""
    return {"name": raw.get("name", ""), "state": raw.get("state", ""), "mac": raw.get("mac"),
            "mtu": raw.get("mtu"), "addresses": list(raw.get("addresses") or [])}


def nodes(topology: Topology, lab: Lab | None = None) -> list[dict]:
    """Every node of the document, in its order, with what the worker observed of it (then any other it knows)."""
    lab = lab or topology.lab
    seen = {n.name: n for n in lab.nodes.all()}
    kinds = {raw.get("name", ""): raw.get("kind", DEFAULT_KIND) for raw in topology.document.get("nodes", [])}
    # A node still running that the document no longer has (edited while the lab ran) comes last, kind "".
    kinds.update({name: "" for name in seen if name not in kinds})
    result = []
    for name, kind in kinds.items():
        node = seen.get(name)
        result.append({
            "name": name,
            "kind": kind,
            "state": node.state if node else NodeStatus.STOPPED.value,
            "container": node.container_id[:12] if node else "",
            "reason": node.reason if node else "",
            "interfaces": [interface(i) for i in node.interfaces] if node else [],
        })
    return result


def operation_running(lab: Lab) -> bool:
    """True while an operation runs: the lab is deploying or destroying and a worker (or the queue) holds it.

    What users see as "busy". The state alone would call a lab whose worker
    died busy forever; the lease alone (:func:`topology.leases.is_held`) would
    call a lab busy for the instant between its final state and the release of
    its lease, and no later message would correct that.
    """
    return lab.state in BUSY_STATES and leases.is_held(lab.pk)


def stale(lab: Lab) -> bool:
    """A lab left deploying or destroying by a worker that died: nobody holds its lease."""
    return lab.state in BUSY_STATES and not leases.is_held(lab.pk)


def host(lab: Lab) -> dict:
    """``{host_queue, host_unreachable}``: the queue of the lab's host, and whether that host's worker is silent while the
    lab holds something there (derived now, so it clears itself when the host is back: :mod:`topology.hosts`)."""
    return {"host_queue": lab.queue, "host_unreachable": hosts.unreachable(lab)}


def summary(lab: Lab) -> dict:
    """The lab's state in a list: ``{state, busy, reason, host_queue, host_unreachable}``."""
    return {"state": lab.state, "busy": operation_running(lab), "reason": lab.reason, **host(lab)}


def status(topology: Topology) -> dict:
    """What ``lab status --json`` prints: name, owner, state, reason, busy, host and nodes."""
    lab = topology.lab
    return {"name": topology.name, "owner": topology.owner.get_username(), "state": lab.state,
            "reason": lab.reason, "busy": operation_running(lab), **host(lab), "nodes": nodes(topology, lab)}


def event(e: LabEvent) -> dict:
    """One step of an operation as ``{id, time, step, node, status, message, index, total, elapsed_ms}``."""
    return {"id": e.pk, "time": e.created.isoformat() if e.created else None, "step": e.step, "node": e.node, "status": e.status,
            "message": e.message, "index": e.index, "total": e.total, "elapsed_ms": e.elapsed_ms}


def events(lab: Lab, limit: int = MAX_EVENTS) -> list[dict]:
    """The events of the lab's current (or last) operation, oldest first, at most the last ``limit``."""
    if not lab.operation:
        return []
    recent = LabEvent.objects.filter(lab=lab, operation=lab.operation).order_by("-id")[:limit]
    return [event(e) for e in reversed(list(recent))]


def detail(topology: Topology) -> dict:
    """The API's view of a lab: state, reason, busy, operation, host, nodes and recent events."""
    lab = topology.lab
    return {"state": lab.state, "reason": lab.reason, "busy": operation_running(lab), "operation": lab.operation,
            **host(lab), "nodes": nodes(topology, lab), "events": events(lab)}
