"""The one owner of a lab's state: every change of a lab's or a node's state, its events, and the news of it.

Each ``do_*`` function writes the rows and then publishes what changed to the
lab's watchers (:mod:`topology.broadcast`), in that order; nothing else
writes ``Lab.state``/``reason``/``operation``, a ``LabNode``'s state,
container and interfaces, or a ``LabEvent``. The web tier calls the first
group (an operation begins, or could not be queued), the root worker the
rest (what the engine reported, how the operation ended, and what its Docker
watcher, :mod:`topology.watcher`, saw happen to a node behind its back).

Both sides import this module: it knows the database and the channel layer,
never Docker, the kernel or a user's permissions (those are the callers').
"""
from __future__ import annotations

from typing import Callable, Iterable

from django.conf import settings
from django.db import transaction
from django.db.models import Case, DateTimeField, F, Value, When
from django.utils import timezone

from . import broadcast, coursefeed
from .models import LIVE_STATES, Lab, LabEvent, LabNode, LabState, NodeStatus, Topology


def create_lab(topology: Topology) -> Lab:
    """The (stopped) lab of a new topology, on this host's queue; nobody watches it yet, so nothing is said,
    but to the instructors of a course whose assignment it copies ("Start": their grid's cell, once committed)."""
    lab = Lab.objects.create(topology=topology, queue=settings.TOPOLAB_QUEUE)
    transaction.on_commit(lambda: coursefeed.lab_changed(lab.pk))
    return lab


# -- the web tier: an operation begins ---------------------------------------------------------------


def do_begin(lab: Lab, state: LabState, step: str, operation: str, nodes: Iterable[str] | None = None,
             then: Callable[[], None] | None = None, queue: str | None = None) -> None:
    """Move ``lab`` to ``state`` under ``operation`` with a first event ``step``; once committed, tell its
    watchers, then call ``then`` (which queues the operation's task: the news is out before any worker acts).

    ``nodes`` (a deploy): the nodes the lab will have, each reset to pending;
    rows of nodes no longer in the document go. ``queue`` (a deploy that :mod:`topology.placement` placed):
    the host the lab now lives on, written with its state (under the lease the caller holds).
    """
    names = list(nodes) if nodes is not None else None
    placed = {"queue": queue} if queue else {}
    with transaction.atomic():
        Lab.objects.filter(pk=lab.pk).update(state=state, reason="", operation=operation,
                                             state_changed=timezone.now(), **placed)
        event = LabEvent.objects.create(lab=lab, operation=operation, step=step, status=LabEvent.Status.INFO)
        if names is not None:
            LabNode.objects.filter(lab=lab).exclude(name__in=names).delete()
            for name in names:
                LabNode.objects.update_or_create(lab=lab, name=name, defaults={
                    "state": NodeStatus.PENDING, "container_id": "", "interfaces": [], "reason": ""})
        messages = [broadcast.lab_message(state, "", True, operation), broadcast.events_message([event])]
        messages += [broadcast.node_message(name, NodeStatus.PENDING) for name in names or ()]
        _once_committed(lab.pk, messages, then)
    lab.refresh_from_db()


def _once_committed(lab_id: int, messages: list, then: Callable[[], None] | None) -> None:
    """Once the transaction commits: the lab's watchers get ``messages``, the course page hears, ``then`` runs
    (it queues the operation's task: the news is out before any worker acts)."""
    def committed() -> None:
        broadcast.publish_many(lab_id, messages)
        coursefeed.lab_changed(lab_id)
        if then is not None:
            then()

    transaction.on_commit(committed)


def do_not_queued(lab: Lab, operation: str, reason: str) -> None:
    """The operation never reached a worker (the broker is down): the lab failed, saying why; an Apply changes
    that never started leaves the lab running what it ran."""
    applying = Lab.objects.filter(pk=lab.pk, operation=operation, applying_document__isnull=False).exists()
    state = LabState.FAILED
    if applying:
        state = LabState.DEGRADED if troubles(lab) else LabState.RUNNING
        reason = f"the changes were not applied: {reason}"
        LabNode.objects.filter(lab=lab, state=NodeStatus.PENDING).delete()  # the nodes it was to add
    Lab.objects.filter(pk=lab.pk, operation=operation).update(state=state, reason=reason, applying_document=None,
                                                              state_changed=timezone.now())
    broadcast.publish(lab.pk, broadcast.lab_message(state, reason, False, operation))
    coursefeed.lab_changed(lab.pk)


