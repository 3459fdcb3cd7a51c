"""The rules of stopping, starting and restarting one node of a running lab (web side, unprivileged).

Checked before anything is sent: the node is in the topology, the lab is
running or degraded, no operation holds it, the action fits the node's state
(stop a running node; start one that is not running; restart either), a lab
worker listens, and the owner has no other node operation in progress (one
at a time per user: a student cannot keep the class's lab worker busy with a
burst of restarts of several labs). Then the lab's lease is taken (so no
deploy, destroy or link change can interleave), the operation becomes the
lab's current one (its steps show in the lab's log) and the lab worker does it
(:mod:`topology.node_ops`) while this waits for the answer.
"""
from __future__ import annotations

import uuid

import redis

from . import lab_worker, labstate, leases, tasks
from .errors import Conflict, NotFound, Unavailable, WorkerFailed
from .models import BUSY_STATES, LIVE_STATES, LabNode, NodeStatus, Topology

ACTIONS = ("stop", "start", "restart")
NODE_WAIT = 60  # seconds the web tier waits for the lab worker (a start runs the node's exec commands)
USER_SLOT_TTL_MS = (NODE_WAIT + 15) * 1000  # a web process that died holding the user's slot frees it by then


class NoSuchNode(NotFound):
    """The topology has no such node (or no such action)."""


def _take_user_mark(user_id: int) -> leases.UserMark:
    try:
        return leases.take_user_mark(user_id, "node-operation", ttl_ms=USER_SLOT_TTL_MS,
                                     busy="another of your node operations is in progress; wait until it ends")
    except redis.RedisError as exc:
        raise Unavailable(f"Redis cannot be reached: {exc}") from exc


def _check(topology: Topology, node: str, action: str):
    if action not in ACTIONS:
        raise NoSuchNode(f"'{action}' is not an action on a node (use {', '.join(ACTIONS)})")
    if not any(isinstance(n, dict) and n.get("name") == node for n in topology.document.get("nodes", [])):
        raise NoSuchNode(f"'{topology.name}' has no node '{node}'")
    lab = topology.lab
    lab.refresh_from_db()
    if lab.state in BUSY_STATES:
        raise Conflict(f"the lab is busy ({lab.state}); wait until its current operation ends")
    if lab.state not in LIVE_STATES:
        raise Conflict(f"the lab is {lab.state}: deploy it first (a node is stopped and started in a running lab)")
    row = LabNode.objects.filter(lab=lab, name=node).values_list("state", flat=True).first()
    if row is None:
        raise Conflict(f"'{node}' is not part of the running lab (it was added after the deploy: deploy again)")
    if action == "stop" and row != NodeStatus.RUNNING:
        raise Conflict(f"'{node}' is not running (it is {row})")
    if action == "start" and row == NodeStatus.RUNNING:
        raise Conflict(f"'{node}' is already running")
    return lab


def act(topology: Topology, node: str, action: str) -> dict:
    """Do ``action`` to ``node`` of ``topology``'s running lab: ``{"node", "action", "state", "elapsed_ms"}``.

    Refused before anything changes: :class:`NoSuchNode` (404), :class:`Conflict` (409: the lab is not live or
    busy, or the node's state does not allow it), :class:`TooMany` (429: the owner has one in progress),
    :class:`~topology.errors.NoWorker` (503). Afterwards: :class:`WorkerFailed` (502, the node's state and the
    lab's log say what happened), :class:`~topology.errors.NoAnswer` (504).
    """
    lab = _check(topology, node, action)
    worker = lab_worker.require_worker(lab)
    operation = uuid.uuid4().hex
    mark = _take_user_mark(topology.owner_id)
    try:
        if not leases.acquire(lab.pk, operation, ttl_ms=(NODE_WAIT + 10) * 1000, worker=worker):
            raise Conflict("another operation runs on the lab; wait until it ends")
        handed_over = False
        try:
            lab.refresh_from_db()
            if lab.state not in LIVE_STATES:
                raise Conflict(f"the lab became {lab.state} meanwhile; try again")
            labstate.do_live_operation(lab, operation, f"{action} {node}")
            handed_over = True  # the worker takes the lease over and gives it back
            answer = lab_worker.ask(tasks.node_action, [lab.pk, operation, node, action], lab.queue, NODE_WAIT,
                                    f"the {action} of '{node}' may still end (its state will say)")
        finally:
            if not handed_over:
                leases.release(lab.pk, operation)
    finally:
        mark.release()
    if not answer.get("ok"):
        code = answer.get("error")
        detail = answer.get("detail", code)
        if code in ("busy", "not_running", "running", "no_lab"):
            raise Conflict(detail)
        if code == "no_node":
            raise NoSuchNode(detail)
        raise WorkerFailed(f"could not {action} '{node}': {detail}")
    return {"node": node, "action": action, "state": answer["state"], "elapsed_ms": answer["elapsed_ms"]}
