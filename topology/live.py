"""Changes to a running lab that restart nothing, on the lab worker (root side): a link's state and impairment.

The web tier (:mod:`topology.links`) has checked the change, saved it in the
document and taken the lab's lease for it; the task names the lab, the lease's
operation and one end of the link (``node:interface``). Here the lab and its
document are read again from the database, the change goes into the kernel of
both ends' namespaces over netlink (:func:`netlink.set_state`,
:func:`netlink.impair`, the very step a deploy runs), and, the lease given
back, the lab's watchers get a ``link`` message (:mod:`topology.broadcast`).
"""
from __future__ import annotations

import copy
import logging

from . import broadcast, labstate, leases, schema
from .engine import netlink
from .engine.docker_runtime import DockerRuntime
from .limits import document_limits
from .models import LIVE_STATES, Lab, NodeStatus

log = logging.getLogger(__name__)


def find_link(document: schema.Document, end: str):
    """``(link, this end, the other end)`` of the link with endpoint ``end`` (``node:interface``), or None."""
    node, _, interface = end.partition(":")
    for link in document.links:
        a, b = link.endpoints
        if (a.node, a.interface) == (node, interface):
            return link, a, b
        if (b.node, b.interface) == (node, interface):
            return link, b, a
    return None


def _apply(lab: Lab, end: str, runtime) -> dict:
    document = schema.parse(lab.topology.document, document_limits())
    found = find_link(document, end)
    if found is None:
        return {"error": "no_link", "detail": f"the topology has no link at {end}"}
    link, this, other = found
    nodes = {n.name: n for n in lab.nodes.filter(name__in=[this.node, other.node])}
    pids = {}
    for side in (this, other):
        row = nodes.get(side.node)
        pid = runtime.pid(row.container_id) if row and row.state == NodeStatus.RUNNING and row.container_id else None
        if pid is None:
            return {"error": "not_running", "detail": f"'{side.node}' is not running"}
        pids[side.node] = pid
    up = link.state == "up"
    for side in (this, other):  # both ends: each shapes what it sends, and "down" is down on both
        netlink.impair(pids[side.node], side.interface, link.impairment)
        netlink.set_state(pids[side.node], side.interface, up)
    if up:
        # Down, the kernel dropped the routes through the link (and IPv6 addresses): the document's come back.
        for side in (this, other):
            netlink.add_addresses(pids[side.node], side.interface, side.addresses)
            for route in document.node(side.node).routes:
                try:
                    netlink.add_route(pids[side.node], str(route.network()), via=route.via, dev=route.dev,
                                      exist_ok=True)
                except netlink.NetlinkStepError as exc:  # through another link that is down: it comes back with it
                    log.info("lab %s: %s: route %s left out: %s", lab.pk, side.node, route.to, exc)
    interfaces = {side.node: netlink.interfaces_of(pids[side.node]) for side in (this, other)}
    impairment = link.impairment.model_dump(exclude_none=True) if link.impairment is not None else None
    message = broadcast.link_message(f"{this.node}:{this.interface}", f"{other.node}:{other.interface}",
                                     link.state, impairment)
    step = f"link {this.node}:{this.interface} - {other.node}:{other.interface}: {describe(link.state, impairment)}"
    return {"ok": True, "interfaces": interfaces, "message": message, "step": step,
            "running_document": _running_with(lab.running_document, end, link.state, impairment)}


def _running_with(running: dict | None, end: str, state: str, impairment: dict | None) -> dict | None:
    """The lab's running document with the link at ``end`` now in ``state`` with ``impairment`` (None when the
    lab has no running document, or it has no such link: it was added to the topology after the deploy)."""
    if not isinstance(running, dict):
        return None
    node, _, interface = end.partition(":")
    changed = copy.deepcopy(running)
    for link in changed.get("links", []):
        if any(e.get("node") == node and e.get("interface") == interface for e in link.get("endpoints", [])):
            link["state"] = state
            if impairment is None:
                link.pop("impairment", None)
            else:
                link["impairment"] = dict(impairment)
            return changed
    return None


UNITS = {"delay_ms": ("delay", " ms"), "jitter_ms": ("jitter", " ms"), "loss_percent": ("loss", " %"),
         "duplicate_percent": ("duplication", " %"), "corrupt_percent": ("corruption", " %"),
         "rate_kbit": ("rate", " kbit/s")}


def describe(state: str, impairment: dict | None) -> str:
    """A link's state and impairment in a few words, for the lab's log: ``down`` or ``up, loss 5 %, rate 2000
    kbit/s``."""
    parts = [state] + [f"{UNITS[key][0]} {value:g}{UNITS[key][1]}" for key, value in (impairment or {}).items()
                       if key in UNITS]
    return ", ".join(parts) if impairment else f"{state}, no impairment"


def change_link(lab_id: int, operation: str, end: str, runtime=None) -> dict:
    """Apply the document's state and impairment of the link at ``end`` to the running lab ``lab_id``, holding
    its lease as ``operation``: ``{"ok": true}`` or ``{"error": code, "detail": why}``."""
    lab = Lab.objects.select_related("topology").filter(pk=lab_id).first()
    if lab is None:
        return {"error": "no_lab", "detail": "the lab no longer exists"}
    announce: list[dict] = []
    try:
        with leases.held(lab.pk, operation):
            lab.refresh_from_db()
            if lab.state not in LIVE_STATES:
                return {"error": "not_running", "detail": f"the lab is {lab.state}"}
            try:
                answer = _apply(lab, end, runtime or DockerRuntime())
            except (netlink.NetlinkStepError, schema.DocumentError) as exc:
                log.warning("lab %s: link %s: %s", lab.pk, end, exc)
                answer = {"error": "failed", "detail": str(exc)}
            if answer.get("ok"):
                labstate.do_link_changed(lab, answer.pop("interfaces"), answer.pop("message"), announce,
                                         operation, answer.pop("step"), answer.pop("running_document"))
            else:
                labstate.do_event(lab, operation, f"link {end}", "failed", answer["detail"], announce)
    except leases.LeaseLost as exc:
        return {"error": "busy", "detail": str(exc)}
    if announce:
        broadcast.publish_many(lab.pk, announce)
    return answer
