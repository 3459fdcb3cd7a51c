"""The news of a lab for its watchers: what changed, published to its channel-layer group ``lab.<lab id>``.

:mod:`topology.labstate`, the one writer of lab state (called by the root
worker and the web tier alike), publishes here *after* each change is
written to the database. :class:`topology.websockets.lab.LabConsumer`
forwards every message of the group, unchanged, as one JSON text frame to
each subscribed websocket (``/ws/topologies/<topology id>/``, owner only).

Messages (JSON objects; ``type`` tells them apart)
--------------------------------------------------

``snapshot``, the first frame a client gets, once, right after it connects::

    {"type": "snapshot", "lab": {
        "state": "stopped|deploying|running|degraded|failed|destroying",
        "reason": "why the last operation failed, or which nodes a degraded lab lost, or ''",
        "busy": true,            # an operation is running right now (the buttons wait)
        "operation": "<id of the current or last operation, '' if none>",
        "nodes": [{"name": "c1", "kind": "host",
                   "state": "pending|creating|running|failed|stopped|exited|gone",
                   "container": "<12 hex digits or ''>", "reason": "",
                   "interfaces": [{"name", "addresses", "mac", "mtu", "state"}, ...]}, ...],
        "events": [<event>, ...]  # the last 500 of the current operation, oldest first
    }}

``lab``, whenever the lab's state changes (an operation begins or ends,
garbage collection marks an interrupted lab failed, or a node of a running
lab is lost)::

    {"type": "lab", "state": "deploying", "reason": "", "busy": true, "operation": "<id>"}

``node``, whenever one node's state changes (one message per node)::

    {"type": "node", "name": "c1", "state": "creating", "reason": ""}

``events``, the steps recorded since the last message, **always batched**
(one message per 0.2 s flush of the worker, in order, oldest first)::

    {"type": "events", "events": [<event>, ...]}

where ``<event>`` is::

    {"id": 412, "time": "2026-11-27T23:59:01.123456+00:00", "step": "create c1",
     "node": "c1", "status": "started|ok|failed|info", "message": "",
     "index": 3, "total": 17, "elapsed_ms": 41}

(``node``/``message`` may be ``""``; ``index``, ``total``, ``elapsed_ms`` may
be ``null``: the "deploy requested" and "lab running" events have no index,
nor has a lost node's "c2 gone".)

``link``, after a live change of a link of a running lab has been applied on both ends (its
administrative state, its impairment or both; the document was saved with it first)::

    {"type": "link", "end": "c1:eth0", "peer": "r1:eth0", "state": "down|up",
     "impairment": {"delay_ms": 20, "loss_percent": 5, ...} or null}

(``end`` is the end the change was asked for, ``peer`` the other one; ``impairment`` as the
document now has it, null when there is none.) It is published by the lab worker
(:mod:`topology.live`) once the change is in the kernel, after the lab's lease is given back.

``topology``, once a save of the topology's document is committed (an editor's Save, a PUT from
another tab or a script, ``lab import --replace``, an apply, FRR's "Save configs", an assignment's
reset), or once the topology is deleted::

    {"type": "topology", "name": "triangle", "updated": "2026-12-01T12:03:41.123Z", "deleted": false}

(``updated`` is the topology's new ``updated`` time, the one its API answers carry, null when
deleted.) An editor compares it with the copy it has (``updated`` of its own last load or save):
another one means the document was changed elsewhere, and it says so. A live change of a link
(``link`` above) saves the document without a new ``updated`` and sends no ``topology`` message. On
``deleted`` the lab's socket (:mod:`topology.websockets.lab`) checks its user's access at once and
says ``gone``, instead of at its next periodic check. Published by the web tier
(:mod:`topology.services`).

States beyond an operation's
----------------------------

A running lab's node can stop behind the engine's back: its container is
removed (``docker rm -f``), its main process ends (a crash, a kill, the OOM
killer), or dockerd restarts. The lab worker's Docker watcher
(:mod:`topology.watcher`) notices it at once, or when dockerd answers again,
and the node becomes

- ``exited``: its main process ended; ``reason`` says how ("its main process
  was killed by SIGKILL (exit code 137)", "killed by the OOM killer (exit code
  137)", "its main process exited with code 1");
- ``gone``: its container no longer exists ("its container was removed").

and the lab ``degraded`` (its other nodes still run: consoles, logs and
commands work on them; Deploy says to destroy it first; Destroy clears it),
its ``reason`` naming every node lost so far (``"c2: its container was
removed"``). Labs being deployed or destroyed are left to their operation.

In what order
-------------

- A deploy or destroy begins (web tier, once committed): ``lab`` (deploying or
  destroying, ``busy`` true, the new ``operation``), ``events`` with the
  "deploy requested" / "destroy requested" line, then, for a deploy, a
  ``node`` message per node, all ``pending``.
- While it runs (lab worker, every 0.2 s): ``events`` with the steps of the
  flush, then a ``node`` message for each node whose state changed
  (``creating`` when its container is made, ``stopped`` when removed,
  ``failed`` with the step's message when its step failed).
- When it ends: a ``node`` message for every node (``running`` after a build;
  ``stopped`` after a teardown or a failed build, except the node that failed,
  ``failed`` with the reason), ``events`` ending with "lab running" / "lab
  stopped" / "lab failed", and **last** ``lab`` with ``busy`` false. It is sent
  after the lab's lease is given back, so the next Deploy/Destroy the browser
  sends on seeing it is never refused as busy.
- When a node is lost (no operation runs): ``node`` (``exited`` or ``gone``
  with its reason), ``events`` with one ``failed`` line ``"<node> exited"`` /
  ``"<node> gone"`` (``node`` set, ``message`` the reason, no index), then
  ``lab`` (``degraded``, ``busy`` false, the *same* ``operation`` as before:
  the log is not cleared). A node that exited and is then removed sends all
  three again, ``gone``.

How a client should read them
-----------------------------

- A ``lab`` message whose ``operation`` differs from the one it has starts a
  new operation: clear the log and the progress bar.
- Progress is ``index`` / ``total`` of the latest event that has both.
- ``busy`` is false for a lab left ``deploying``/``destroying`` by a worker
  that died: offer "Destroy" to clean it up.
- Messages published between the moment a client joins and its snapshot may
  repeat what the snapshot already says; states are absolute, so applying them
  again is harmless, and the consumer drops events the snapshot already held
  (an event ``id`` never arrives twice).

On the channel layer, the messages of one :func:`publish_many` call travel as
one message ``{"type": "lab.message", "messages": [...]}`` (a channel holds at
most 100 messages and drops the rest, which a 500-node flush would overflow);
the consumer sends each as a frame of its own, so clients never see that.

Publishing never raises: if Redis blips, the lab worker logs a warning and
goes on (the database still has everything; a client that reconnects gets it
in its snapshot).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from . import labview
from .models import Lab, LabEvent, LabNode, Topology

log = logging.getLogger(__name__)

SNAPSHOT_EVENTS = 500
PUBLISH_TIMEOUT = 3.0  # seconds; a hung Redis must not hold the engine's recorder for long
HANDLER = "lab.message"  # the channel-layer type: LabConsumer.lab_message forwards each of ["messages"]
_WARN_EVERY = 30.0
_last_warning = 0.0


def group_name(lab_id: int) -> str:
    """The channel-layer group of one lab."""
    return f"lab.{int(lab_id)}"


def publish(lab_id: int, message: dict) -> None:
    """Send one message to everyone watching the lab; never raises."""
    publish_many(lab_id, [message])


def publish_many(lab_id: int, messages: Iterable[dict | None]) -> None:
    """Send messages, in order, to everyone watching the lab (one round trip to Redis); never raises."""
    messages = [message for message in messages if message]
    if not messages:
        return
    try:
        layer = get_channel_layer()
        if layer is None:
            return
        async_to_sync(_send)(layer, group_name(lab_id), messages)
    except Exception as exc:  # noqa: BLE001 - the browser's view is best effort, the engine goes on
        _warn(lab_id, len(messages), exc)


async def _send(layer, group: str, messages: list[dict]) -> None:
    # One channel-layer message carries them all: a channel holds at most ``capacity`` (100) messages
    # and drops the rest, which a 500-node flush would overflow; the consumer sends one frame each.
    await asyncio.wait_for(layer.group_send(group, {"type": HANDLER, "messages": messages}), PUBLISH_TIMEOUT)


def _warn(lab_id: int, count: int, exc: Exception) -> None:
    global _last_warning
    now = time.monotonic()
    if now - _last_warning >= _WARN_EVERY:
        _last_warning = now
        log.warning("lab %s: could not publish %d message(s) to the browser: %r (further failures for %d s "
                    "are logged at debug level)", lab_id, count, exc, _WARN_EVERY)
    else:
        log.debug("lab %s: could not publish %d message(s): %r", lab_id, count, exc)


# Messages ------------------------------------------------------------------


def lab_message(state: str, reason: str, busy: bool, operation: str) -> dict:
    """The lab's state changed."""
    return {"type": "lab", "state": str(state), "reason": reason or "", "busy": bool(busy),
            "operation": operation or ""}


