"""How much one user, and one course, may run and keep: the limits, what is in use, and the guards (web side).

Limits: per user, running labs, running nodes, nodes per topology and
topologies kept; per course, running nodes in all the labs of its students'
copies (topologies whose ``assignment`` is one of the course's). The site's
defaults are its :class:`~topology.models.SiteLimits` row; a
:class:`~topology.models.UserLimits` or :class:`~topology.models.CourseLimits`
row overrides them field by field (an empty field keeps the default). A limit
of 0 allows nothing. Superusers are not exempt: an administrator who needs
more raises their own limits in the admin, so that no account, however
privileged, can fill the host by accident.

In use: a lab counts while it is deploying, running or degraded, or while any
of its nodes still holds a container (a lab being destroyed, a failed one with
leftovers); its nodes count with it (all of them while it is deploying,
running or degraded, else those holding a container).

The guards refuse before anything is queued or written, with
:class:`LimitReached` (429) naming the limit, the use and the request. They
are race-safe: a deploy holds its owner's lock, then its course's (always in
that order, with a timeout) from before the use is counted until the lab's new
state is committed, so two deploys cannot both count the same free room; the
locks are Redis locks on the leases' connection, so they hold across web
processes. A new topology holds its owner's topology lock the same way.
"""
from __future__ import annotations

from contextlib import ExitStack, contextmanager
from typing import Iterator

import redis
from django.conf import settings
from django.db.models import Exists, OuterRef, Q

from . import leases
from .errors import Conflict, ServiceError, Unavailable
from .models import Course, CourseLimits, Lab, LabNode, LabState, SiteLimits, Topology, UserLimits

USER_FIELDS = ("max_running_labs", "max_running_nodes", "max_nodes_per_topology", "max_topologies")
ACTIVE_STATES = (LabState.DEPLOYING, LabState.RUNNING, LabState.DEGRADED)

LOCK_TTL = 30   # seconds a lock lives if its holder dies (a deploy's guarded part takes well under one)
LOCK_WAIT = 10  # seconds a request waits for a lock before it is refused as busy


class LimitReached(ServiceError):
    """A deploy or a new topology would pass a limit; nothing was queued or written.

    ``limit`` names it, ``used`` is the current use, ``allowed`` the limit and ``requested`` what was asked.
    """

    status = 429

    def __init__(self, message: str, *, limit: str, used: int, allowed: int, requested: int):
        super().__init__(message)
        self.limit, self.used, self.allowed, self.requested = limit, used, allowed, requested


# -- the limits --------------------------------------------------------------------------------------------
def site_limits() -> SiteLimits:
    """The site's row (made the first time with the node resources of the settings: :meth:`SiteLimits.current`)."""
    return SiteLimits.current()


def effective(user) -> dict:
    """The user's limits: ``{max_running_labs, max_running_nodes, max_nodes_per_topology, max_topologies}``."""
    site = site_limits()
    own = UserLimits.objects.filter(user_id=user.pk).values(*USER_FIELDS).first() or {}
    return {name: own[name] if own.get(name) is not None else getattr(site, name) for name in USER_FIELDS}


def course_limit(course) -> dict:
    """The course's limits: ``{max_running_nodes}`` (its override, else the site's default)."""
    own = CourseLimits.objects.filter(course_id=course.pk).values_list("max_running_nodes", flat=True).first()
    return {"max_running_nodes": own if own is not None else site_limits().course_max_running_nodes}


# -- what is in use ----------------------------------------------------------------------------------------
def _held(labs):
    """The labs of ``labs`` that count: in an active state, or holding a container."""
    containers = LabNode.objects.filter(lab=OuterRef("pk")).exclude(container_id="")
    return labs.filter(Q(state__in=ACTIVE_STATES) | Q(Exists(containers)))


def _held_nodes(nodes):
    """The nodes of ``nodes`` that count: those of an active lab, or holding a container."""
    return nodes.filter(Q(lab__state__in=ACTIVE_STATES) | ~Q(container_id=""))


def usage(user, *, exclude_lab: int | None = None) -> dict:
    """What the user has: ``{running_labs, running_nodes, topologies}`` (``exclude_lab``: leave that lab out,
    the one a deploy is about to replace)."""
    labs = Lab.objects.filter(topology__owner_id=user.pk)
    nodes = LabNode.objects.filter(lab__topology__owner_id=user.pk)
    if exclude_lab is not None:
        labs, nodes = labs.exclude(pk=exclude_lab), nodes.exclude(lab_id=exclude_lab)
    return {"running_labs": _held(labs).count(), "running_nodes": _held_nodes(nodes).count(),
            "topologies": Topology.objects.filter(owner_id=user.pk).count()}


