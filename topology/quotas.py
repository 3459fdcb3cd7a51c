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
:class:`LimitReached` (429) naming the limit, the use and the request.

A deploy's guard is race-safe without a lock held across the deploy (30 students
pressing Deploy at once used to queue behind one course lock, and those that waited
past its timeout were refused): the room is taken by a *reservation* in Redis, by
one atomic script (:data:`RESERVE_SCRIPT`) that checks and reserves in the user's
and the course's scopes together. Before the script, the guard reads the database:
each lab of the scope with its *tag* (its operation and the time of its last state
change) and the nodes it holds if it counts. The script counts each other lab once:
by its reservation while the database still shows the lab as it was when that
reservation was made (same tag: that deploy has not committed yet, as far as this
count knows) or does not show it at all (a lab made since, or one deleted: counted,
to be safe, until its reservation lapses), else by the database's figure; it refuses if a limit would pass, else
reserves this lab's nodes with this lab's tag. The body then moves the lab to
deploying and commits that (a new tag: the database counts it from then on).

A reservation is kept :data:`KEEP` seconds after its body committed (one whose body
raised goes at once: nothing was committed, or the tag changed), and a guard whose
read and script were more than :data:`KEEP` seconds apart reads again. That closes
the gap between the two reads: a deploy that commits after this guard read the
database still has its reservation when this guard's script runs, and its tag in
what this guard read is the old one, so it is counted. Redis runs scripts one at a
time, so of two deploys racing for the last room the second's script sees the
first's reservation. Since a reservation counts only while its lab's tag is
unchanged, one kept after its commit never counts twice or lingers; the scopes' keys
carry the user's or course's creation time, so a primary key used again (a test
database flushed) never sees another's reservations. A reservation whose guard
died before committing lapses after :data:`RESERVE_TTL` seconds. The one
interleaving left out: a destroy of the same lab that begins and ends between a
guard's script and its body's commit (the body takes the lab's lease in between,
milliseconds, while a destroy takes a round trip through the lab worker) would
change the tag early, and the deploy would not be counted until it committed.

A new topology holds its owner's topology lock (a Redis lock on the leases'
connection, so it holds across web processes) from before the topologies are
counted until it is committed.
"""
from __future__ import annotations

import time
import uuid
from contextlib import contextmanager
from typing import Iterator

import redis
from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q

from . import leases
from .errors import Conflict, ServiceError, Unavailable
from .models import Course, CourseLimits, Lab, LabNode, LabState, SiteLimits, Topology, UserLimits

USER_FIELDS = ("max_running_labs", "max_running_nodes", "max_nodes_per_topology", "max_topologies")
ACTIVE_STATES = (LabState.DEPLOYING, LabState.RUNNING, LabState.DEGRADED)

LOCK_TTL = 30   # seconds the topology lock lives if its holder dies (its guarded part takes well under one)
LOCK_WAIT = 10  # seconds a request waits for it before it is refused as busy
RESERVE_TTL = 120  # seconds a deploy's reservation lives if its guard dies before it commits
KEEP = 30          # seconds a reservation is kept once its body ended (see the module's docstring)
ATTEMPTS = 3       # counts a guard makes before it gives up as busy (each slower than KEEP: a loaded host)


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


# -- the reservations --------------------------------------------------------------------------------------
def _reservations_key(kind: str, pk: int, created) -> str:
    # With the scope's creation time: a user or course made again under a reused primary key (a test database
    # flushed between tests) never sees the reservations of the one before.
    return f"topolab:{settings.TOPOLAB_SITE}:quota:reserved:{kind}:{int(pk)}:{created.timestamp():.6f}"


# KEYS: one hash per scope (the user's, then the course's if any): "<lab id>:<token>" -> "<nodes> <expiry ms> <tag>"
#       (a token per guard: two requests deploying one lab at once each have their own, so that the one refused
#       (its lease taken by the other) drops only its own reservation; a lab with several counts once, the largest).
# ARGV: lab id, this guard's token, this lab's tag, nodes asked, reservation TTL (ms), then per scope: its labs limit
#       (-1: none), its nodes limit, how many labs the database read, then that many triples (lab id, tag, nodes held
#       or -1 when it does not count).
# Returns {0} when reserved (in every scope), else {scope number (1-based), "labs" | "nodes", what is in use}.
RESERVE_SCRIPT = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local lab, token, tag, asked, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local at = 6
for i, key in ipairs(KEYS) do
  local max_labs, max_nodes, read = tonumber(ARGV[at]), tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
  at = at + 3
  local database = {}
  for j = 1, read do
    database[ARGV[at]] = {ARGV[at + 1], tonumber(ARGV[at + 2])}
    at = at + 3
  end
  local labs, nodes = 0, 0
  local reserved = {}
  local entries = redis.call('HGETALL', key)
  for j = 1, #entries, 2 do
    local entry, value = entries[j], entries[j + 1]
    local other = string.match(entry, '^(%d+):')
    local held, expiry, other_tag = string.match(value, '^(%d+) (%d+) (.*)$')
    if other == nil or held == nil or tonumber(expiry) <= now then
      redis.call('HDEL', key, entry)
    elseif other ~= lab then
      local known = database[other]
      if known == nil or known[1] == other_tag then
        held = tonumber(held)
        local before = reserved[other]
        if before == nil then
          labs = labs + 1
          nodes = nodes + held
          reserved[other] = held
        elseif held > before then
          nodes = nodes + held - before
          reserved[other] = held
        end
      end
    end
  end
  for other, known in pairs(database) do
    if other ~= lab and not reserved[other] and known[2] >= 0 then
      labs = labs + 1
      nodes = nodes + known[2]
    end
  end
  if max_labs >= 0 and labs + 1 > max_labs then
    return {i, 'labs', labs}
  end
  if nodes + asked > max_nodes then
    return {i, 'nodes', nodes}
  end
end
for _, key in ipairs(KEYS) do
  redis.call('HSET', key, lab .. ':' .. token, asked .. ' ' .. (now + ttl) .. ' ' .. tag)
  if redis.call('PTTL', key) < ttl then
    redis.call('PEXPIRE', key, ttl)
  end
end
return {0}
"""

