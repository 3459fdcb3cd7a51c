"""What an administrator does to lab hosts (web side): list them, drain, undrain, pin, forget a dead host's lab.

The admin's actions and ``manage.py lab hosts`` both call these, so they
refuse the same things in the same words (:class:`~topology.errors.ServiceError`
subclasses). Draining changes only where new labs go; a drained host's running
labs stay until destroyed. Forgetting a lab stops it at once without asking its
host, which must be unreachable (a reachable host's lab is destroyed instead);
when the host is back, its lab worker's gc removes what the lab left there.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from . import hosts, labstate, leases
from .errors import Conflict, NotFound
from .models import BUSY_STATES, LIVE_STATES, Course, HostPin, Lab, LabHost, LabState


@dataclass
class HostRow:
    """One host as the admin and ``lab hosts`` show it."""

    host: LabHost
    alive: bool
    load: dict | None
    labs: int

    def as_dict(self) -> dict:
        h = self.host
        return {"queue": h.queue, "name": h.name, "alive": self.alive, "drained": h.drained, "cores": h.cores,
                "memory_mb": h.memory_mb, "images": list(h.images or ()), "max_nodes": h.max_nodes,
                "max_memory_mb": h.max_memory_mb, "labs": self.labs, "load": self.load,
                "last_seen": h.last_seen.isoformat() if h.last_seen else None,
                "pins": [str(p) for p in h.pins.all()]}


def rows() -> list[HostRow]:
    """Every registered host with its heartbeat, load and the labs it holds (deploying, running, destroying...)."""
    found = list(LabHost.objects.prefetch_related("pins__user", "pins__course"))  # (their pins: no query per host)
    queues = [h.queue for h in found]
    live = hosts.alive_queues(queues)
    loads = hosts.loads(queues)
    counts: dict[str, int] = {}
    for queue in Lab.objects.filter(queue__in=queues, state__in=(*LIVE_STATES, *BUSY_STATES)).values_list("queue",
                                                                                                        flat=True):
        counts[queue] = counts.get(queue, 0) + 1
    return [HostRow(h, h.queue in live, loads.get(h.queue), counts.get(h.queue, 0)) for h in found]


def host(name_or_queue: str) -> LabHost:
    """The host with that queue, or else that name; :class:`NotFound` saying which exist."""
    found = LabHost.objects.filter(queue=name_or_queue).first() or LabHost.objects.filter(name=name_or_queue).first()
    if found is None:
        known = ", ".join(LabHost.objects.values_list("name", flat=True)) or "none registered"
        raise NotFound(f"no lab host named '{name_or_queue}' (hosts: {known})")
    return found


def set_drained(target: LabHost, drained: bool) -> LabHost:
    """Drain (no new labs; running labs stay) or undrain a host."""
    LabHost.objects.filter(pk=target.pk).update(drained=drained)
    target.refresh_from_db()
    return target


def pin(target: LabHost, *, user: str | None = None, course: str | None = None) -> HostPin:
    """Pin one user's (by user name) or one course's (by slug) labs to ``target``, replacing their pin."""
    if (user is None) == (course is None):
        raise Conflict("pin a user or a course, one of them")
    if user is not None:
        who = get_user_model().objects.filter(username=user).first()
        if who is None:
            raise NotFound(f"no user named '{user}'")
        found, _ = HostPin.objects.update_or_create(user=who, defaults={"lab_host": target})
    else:
        what = Course.objects.filter(slug=course).first()
        if what is None:
            raise NotFound(f"no course with the slug '{course}'")
        found, _ = HostPin.objects.update_or_create(course=what, defaults={"lab_host": target})
    return found


def unpin(*, user: str | None = None, course: str | None = None) -> int:
    """Remove a user's or a course's pin; how many there were (0 or 1)."""
    if (user is None) == (course is None):  # (a filter on a missing one would match every pin of the other kind)
        raise Conflict("unpin a user or a course, one of them")
    pins = HostPin.objects.filter(user__username=user) if user is not None else HostPin.objects.filter(course__slug=course)
    return pins.delete()[0]


def forget(lab: Lab, by: str) -> Lab:
    """Stop ``lab`` without its host, which must be unreachable; ``by`` names who did it (in the lab's event)."""
    lab.refresh_from_db()
    if lab.state == LabState.STOPPED:
        raise Conflict(f"lab {lab.pk} is stopped: there is nothing to forget")
    if hosts.alive_queues([lab.queue]):
        raise Conflict(f"the host {hosts.describe(lab.queue)} of lab {lab.pk} answers: destroy the lab instead (its "
                       "host removes what it runs)")
    operation = uuid.uuid4().hex
    if not leases.acquire(lab.pk, operation, leases.WORKER_TTL_MS):
        raise Conflict(f"lab {lab.pk} is held by an operation that may still run; try again in "
                       f"{leases.WORKER_TTL_MS // 1000} s (a dead worker's lease lapses by then)")
    try:
        with transaction.atomic():
            row = LabHost.objects.select_for_update().filter(queue=lab.queue).first()
            if row is not None and lab.pk not in (row.forgotten or []):
                row.forgotten = [*(row.forgotten or []), lab.pk]
                row.save(update_fields=["forgotten"])
        labstate.do_forget(lab, operation, f"forgotten by {by} while its host {hosts.describe(lab.queue)} was "
                                           "unreachable; what it left there is removed once the host is back")
    finally:
        leases.release(lab.pk, operation)
    return lab