def do_forget(lab: Lab, operation: str, reason: str) -> None:
    """An administrator forgets a lab whose host is unreachable: it is stopped at once, under ``operation``,
    without asking its host (whose gc removes what is left there once it is back: the lab owns nothing now).
    Its nodes hold no container any more; an event says who did it and why."""
    with transaction.atomic():
        Lab.objects.filter(pk=lab.pk).update(state=LabState.STOPPED, reason=reason, operation=operation,
                                             running_document=None, applying_document=None,
                                             state_changed=timezone.now())
        LabNode.objects.filter(lab=lab).update(state=NodeStatus.STOPPED, container_id="", interfaces=[], reason="")
        event = LabEvent.objects.create(lab=lab, operation=operation, step="lab forgotten", status=LabEvent.Status.INFO,
                                        message=reason)
        messages = [broadcast.events_message([event]), broadcast.lab_message(LabState.STOPPED, reason, False, operation)]
        _once_committed(lab.pk, messages, lambda: broadcast.publish_many(lab.pk, broadcast.node_messages(lab)))
    lab.refresh_from_db()


# -- the root worker: what the engine did ------------------------------------------------------------


def do_record(lab: Lab, events: list[LabEvent], node_states: dict[str, tuple[str, str]]) -> None:
    """Write a batch of the engine's events and node states (``{node: (state, reason)}``), then publish them."""
    if events:
        # With RETURNING (SQLite 3.35+, PostgreSQL) the objects get their ids, which clients need.
        events = LabEvent.objects.bulk_create(events)
    for node, (state, reason) in node_states.items():
        LabNode.objects.filter(lab=lab, name=node).update(state=state, reason=reason)
    if events or node_states:
        broadcast.publish_many(lab.pk, [broadcast.events_message(events)]
                               + [broadcast.node_message(node, state, reason)
                                  for node, (state, reason) in node_states.items()])


def do_nodes_running(lab: Lab, nodes: dict[str, tuple[str, list]], document: dict | None = None) -> None:
    """The build is done: each node runs in its container with its interfaces (``{node: (container, interfaces)}``),
    built from ``document`` (kept as the lab's running document)."""
    Lab.objects.filter(pk=lab.pk).update(running_document=document)
    for name, (container, interfaces) in nodes.items():
        LabNode.objects.filter(lab=lab, name=name).update(state=NodeStatus.RUNNING, reason="",
                                                          container_id=container, interfaces=interfaces)
    broadcast.publish_many(lab.pk, broadcast.node_messages(lab))
    coursefeed.lab_changed(lab.pk)


def do_nodes_stopped(lab: Lab, failed: str = "", reason: str = "") -> None:
    """Nothing of the lab runs any more; the node named ``failed`` (if any) is marked failed with ``reason``."""
    Lab.objects.filter(pk=lab.pk).update(running_document=None)
    LabNode.objects.filter(lab=lab).update(state=NodeStatus.STOPPED, container_id="", interfaces=[], reason="")
    if failed:
        LabNode.objects.filter(lab=lab, name=failed).update(state=NodeStatus.FAILED, reason=reason)
    broadcast.publish_many(lab.pk, broadcast.node_messages(lab))
    coursefeed.lab_changed(lab.pk)


def do_finish(lab: Lab, operation: str, state: LabState, reason: str = "", later: list | None = None) -> None:
    """The operation ended with the lab in ``state``: record it, with a last event, and say so.

    The news is published now, or appended to ``later`` for a caller that must
    first give the lab's lease back (a browser that reads ``busy: false`` may
    start the next operation at once, which a held lease would refuse). A lab
    whose operation is no longer ``operation`` keeps its state; only the event
    is recorded.
    """
    changed = Lab.objects.filter(pk=lab.pk, operation=operation).update(state=state, reason=reason,
                                                                        applying_document=None,
                                                                        state_changed=timezone.now())
    event = LabEvent.objects.create(lab=lab, operation=operation, step=f"lab {state}",
                                    status=LabEvent.Status.FAILED if state == LabState.FAILED else LabEvent.Status.OK,
                                    message=reason)
    if changed:
        # The last step's line first, then the state: "lab running" closes the operation.
        messages = [broadcast.events_message([event]), broadcast.lab_message(state, reason, False, operation)]
        if later is None:
            broadcast.publish_many(lab.pk, messages)
        else:
            later.extend(messages)
        coursefeed.lab_changed(lab.pk)  # the course page shows the state, not the lease: no need to wait for it