# KEYS: the hashes of RESERVE_SCRIPT; ARGV: "<lab id>:<token>", its tag, how long to keep it (ms). Shortens that
# reservation (never another guard's of the same lab).
KEEP_SCRIPT = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
for _, key in ipairs(KEYS) do
  local value = redis.call('HGET', key, ARGV[1])
  if value then
    local held, expiry, tag = string.match(value, '^(%d+) (%d+) (.*)$')
    if held and tag == ARGV[2] and tonumber(expiry) > now + tonumber(ARGV[3]) then
      redis.call('HSET', key, ARGV[1], held .. ' ' .. (now + tonumber(ARGV[3])) .. ' ' .. tag)
    end
  end
end
return 1
"""


def _tag(operation: str, changed) -> str:
    """What a lab's row is now, as far as the reservations care: its operation and its last state change."""
    return f"{operation}@{changed.timestamp():.6f}" if changed is not None else f"{operation}@"


def _read(labs, nodes) -> dict[int, tuple[str, int]]:
    """``{lab id: (tag, nodes it holds, or -1 when it does not count)}`` for every lab of ``labs`` (the database's
    view: no reservations); a lab that counts (:func:`_held`) holds its nodes of ``nodes`` that count."""
    rows = {pk: (_tag(operation, changed), -1) for pk, operation, changed in
            labs.values_list("pk", "operation", "state_changed")}
    for pk in _held(labs).values_list("pk", flat=True):
        rows[pk] = (rows[pk][0], 0)
    for lab_id, count in _held_nodes(nodes).order_by().values("lab_id").annotate(n=Count("pk")).values_list("lab_id", "n"):
        if lab_id in rows and rows[lab_id][1] >= 0:  # a node counts with its lab (one holding a container makes it count)
            rows[lab_id] = (rows[lab_id][0], count)
    return rows


def read_user(user) -> dict[int, tuple[str, int]]:
    """The user's labs as :func:`_read` says them."""
    return _read(Lab.objects.filter(topology__owner_id=user.pk), LabNode.objects.filter(lab__topology__owner_id=user.pk))


def read_course(course) -> dict[int, tuple[str, int]]:
    """The labs of the course's copies as :func:`_read` says them."""
    return _read(Lab.objects.filter(topology__assignment__course_id=course.pk),
                 LabNode.objects.filter(lab__topology__assignment__course_id=course.pk))


def _redis_down(exc: Exception) -> Unavailable:
    # Limits cannot be checked safely without the reservations: refuse, change nothing.
    return Unavailable(f"the limits cannot be checked right now (Redis cannot be reached: {exc}); try again")


class Reservation:
    """A lab's room in its scopes' reservations (what :func:`reserve` took); :meth:`keep` once its body ended."""

    def __init__(self, keys: list[str], lab_id: int, tag: str, token: str):
        self.keys, self.lab_id, self.tag, self.token = keys, lab_id, tag, token

    def keep(self, seconds: float = KEEP) -> None:
        """Let the reservation lapse ``seconds`` from now."""
        try:
            leases.client().eval(KEEP_SCRIPT, len(self.keys), *self.keys, f"{self.lab_id}:{self.token}", self.tag,
                                 int(seconds * 1000))
        except redis.RedisError:
            pass  # it lapses by itself after RESERVE_TTL; until its lab's tag changes it counts only this lab


