"""The live news of a course for its instructors' course page: one cell of the student x assignment grid at a
time, published to the channel-layer group ``course.<course id>``.

Who calls it: :mod:`topology.labstate` after each publish of a lab's state and when a copy's lab is made
("Start"), root worker and web tier alike (:func:`lab_changed`); the check runs when one starts or ends
(:func:`check_run_changed`); anything else that changes a copy without touching its lab may call
:func:`copy_changed` (a reset of a stopped lab needs nothing: its cell does not change).

It is neutral: it imports nothing of the web side, and a lab that is no copy of an assignment costs one
indexed query per change of its state (a handful per deploy or destroy: labstate does not call it for the
0.2 s flushes of events and node states).
:class:`topology.websockets.course.CourseConsumer` forwards what it publishes to every instructor's
socket ``/ws/courses/<course id>/``.

Messages (JSON text frames; ``type`` tells them apart)
------------------------------------------------------

``snapshot``, the first frame a client gets, once, right after it connects: the whole grid, as
:func:`topology.classview.grid` builds it::

    {"type": "snapshot", "grid": {"course": {...}, "students": [...], "assignments": [...],
                                  "cells": {"<username>": {"<assignment id>": <cell>}}}}

``cell``, whenever one cell changes (its copy's lab changes state or its running nodes, a check run of
it starts or ends, the student starts or resets it)::

    {"type": "cell", "student": "<username>", "assignment": 7, "cell": <cell>}

where ``<cell>`` is :mod:`topology.classview`'s (status, topology, name, reason, nodes, checking,
grade). ``gone`` (``{"type": "gone", "reason": "signed_out" | "forbidden", "message": ...}``) comes
just before the socket closes with 4403: the user signed out, or no longer instructs the course.

How often
---------

A cell is **absolute** (never a difference): a client replaces what it had. Bursts are coalesced per
process: a cell is published at once, then at most once per ``COALESCE`` (0.2 s); changes meanwhile
make one more publish at the end of that interval, built from the database then, so the last state
always arrives. A deploy that changes a lab several times a second is a few cell messages.

Messages published between the moment a client joins and its snapshot may repeat what the snapshot
already says; applying them again is harmless. A cell of a student the client's grid does not have
(enrolled after the snapshot) can be ignored, or the grid fetched again (``GET /courses/<id>/grid``).

Publishing never raises: the lab's own work goes on if Redis or the database blips (logged).
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.db import close_old_connections, connection

from . import classview
from .models import CheckRun, Topology

log = logging.getLogger(__name__)

COALESCE = 0.2           # seconds: at most one message per cell per interval
PUBLISH_TIMEOUT = 3.0    # seconds; a hung Redis must not hold the lab worker
HANDLER = "course.cell"  # the channel-layer type: CourseConsumer.course_cell forwards it

_lock = threading.Lock()
_last_sent: dict[tuple[int, int, int], float] = {}  # (course, user, assignment) -> when it was last published
_pending: set[tuple[int, int, int]] = set()          # cells a timer will publish


def group_name(course_id: int) -> str:
    """The channel-layer group of one course's instructors' sockets."""
    return f"course.{int(course_id)}"


# -- the callers' entry points -----------------------------------------------------------------------------------


def _cell_changed(what: str, rows) -> None:
    """The cell of the first of ``rows`` (a query of (course id, user id, assignment id)) changed, if there is
    one; ``what`` names the object for the log, should the database not answer."""
    try:
        row = rows.first()
    except Exception as exc:  # noqa: BLE001 - the page's view is best effort; what changed goes on
        log.warning("%s: could not tell the course page: %r", what, exc)
        return
    if row is not None:
        changed(*row)


def check_run_changed(run_id: int) -> None:
    """A :class:`topology.models.CheckRun` started or finished: its student's cell changed (trials are no cell)."""
    _cell_changed(f"check run {run_id}", CheckRun.objects.filter(pk=run_id, trial=False)
                  .values_list("assignment__course_id", "user_id", "assignment_id"))


def lab_changed(lab_id: int) -> None:
    """A lab's state changed: if it is a copy of an assignment, its student's cell changed."""
    _cell_changed(f"lab {lab_id}", Topology.objects.filter(lab__id=int(lab_id), assignment__isnull=False)
                  .values_list("assignment__course_id", "owner_id", "assignment_id"))


def copy_changed(topology_id: int) -> None:
    """A student's copy was made ("Start") or reset: its cell changed."""
    _cell_changed(f"topology {topology_id}", Topology.objects.filter(pk=topology_id, assignment__isnull=False)
                  .values_list("assignment__course_id", "owner_id", "assignment_id"))


def changed(course_id: int, user_id: int, assignment_id: int) -> None:
    """The cell (user, assignment) of the course changed: publish it now, or once the interval is over."""
    key = (int(course_id), int(user_id), int(assignment_id))
    now = time.monotonic()
    with _lock:
        if key in _pending:
            return  # the timer will read the database when it fires: this change is in it
        wait = _last_sent.get(key, -COALESCE) + COALESCE - now
        if wait > 0:
            _pending.add(key)
        else:
            if len(_last_sent) > 100000:  # long-running workers: forget intervals long over
                for old in [k for k, t in _last_sent.items() if now - t > COALESCE]:
                    del _last_sent[old]
            _last_sent[key] = now
    if wait > 0:
        timer = threading.Timer(wait, _later, args=(key,))
        timer.daemon = True
        timer.start()
        return
    publish_cell(*key)


def _later(key: tuple[int, int, int]) -> None:
    """The end of an interval with changes in it (a thread of its own: it has its own database connection)."""
    with _lock:
        _pending.discard(key)
        _last_sent[key] = time.monotonic()
    try:
        publish_cell(*key)
    finally:
        close_old_connections()
        connection.close()


# -- publishing ------------------------------------------------------------------------------------------------


def cell_message(username: str, assignment_id: int, cell: dict) -> dict:
    """The ``cell`` message of one cell."""
    return {"type": "cell", "student": username, "assignment": int(assignment_id), "cell": cell}


def publish_cell(course_id: int, user_id: int, assignment_id: int) -> None:
    """Build the cell from the database now and send it to the course's group; never raises."""
    try:
        cell = classview.cell(course_id, user_id, assignment_id)
        if cell is None:
            return
        username = get_user_model().objects.filter(pk=user_id).values_list("username", flat=True).first()
        if username is None:
            return
        layer = get_channel_layer()
        if layer is None:
            return
        async_to_sync(_send)(layer, group_name(course_id), cell_message(username, assignment_id, cell))
    except Exception as exc:  # noqa: BLE001 - the page's view is best effort; a reconnecting client gets a snapshot
        log.warning("course %s: could not publish the cell of user %s, assignment %s: %r", course_id, user_id,
                    assignment_id, exc)


async def _send(layer, group: str, message: dict) -> None:
    await asyncio.wait_for(layer.group_send(group, {"type": HANDLER, "message": message}), PUBLISH_TIMEOUT)


def reset() -> None:
    """Forget what was sent when (tests: each starts with no interval running)."""
    with _lock:
        _last_sent.clear()
        _pending.clear()