# -- the root worker's watcher: what happened to a node behind the engine's back -----------------------

LOST_STATES = (NodeStatus.EXITED, NodeStatus.GONE)
TROUBLED_STATES = LOST_STATES + (NodeStatus.FAILED,)  # a live lab with one of these is degraded (a failed start)


def do_node_lost(lab: Lab | int, node: str, state: str, reason: str, *, container: str | None = None) -> bool:
    """Node ``node`` of a running (or degraded) lab (or lab ID) is no longer running: ``exited`` (its main process
    ended) or ``gone`` (its container was removed), ``reason`` saying how. The node takes that state, the
    lab becomes ``degraded`` (its reason naming every node lost so far), an event says what happened;
    once committed, its watchers get ``node``, ``events`` and ``lab`` messages.

    Only a lab still running or degraded changes (one being deployed or destroyed is its operation's), and
    only a node that was running (an exited one may still go); with ``container``, only while that is
    still the node's container. Returns whether anything changed (False: the news was stale).
    """
    lab_id = lab.pk if isinstance(lab, Lab) else int(lab)
    state = NodeStatus(state)
    if state not in LOST_STATES:
        raise ValueError(f"a lost node is {' or '.join(LOST_STATES)}, not {state}")
    was = [NodeStatus.RUNNING, NodeStatus.EXITED] if state == NodeStatus.GONE else [NodeStatus.RUNNING]
    with transaction.atomic():
        # The lab's row first, as do_begin writes it: a deploy or destroy that began meanwhile wins.
        now = timezone.now()
        if not Lab.objects.filter(pk=lab_id, state__in=LIVE_STATES).update(
                state=LabState.DEGRADED,
                state_changed=Case(When(state=LabState.RUNNING, then=Value(now)), default=F("state_changed"),
                                   output_field=DateTimeField())):
            return False
        nodes = LabNode.objects.filter(lab_id=lab_id, name=node, state__in=was)
        if container is not None:
            nodes = nodes.filter(container_id=container)
        if not nodes.update(state=state, reason=reason):
            transaction.set_rollback(True)
            return False
        lost = LabNode.objects.filter(lab_id=lab_id, state__in=TROUBLED_STATES).order_by("name").values_list("name", "reason")
        summary = "; ".join(f"{name}: {why}" for name, why in lost)
        Lab.objects.filter(pk=lab_id).update(reason=summary)
        operation = Lab.objects.filter(pk=lab_id).values_list("operation", flat=True).first() or ""
        event = LabEvent.objects.create(lab_id=lab_id, operation=operation, step=f"{node} {state}", node=node,
                                        status=LabEvent.Status.FAILED, message=reason)
        messages = [broadcast.node_message(node, state, reason), broadcast.events_message([event]),
                    broadcast.lab_message(LabState.DEGRADED, summary, False, operation)]
        transaction.on_commit(lambda: (broadcast.publish_many(lab_id, messages), coursefeed.lab_changed(lab_id)))
    return True


# -- the root worker: a link changed live (topology.live) ----------------------------------------------


def do_link_changed(lab: Lab, interfaces: dict[str, list], message: dict, later: list | None = None,
                    operation: str = "", step: str = "", running_document: dict | None = None) -> None:
    """A link of a running lab was changed in the kernel: its nodes' interfaces are now ``interfaces``
    (``{node: interfaces}``, as the kernel reports them), its running document ``running_document`` (if given);
    its watchers get ``message`` (a ``link`` message), and ``step`` (if given) is recorded as the
    ``operation``'s last event, now or appended to ``later`` for a caller that first gives the lab's lease
    back."""
    if running_document is not None:
        Lab.objects.filter(pk=lab.pk).update(running_document=running_document)
    for name, found in interfaces.items():
        LabNode.objects.filter(lab=lab, name=name).update(interfaces=found)
    messages = [message]
    if step:
        event = LabEvent.objects.create(lab=lab, operation=operation, step=step[:200], status=LabEvent.Status.OK)
        messages.append(broadcast.events_message([event]))
    if later is None:
        broadcast.publish_many(lab.pk, messages)
    else:
        later.extend(messages)