def node_message(name: str, state: str, reason: str = "") -> dict:
    """One node's state changed."""
    return {"type": "node", "name": name, "state": str(state), "reason": reason or ""}


def node_messages(lab: Lab | int, names: Iterable[str] | None = None) -> list[dict]:
    """A ``node`` message for each of the lab's nodes (or those named), as the database has them now."""
    nodes = LabNode.objects.filter(lab=lab)
    if names is not None:
        nodes = nodes.filter(name__in=list(names))
    return [node_message(name, state, reason) for name, state, reason in nodes.values_list("name", "state", "reason")]


def link_message(end: str, peer: str, state: str, impairment: dict | None) -> dict:
    """A link of a running lab was changed live (see ``link`` above)."""
    return {"type": "link", "end": end, "peer": peer, "state": str(state),
            "impairment": dict(impairment) if impairment is not None else None}


def topology_message(name: str, updated, deleted: bool = False) -> dict:
    """The topology's document was saved (``updated``: its new ``updated`` datetime) or it was deleted."""
    # Written as the API writes it (milliseconds, "Z"): a page compares the two as they are.
    when = updated.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z") if updated else None
    return {"type": "topology", "name": name, "updated": when, "deleted": bool(deleted)}


def events_message(events: Iterable[LabEvent]) -> dict | None:
    """Steps recorded together (None if there are none)."""
    items = [labview.event(event) for event in events]
    return {"type": "events", "events": items} if items else None


# The snapshot ----------------------------------------------------------------


def lab_snapshot(lab: Lab | int) -> dict:
    """The whole observed state of a lab (or a lab's ID): what a client gets first (the ``lab`` of a ``snapshot``)."""
    lab_id = lab.pk if isinstance(lab, Lab) else int(lab)
    return labview.detail(Topology.objects.select_related("lab").get(lab=lab_id))