def course_usage(course, *, exclude_lab: int | None = None) -> dict:
    """What the labs of the course's copies hold: ``{running_labs, running_nodes}``."""
    labs = Lab.objects.filter(topology__assignment__course_id=course.pk)
    nodes = LabNode.objects.filter(lab__topology__assignment__course_id=course.pk)
    if exclude_lab is not None:
        labs, nodes = labs.exclude(pk=exclude_lab), nodes.exclude(lab_id=exclude_lab)
    return {"running_labs": _held(labs).count(), "running_nodes": _held_nodes(nodes).count()}


def course_of(topology: Topology) -> Course | None:
    """The course whose assignment ``topology`` copies, or None."""
    if topology.assignment_id is None:
        return None
    return Course.objects.filter(assignments__pk=topology.assignment_id).first()


# -- the locks ---------------------------------------------------------------------------------------------
def _lock_key(kind: str, pk: int) -> str:
    return f"topolab:{settings.TOPOLAB_SITE}:quota:{kind}:{int(pk)}"


@contextmanager
def _locked(kind: str, pk: int) -> Iterator[None]:
    """Hold the lock ``kind``/``pk`` while the body runs; :class:`~topology.services.Conflict` if it stays taken."""
    lock = leases.client().lock(_lock_key(kind, pk), timeout=LOCK_TTL, blocking_timeout=LOCK_WAIT)
    try:
        acquired = lock.acquire()
    except redis.RedisError as exc:  # limits cannot be checked safely without their lock: refuse, change nothing
        raise Unavailable(f"the limits cannot be checked right now (Redis cannot be reached: {exc}); try again") \
            from None
    if not acquired:
        raise Conflict("too many requests are being checked against your limits at once; try again")
    try:
        yield
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:  # it lapsed (the body outlived LOCK_TTL): nothing left to give back
            pass


# -- the guards --------------------------------------------------------------------------------------------
def _refuse(limit: str, message: str, used: int, allowed: int, requested: int) -> None:
    raise LimitReached(f"limit reached: {limit} — {message}", limit=limit, used=used, allowed=allowed,
                       requested=requested)


@contextmanager
def deploy_guard(lab: Lab, node_count: int) -> Iterator[None]:
    """Refuse (:class:`LimitReached`) a deploy of ``node_count`` nodes on ``lab`` that would pass its owner's
    running labs, running nodes or nodes per topology, or its course's running nodes; else hold the locks
    while the body runs (the body moves the lab to deploying and commits that: it counts from then on)."""
    topology = lab.topology
    owner = topology.owner
    mine = effective(owner)
    if node_count > mine["max_nodes_per_topology"]:
        _refuse("nodes per topology", f"you may deploy {mine['max_nodes_per_topology']} nodes in one lab and this lab "
                f"has {node_count}; remove nodes first", node_count, mine["max_nodes_per_topology"], node_count)
    course = course_of(topology)
    with ExitStack() as stack:
        # Always the user's lock first, then the course's: two requests never wait for each other in a circle.
        stack.enter_context(_locked("user", owner.pk))
        if course is not None:
            stack.enter_context(_locked("course", course.pk))
        used = usage(owner, exclude_lab=lab.pk)
        if used["running_labs"] + 1 > mine["max_running_labs"]:
            _refuse("running labs", f"you have {used['running_labs']} of {mine['max_running_labs']} running and this "
                    "deploy needs 1 more; destroy a lab first", used["running_labs"], mine["max_running_labs"], 1)
        if used["running_nodes"] + node_count > mine["max_running_nodes"]:
            _refuse("running nodes", f"you have {used['running_nodes']} of {mine['max_running_nodes']} running and this "
                    f"lab needs {node_count}; destroy a lab first", used["running_nodes"], mine["max_running_nodes"],
                    node_count)
        if course is not None:
            allowed = course_limit(course)["max_running_nodes"]
            running = course_usage(course, exclude_lab=lab.pk)["running_nodes"]
            if running + node_count > allowed:
                _refuse(f"running nodes of the course '{course.name}'", f"its labs have {running} of {allowed} running "
                        f"and this lab needs {node_count}; try again when labs of the course are destroyed",
                        running, allowed, node_count)
        yield


class TopologyGuard:
    """What :func:`topology_guard` yields: :meth:`check` refuses one more topology past the owner's limit."""

    def __init__(self, used: int, allowed: int):
        self.used, self.allowed = used, allowed

    def check(self) -> None:
        """:class:`LimitReached` if one more topology would pass ``max_topologies`` (call it only when creating)."""
        if self.used + 1 > self.allowed:
            _refuse("topologies", f"you have {self.used} of {self.allowed} and this needs 1 more; delete a topology "
                    "first", self.used, self.allowed, 1)


@contextmanager
def topology_guard(owner) -> Iterator[TopologyGuard]:
    """Hold ``owner``'s topology lock while the body runs (it creates the topology and commits it), with their
    topologies counted under it; the body calls ``check()`` on what is yielded once it knows it creates one."""
    allowed = effective(owner)["max_topologies"]
    with _locked("topologies", owner.pk):
        yield TopologyGuard(Topology.objects.filter(owner_id=owner.pk).count(), allowed)