def do_event(lab: Lab, operation: str, step: str, status: str, message: str = "", later: list | None = None) -> None:
    """Record one event of ``operation`` that changes no state (a live change that failed, saying why)."""
    event = LabEvent.objects.create(lab=lab, operation=operation, step=step[:200], status=status, message=message)
    messages = [broadcast.events_message([event])]
    if later is None:
        broadcast.publish_many(lab.pk, messages)
    else:
        later.extend(messages)


# -- one node of a live lab stopped or started (topology.nodes on the web tier, topology.node_ops on the worker) --

def do_live_operation(lab: Lab, operation: str, step: str) -> None:
    """A change made in place to a running (or degraded) lab (a node stopped or started, a link changed) begins
    under ``operation``, with a first event ``step``: the lab keeps its state, and its events are this
    operation's from now on (the log a user watches). Its watchers hear of it once committed."""
    with transaction.atomic():
        Lab.objects.filter(pk=lab.pk).update(operation=operation)
        event = LabEvent.objects.create(lab=lab, operation=operation, step=step, status=LabEvent.Status.INFO)
        messages = [broadcast.events_message([event])]
        transaction.on_commit(lambda: broadcast.publish_many(lab.pk, messages))
    lab.operation = operation


def _settle(lab_id: int, operation: str, messages: list) -> None:
    """A live lab is ``degraded`` while a node of it exited, is gone or failed to start (its reason names
    them), else ``running``; its watchers get the lab's state in ``messages``."""
    troubled = LabNode.objects.filter(lab_id=lab_id, state__in=TROUBLED_STATES).order_by("name")
    summary = "; ".join(f"{name}: {why}" for name, why in troubled.values_list("name", "reason"))
    state = LabState.DEGRADED if summary else LabState.RUNNING
    Lab.objects.filter(pk=lab_id, state__in=LIVE_STATES).exclude(state=state).update(
        state=state, state_changed=timezone.now())
    Lab.objects.filter(pk=lab_id, state__in=LIVE_STATES).update(reason=summary)
    messages.append(broadcast.lab_message(state, summary, False, operation))


def _node_changed(lab: Lab, node: str, fields: dict, neighbours: dict[str, list], operation: str,
                  later: list | None) -> None:
    messages: list[dict] = []
    with transaction.atomic():
        LabNode.objects.filter(lab=lab, name=node).update(**fields)
        for name, found in neighbours.items():
            if name != node:
                LabNode.objects.filter(lab=lab, name=name).update(interfaces=found)
        messages.append(broadcast.node_message(node, fields["state"], fields.get("reason", "")))
        _settle(lab.pk, operation, messages)
    if later is None:
        broadcast.publish_many(lab.pk, messages)
    else:
        later.extend(messages)
    coursefeed.lab_changed(lab.pk)


def do_node_stopped(lab: Lab, node: str, neighbours: dict[str, list], operation: str,
                    later: list | None = None) -> None:
    """``node`` was stopped on purpose (its container kept, to be started again); its neighbours' interfaces
    are now ``neighbours`` (``{node: interfaces}``). News now, or into ``later`` (see :func:`do_finish`)."""
    _node_changed(lab, node, {"state": NodeStatus.STOPPED, "reason": "", "interfaces": []}, neighbours,
                  operation, later)


def do_node_started(lab: Lab, node: str, container: str, interfaces: dict[str, list], operation: str,
                    later: list | None = None) -> None:
    """``node`` runs again in ``container``, wired; ``interfaces`` are its own and its neighbours' now."""
    _node_changed(lab, node, {"state": NodeStatus.RUNNING, "reason": "", "container_id": container,
                              "interfaces": interfaces.get(node, [])}, interfaces, operation, later)


def do_node_failed(lab: Lab, node: str, reason: str, neighbours: dict[str, list], operation: str,
                   later: list | None = None) -> None:
    """``node`` could not be started (``reason``); what was made of it was stopped again."""
    _node_changed(lab, node, {"state": NodeStatus.FAILED, "reason": reason, "interfaces": []}, neighbours,
                  operation, later)


