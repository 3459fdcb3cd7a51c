"""The lab hosts as both sides read them: alive or not, their load, and whether a lab's host is unreachable.

Neutral ground (the database and Redis; no Docker). A host is its lab
worker's queue (:class:`~topology.models.LabHost`); it is *alive* while that
worker's heartbeat lasts (:func:`topology.leases.worker_alive`, renewed every
few seconds), and its load (load average, labs and nodes running, memory in
use) is a small JSON value in Redis the worker renews with it
(:mod:`topology.host_agent` writes both, the row and the load). Nothing is
recorded when a host goes quiet: "host unreachable" is derived when read, so
it clears itself as soon as the worker beats again.
"""
from __future__ import annotations

import json
import time

import redis
from django.conf import settings

from . import leases
from .models import LabHost, LabNode, LabState

LOAD_TTL_MS = leases.HEARTBEAT_TTL_MS  # the load lapses with the heartbeat that carries it
ALIVE_FOR = 1.0  # seconds a read of a queue's heartbeat serves other reads in this process (a list of labs)

_seen: dict[str, tuple[float, bool]] = {}


def load_key(queue: str) -> str:
    """The host's load: JSON ``{load, labs, nodes, memory_used_mb, memory_mb, cores, at}``, renewed by its worker."""
    return f"topolab:{settings.TOPOLAB_SITE}:host:{queue}:load"


def publish_load(queue: str, load: dict) -> None:
    """Say ``queue``'s host's load for :data:`LOAD_TTL_MS` (its worker, with each heartbeat)."""
    leases.client().set(load_key(queue), json.dumps(load), px=LOAD_TTL_MS)


def load(queue: str) -> dict | None:
    """The host's last load, or None when its worker has not said it lately."""
    raw = leases.client().get(load_key(queue))
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def loads(queues) -> dict[str, dict | None]:
    """:func:`load` of each of ``queues`` in one round trip."""
    queues = list(queues)
    if not queues:
        return {}
    found = {}
    for queue, raw in zip(queues, leases.client().mget([load_key(q) for q in queues]), strict=True):
        try:
            found[queue] = json.loads(raw) if raw else None
        except ValueError:
            found[queue] = None
    return found


def alive(queue: str) -> bool:
    """True while the lab worker of ``queue`` keeps its heartbeat (read at most once a second per process)."""
    now = time.monotonic()
    seen = _seen.get(queue)
    if seen is not None and now - seen[0] < ALIVE_FOR:
        return seen[1]
    found = leases.worker_alive(queue) is not None
    _seen[queue] = (now, found)
    return found


def alive_queues(queues) -> set[str]:
    """Those of ``queues`` whose lab worker is alive, in one round trip (never cached: placement asks)."""
    queues = list(queues)
    if not queues:
        return set()
    values = leases.client().mget([leases.worker_key(q) for q in queues])
    return {q for q, v in zip(queues, values, strict=True) if v}


def name_of(queue: str) -> str:
    """The host's readable name (its queue when it never registered)."""
    row = LabHost.objects.filter(queue=queue).values_list("name", flat=True).first()
    return row or queue


def describe(queue: str) -> str:
    """``"lab1 (queue lab.lab1)"``: how a message names a host."""
    name = name_of(queue)
    return f"'{name}' (queue {queue})" if name != queue else f"'{queue}'"


def unreachable_note(queue: str) -> str:
    """``": host unreachable: 'b' (queue lab.b) has not answered lately"`` for a registered host, else ``""``."""
    if not LabHost.objects.filter(queue=queue).exists():
        return ""
    return f": host unreachable: {describe(queue)} has not answered lately"


def unreachable(lab, *, fresh: bool = False) -> bool:
    """True when ``lab`` holds something on its host and that host's worker is silent.

    Derived at each read (never stored): it clears itself once the worker beats again. A stopped lab, or a
    failed one with no container left, has nothing on any host, so it never is; Redis that cannot be reached
    says nothing either way (False). ``fresh``: ask Redis now, not :func:`alive`'s second-old answer (a
    refusal must not outlive the worker's return: a worker restarted and at once asked to act). The heartbeat
    is read first: a list of labs on live hosts costs no query per failed lab.
    """
    if lab.state == LabState.STOPPED:
        return False
    try:
        if (leases.worker_alive(lab.queue) is not None) if fresh else alive(lab.queue):
            return False
    except redis.RedisError:
        return False
    return lab.state != LabState.FAILED or LabNode.objects.filter(lab_id=lab.pk).exclude(container_id="").exists()


def unreachable_message(queue: str, doing: str) -> str:
    """Why ``doing`` (``"destroyed"``...) cannot happen now: the host of ``queue`` does not answer."""
    return (f"host unreachable: the lab's host {describe(queue)} has not answered lately (its lab worker is "
            f"stopped or cut off), so the lab cannot be {doing} now; nothing was queued. Try again once the host "
            "is back, or ask an administrator to forget the lab")