def reserve(lab_id: int, tag: str, nodes: int, scopes: list[tuple[str, int, int, int, dict]]) -> Reservation | tuple:
    """Take ``nodes`` nodes (and one lab) for ``lab_id`` (whose row has ``tag`` now) in every scope at once, if each
    has room with the other labs' reservations. ``scopes``: ``(kind, pk, created, labs limit or -1, nodes limit,
    what :func:`_read` read)``. Returns the :class:`Reservation`, or ``(scope index, "labs" | "nodes", in use)`` for
    the first scope without room (nothing is reserved then)."""
    keys = [_reservations_key(kind, pk, created) for kind, pk, created, *_ in scopes]
    token = uuid.uuid4().hex
    args: list = [str(lab_id), token, tag, nodes, RESERVE_TTL * 1000]
    for _kind, _pk, _created, max_labs, max_nodes, read in scopes:
        args += [max_labs, max_nodes, len(read)]
        for other, (other_tag, held) in read.items():
            args += [str(other), other_tag, held]
    try:
        answer = leases.client().eval(RESERVE_SCRIPT, len(keys), *keys, *args)
    except redis.RedisError as exc:
        raise _redis_down(exc) from None
    if int(answer[0]) == 0:
        return Reservation(keys, lab_id, tag, token)
    what = answer[1].decode() if isinstance(answer[1], bytes) else str(answer[1])
    return int(answer[0]) - 1, what, int(answer[2])


# -- the guards --------------------------------------------------------------------------------------------
def _refuse(limit: str, message: str, used: int, allowed: int, requested: int) -> None:
    raise LimitReached(f"limit reached: {limit} — {message}", limit=limit, used=used, allowed=allowed,
                       requested=requested)


@contextmanager
def deploy_guard(lab: Lab, node_count: int) -> Iterator[None]:
    """Refuse (:class:`LimitReached`) a deploy of ``node_count`` nodes on ``lab`` that would pass its owner's
    running labs, running nodes or nodes per topology, or its course's running nodes; else hold the lab's
    reservation while the body runs (the body moves the lab to deploying and commits that: the database counts
    it from then on) and keep it :data:`KEEP` seconds more. :class:`Conflict` if the host is so loaded that
    the count never came within :data:`KEEP` seconds of the reservation."""
    topology = lab.topology
    owner = topology.owner
    mine = effective(owner)
    if node_count > mine["max_nodes_per_topology"]:
        _refuse("nodes per topology", f"you may deploy {mine['max_nodes_per_topology']} nodes in one lab and this lab "
                f"has {node_count}; remove nodes first", node_count, mine["max_nodes_per_topology"], node_count)
    course = course_of(topology)
    allowed = course_limit(course)["max_running_nodes"] if course is not None else None
    reservation = None
    for _ in range(ATTEMPTS):
        counted = time.monotonic()  # what the database has committed by now is in what is read
        scopes = [("user", owner.pk, owner.date_joined, mine["max_running_labs"], mine["max_running_nodes"],
                   read_user(owner))]
        if course is not None:
            scopes.append(("course", course.pk, course.created, -1, allowed, read_course(course)))
        # This lab's tag as read with the rest (its own figure is never counted: this deploy replaces it).
        tag = scopes[0][5][lab.pk][0]
        outcome = reserve(lab.pk, tag, node_count, scopes)
        if not isinstance(outcome, Reservation):
            _refused(outcome, scopes, mine, course, allowed, node_count)
        if time.monotonic() - counted < KEEP:
            reservation = outcome
            break
        outcome.keep(0)  # counted too long before: another deploy's commit may have been missed; count again
    if reservation is None:
        raise Conflict("the limits could not be checked in time (the host is very busy); try again")
    try:
        yield
    except BaseException:
        # Refused or failed: either nothing was committed or the lab's tag changed; either way its room is free.
        reservation.keep(0)
        raise
    reservation.keep()


def _refused(outcome: tuple, scopes: list, mine: dict, course, allowed: int | None, node_count: int) -> None:
    """Raise the :class:`LimitReached` that ``outcome`` (what :func:`reserve` refused) names."""
    index, what, used = outcome
    if scopes[index][0] == "user" and what == "labs":
        _refuse("running labs", f"you have {used} of {mine['max_running_labs']} running and this "
                "deploy needs 1 more; destroy a lab first", used, mine["max_running_labs"], 1)
    if scopes[index][0] == "user":
        _refuse("running nodes", f"you have {used} of {mine['max_running_nodes']} running and this "
                f"lab needs {node_count}; destroy a lab first", used, mine["max_running_nodes"], node_count)
    _refuse(f"running nodes of the course '{course.name}'", f"its labs have {used} of {allowed} running "
            f"and this lab needs {node_count}; try again when labs of the course are destroyed",
            used, allowed, node_count)


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