# -- Apply changes (topology.apply on the web tier, topology.applier on the worker) ----------------------------


def do_apply_begin(lab: Lab, operation: str, document: dict, added: Iterable[str],
                   then: Callable[[], None] | None = None) -> None:
    """Apply changes begins under ``operation``: the lab is ``deploying`` (busy) until it ends, ``document`` is
    what it is to run, the ``added`` nodes get rows (pending: they count against the owner's limits from now
    on). Once committed its watchers hear of it, then ``then`` queues the task."""
    added = list(added)
    with transaction.atomic():
        Lab.objects.filter(pk=lab.pk).update(state=LabState.DEPLOYING, reason="", operation=operation,
                                             applying_document=document, state_changed=timezone.now())
        event = LabEvent.objects.create(lab=lab, operation=operation, step="apply requested",
                                        status=LabEvent.Status.INFO)
        for name in added:
            LabNode.objects.update_or_create(lab=lab, name=name, defaults={
                "state": NodeStatus.PENDING, "container_id": "", "interfaces": [], "reason": ""})
        messages = [broadcast.lab_message(LabState.DEPLOYING, "", True, operation), broadcast.events_message([event])]
        messages += [broadcast.node_message(name, NodeStatus.PENDING) for name in added]
        _once_committed(lab.pk, messages, then)
    lab.refresh_from_db()


def do_applied(lab: Lab, document: dict, nodes: dict[str, tuple[str, list]], stopped: Iterable[str] = (),
               failed: dict[str, str] | None = None) -> None:
    """Apply changes is over: the lab runs ``document`` (the new one, or the old one put back); ``nodes`` are
    the running nodes now (``{node: (container, interfaces)}``); ``stopped`` ones hold no container any more
    (made again while they were not running: they start from the new document); ``failed`` ones could not be
    brought back (``{node: why}``). Rows of nodes the document no longer has go."""
    failed = failed or {}
    names = {node["name"] for node in document.get("nodes", [])}
    with transaction.atomic():
        Lab.objects.filter(pk=lab.pk).update(running_document=document, applying_document=None)
        LabNode.objects.filter(lab=lab).exclude(name__in=names).delete()
        for name, (container, interfaces) in nodes.items():
            LabNode.objects.update_or_create(lab=lab, name=name, defaults={
                "state": NodeStatus.RUNNING, "reason": "", "container_id": container, "interfaces": interfaces})
        LabNode.objects.filter(lab=lab, name__in=list(stopped)).update(container_id="", interfaces=[])
        LabNode.objects.filter(lab=lab, state=NodeStatus.PENDING).exclude(name__in=list(nodes)).update(
            state=NodeStatus.STOPPED)  # added while being applied, never started: the apply was undone
        for name, why in failed.items():
            LabNode.objects.filter(lab=lab, name=name).update(state=NodeStatus.FAILED, reason=why, interfaces=[])
    broadcast.publish_many(lab.pk, broadcast.node_messages(lab))
    coursefeed.lab_changed(lab.pk)


def troubles(lab: Lab) -> str:
    """The nodes of ``lab`` that exited, are gone or failed, with why (empty: none)."""
    troubled = LabNode.objects.filter(lab=lab, state__in=TROUBLED_STATES).order_by("name")
    return "; ".join(f"{name}: {why}" for name, why in troubled.values_list("name", "reason"))


def do_running_files(lab: Lab, files: dict[str, dict[str, str]]) -> None:
    """What runs in some nodes was read back into the topology's document (FRR's Save configs: ``{node: {path:
    content}}``): the lab's running document says the same, so Apply changes sees nothing to redo there."""
    running = Lab.objects.filter(pk=lab.pk).values_list("running_document", flat=True).first()
    if not isinstance(running, dict):
        return
    for node in running.get("nodes", []):
        wanted = files.get(node.get("name")) if isinstance(node, dict) else None
        if not wanted:
            continue
        entries = node.setdefault("files", [])
        for path, content in wanted.items():
            entry = next((f for f in entries if isinstance(f, dict) and f.get("path") == path), None)
            if entry is None:
                entries.append({"path": path, "content": content})
            else:
                entry["content"] = content
    Lab.objects.filter(pk=lab.pk).update(running_document=running)
