"""Which lab host a lab is deployed on (web side): the one with room, or the one the admin pinned.

A lab is placed when it is deployed from stopped or failed with nothing left on
its host (a lab holding containers stays where they are, and so does a running
lab, until destroyed). The candidates are the registered hosts
(:class:`~topology.models.LabHost`) whose lab worker is alive and that are not
drained, that have the Topolab node images the lab runs and room for it: its
nodes and the memory its nodes ask for (each node's ``resources.memory_mb``,
else the site's default) against the host's caps (``max_nodes``; ``max_memory_mb``,
else its memory times :data:`MEMORY_OVERCOMMIT`, since a node's memory is a
limit, not what it uses) minus what the labs it holds ask for. Among those,
:func:`choose` takes the one left with the largest share free.

A pin (:class:`~topology.models.HostPin`, the user's first, else the course's)
names the one host: down (503), drained, without an image or full (409) refuses,
saying which host and why; it never goes elsewhere.

A new lab starts on the web tier's queue (``TOPOLAB_QUEUE``) and goes to the
emptiest host; a lab deployed again goes back to the host it was placed on
before when that host can take it (its images are there, and its warm pool),
else to the emptiest. With no host registered (a worker older than
registration) nothing is chosen: the lab keeps its queue, as before there were
hosts; so does a lab put by hand on a queue that no registered host has. With
one host registered there is no choice: only the admin's drain and caps apply
(:func:`only_host`), and a host that is down is "no worker" as before. Race-safe without a lock
held across the deploy: the chosen host's room is taken by a reservation in Redis
(:func:`reserve`, one atomic script that counts the other deploys' reservations),
held until the lab's new state is committed (then the database counts it); a
reservation that does not fit sends the deploy to choose again.

The gap between a placement's database count and its script (a deploy that
commits in it is in neither) is closed as :mod:`topology.quotas` closes its own: a
reservation is kept :data:`SETTLE_MS` after its deploy ended, stamped with that
moment, and the script refuses a count begun more than :data:`SETTLE_MS` before it
(Redis's clock for both), which is then made again. A deploy that committed after
the count began ended after it too, so its reservation is still there when a script
within :data:`SETTLE_MS` of the count runs, and is counted; counts begun after the
stamp skip it (they see the lab in the database, or see it gone).
"""
from __future__ import annotations

import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Iterator

from django.conf import settings
from django.db.models import Exists, OuterRef, Q

from . import hosts, kinds, leases
from .errors import Conflict, Unavailable
from .limits import node_resources
from .models import BUSY_STATES, LIVE_STATES, HostPin, Lab, LabHost, LabNode, LabState

MEMORY_OVERCOMMIT = 4  # a host's labs may ask for this many times its memory (their limits), unless capped
RESERVE_TTL_MS = 60 * 1000  # a reservation of a deploy that died before its state was committed lapses
TOPOLAB_IMAGES = frozenset(kinds.default_images().values())  # repositories Topolab builds (images a host lists)
UNCAPPED_MB = 10 ** 12  # the memory cap of a site's one host whose admin set none: nothing
ATTEMPTS = 50  # a deploy whose reservation met others' chooses again (each miss is another deploy's success)
SETTLE_MS = 10 * 1000  # a recorded deploy's reservation lasts this long: placements that counted before it see it
STALE_ATTEMPTS = 3  # counts older than SETTLE_MS by their script a deploy makes before it gives up as busy


class HostUnavailable(Unavailable):
    """The host a lab must go to (pinned, or where its leftovers are) does not answer, or no host runs at all."""


class NoRoom(Conflict):
    """No host may take the lab (drained, without an image it runs, or full), or the pinned one may not."""


def reference(image: str) -> str:
    """An image's full reference (``topolab/base`` is ``topolab/base:latest``), as a host lists them."""
    return image if ":" in image.rsplit("/", 1)[-1] or "@" in image else f"{image}:latest"


@dataclass(frozen=True)
class Need:
    """What a lab asks of its host: nodes, memory (the sum of its nodes' limits, MB) and Topolab images."""

    nodes: int
    memory_mb: int
    images: frozenset[str] = frozenset()


@dataclass(frozen=True)
class HostView:
    """One host as placement sees it: alive or not, drained, images, caps and what its labs hold now."""

    queue: str
    name: str
    alive: bool = True
    drained: bool = False
    images: frozenset[str] = frozenset()
    max_nodes: int | None = None
    memory_cap_mb: int = 0
    nodes_used: int = 0
    memory_used_mb: int = 0
    memory_capped: bool = False  # the admin set the memory cap (else it is the host's memory times the overcommit)

    def __str__(self) -> str:
        return f"'{self.name}'" if self.name == self.queue else f"'{self.name}' (queue {self.queue})"

    def missing(self, need: Need) -> list[str]:
        return sorted(need.images - self.images)

    def shortfall(self, need: Need) -> str:
        """Why the host has no room for ``need`` ("" when it has)."""
        if self.max_nodes is not None and self.nodes_used + need.nodes > self.max_nodes:
            return f"its labs hold {self.nodes_used} of its {self.max_nodes} nodes and this lab needs {need.nodes}"
        if self.memory_used_mb + need.memory_mb > self.memory_cap_mb:
            return (f"its labs ask for {self.memory_used_mb} of its {self.memory_cap_mb} MB and this lab needs "
                    f"{need.memory_mb} MB")
        return ""

    def why_not(self, need: Need) -> str:
        """Why the host cannot take ``need`` ("" when it can), in the words a refusal uses."""
        if not self.alive:
            return "it is unreachable (its lab worker has not answered lately)"
        if self.drained:
            return "it is drained (it takes no new labs)"
        missing = self.missing(need)
        if missing:
            return f"it does not have the image{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
        room = self.shortfall(need)
        return f"it is full: {room}" if room else ""

    def free_share(self, need: Need) -> float:
        """The smallest share of a cap left free once ``need`` is placed (higher is emptier)."""
        shares = [(self.memory_cap_mb - self.memory_used_mb - need.memory_mb) / max(1, self.memory_cap_mb)]
        if self.max_nodes is not None:
            shares.append((self.max_nodes - self.nodes_used - need.nodes) / max(1, self.max_nodes))
        return min(shares)


def choose(need: Need, candidates: list[HostView], pinned: HostView | None = None, *, pin_of: str = "") -> HostView:
    """The host ``need`` goes to: ``pinned`` (or a refusal naming it and why), else the fitting host left the
    emptiest (ties: by name). :class:`HostUnavailable` when no host is alive, :class:`NoRoom` when none fits.
    Pure: it reads nothing but its arguments."""
    if pinned is not None:
        why = pinned.why_not(need)
        if not why:
            return pinned
        refusal = HostUnavailable if not pinned.alive else NoRoom
        raise refusal(f"the host {pinned} that {pin_of or 'the admin pinned'} cannot take this lab: {why}; "
                      "nothing was queued (ask an administrator to change the pin, or try again later)")
    alive = [h for h in candidates if h.alive]
    if not alive:
        names = ", ".join(str(h) for h in candidates) or "none registered"
        raise HostUnavailable(f"no lab host is running (hosts: {names}); nothing was queued: start a lab worker, "
                              "then try again")
    fitting = [h for h in alive if not h.why_not(need)]
    if not fitting:
        reasons = "; ".join(f"{h}: {h.why_not(need)}" for h in sorted(alive, key=lambda h: (h.name, h.queue)))
        raise NoRoom(f"no lab host can take this lab ({need.nodes} nodes, {need.memory_mb} MB): {reasons}; nothing "
                     "was queued: destroy a lab, or try again later")
    return min(fitting, key=lambda h: (-h.free_share(need), h.name, h.queue))


# -- what a lab asks, and what the hosts hold -----------------------------------------------------------------
def need_of(document: dict, default_memory_mb: int | None = None) -> Need:
    """What a document's lab asks for (a JSON document as stored)."""
    default = default_memory_mb if default_memory_mb is not None else int(node_resources()["default"]["memory_mb"])
    nodes = document.get("nodes") or []
    memory = 0
    images = set()
    for node in nodes:
        memory += int(((node.get("resources") or {}).get("memory_mb")) or default)
        image = node.get("image") or kinds.KINDS.get(node.get("kind") or kinds.DEFAULT, kinds.KINDS[kinds.DEFAULT]).image
        if image.split(":")[0].split("@")[0] in TOPOLAB_IMAGES:
            images.add(reference(image))
    return Need(len(nodes), memory, frozenset(images))


def _held_labs(queues):
    """The labs on ``queues`` that hold room: deploying, running or degraded, or with a container left."""
    containers = LabNode.objects.filter(lab=OuterRef("pk")).exclude(container_id="")
    return Lab.objects.filter(queue__in=queues).filter(
        Q(state__in=(*LIVE_STATES, *BUSY_STATES)) | Q(Exists(containers)))


def held(queues, exclude_lab: int | None = None) -> tuple[dict[str, tuple[int, int]], dict[str, set[int]]]:
    """``({queue: (nodes, memory MB)}, {queue: lab IDs counted})``: what the labs on ``queues`` ask for."""
    default = int(node_resources()["default"]["memory_mb"])
    used = {q: (0, 0) for q in queues}
    counted: dict[str, set[int]] = {q: set() for q in queues}
    rows = _held_labs(queues).exclude(pk=exclude_lab).values_list(
        "pk", "queue", "running_document", "applying_document", "topology__document")
    for pk, queue, running, applying, document in rows:
        found = [need_of(d, default) for d in (running, applying, document) if d]
        need = max(found, key=lambda n: (n.memory_mb, n.nodes)) if found else Need(0, 0)
        nodes, memory = used[queue]
        used[queue] = (nodes + need.nodes, memory + need.memory_mb)
        counted[queue].add(pk)
    return used, counted


def _reservations_key(queue: str) -> str:
    return f"topolab:{settings.TOPOLAB_SITE}:host:{queue}:placing"


def redis_now_ms() -> int:
    """Redis's clock (ms): the one every web process shares, that reservations are stamped with."""
    seconds, micros = leases.client().time()
    return int(seconds) * 1000 + int(micros) // 1000


def _counts(value: str, lab: int, counted: set[int], read_at: int, now_ms: int, exclude_lab: int) -> tuple[int, int]:
    """What one reservation adds to a view whose database count began at ``read_at`` (Redis ms): nothing when it
    lapsed, is this lab's, or its lab is counted already; nothing either once its deploy was recorded before the
    count began (the count saw that: the lab is counted, or was destroyed since); else its nodes and memory."""
    parts = value.split()
    if len(parts) not in (4, 5) or int(parts[2]) <= now_ms or lab == exclude_lab or lab in counted:
        return 0, 0
    if len(parts) == 5 and int(parts[4]) < read_at:
        return 0, 0
    return int(parts[0]), int(parts[1])


def _reserved(queue: str, counted: set[int], exclude_lab: int, read_at: int) -> tuple[int, int]:
    """What the other deploys placing labs on ``queue`` hold that a database count begun at ``read_at`` missed."""
    now_ms = redis_now_ms()
    nodes = memory = 0
    for lab, value in leases.client().hgetall(_reservations_key(queue)).items():
        n, m = _counts(value, int(lab), counted, read_at, now_ms, exclude_lab)
        nodes, memory = nodes + n, memory + m
    return nodes, memory


def views(exclude_lab: int) -> tuple[list[HostView], dict[str, set[int]], dict[str, tuple[int, int]], int]:
    """Every registered host as :func:`choose` sees it now, the labs the database counted on each and what they
    ask for (nodes, memory MB: the views add the other deploys' reservations), and when the count began."""
    rows = list(LabHost.objects.all())
    queues = [h.queue for h in rows]
    live = hosts.alive_queues(queues)
    read_at = redis_now_ms()  # before the count: a deploy recorded before now is in it
    used, counted = held(queues, exclude_lab)
    found = []
    for host in rows:
        nodes, memory = used[host.queue]
        other_nodes, other_memory = _reserved(host.queue, counted[host.queue], exclude_lab, read_at)
        cap = host.max_memory_mb if host.max_memory_mb is not None else host.memory_mb * MEMORY_OVERCOMMIT
        found.append(HostView(queue=host.queue, name=host.name, alive=host.queue in live, drained=host.drained,
                              images=frozenset(host.images or ()), max_nodes=host.max_nodes, memory_cap_mb=cap,
                              nodes_used=nodes + other_nodes, memory_used_mb=memory + other_memory,
                              memory_capped=host.max_memory_mb is not None))
    return found, counted, used, read_at


def pin_for(lab: Lab) -> tuple[HostPin | None, str]:
    """The pin that applies to ``lab``'s owner (theirs first, else their copy's course's) and whose it is."""
    topology = lab.topology
    pin = HostPin.objects.select_related("lab_host").filter(user_id=topology.owner_id).first()
    if pin is not None:
        return pin, f"the admin pinned for {topology.owner.get_username()}"
    if topology.assignment_id is not None:
        pin = HostPin.objects.select_related("lab_host", "course").filter(
            course__assignments__pk=topology.assignment_id).first()
        if pin is not None:
            return pin, f"the admin pinned for the course '{pin.course.name}'"
    return None, ""


# KEYS[1]: the host's reservations (lab -> "nodes memory lapses-at-ms token [recorded-at-ms]"). ARGV: lab, nodes,
# memory, token, ttl ms, the host's free nodes (-1: no cap) and free memory as the database counted them, when
# that count began (ms), how old that count may be (ms), then the lab IDs it counted. A reservation counts unless it
# lapsed, is this lab's, its lab was counted, or its deploy was recorded before the count began (the count saw it).
# 1 if it fits (reserved), 0 if not, -1 if the count is too old (a deploy that committed after it began may have
# ended more than SETTLE_MS ago, its reservation lapsed: count again); nothing is reserved unless 1.
RESERVE_SCRIPT = """
local now = redis.call('time')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local read_at = tonumber(ARGV[8])
if now - read_at >= tonumber(ARGV[9]) then return -1 end
local counted = {}
for i = 10, #ARGV do counted[ARGV[i]] = true end
local all = redis.call('hgetall', KEYS[1])
local nodes, memory = 0, 0
for i = 1, #all, 2 do
  local lab, value = all[i], all[i + 1]
  local n, m, lapses = string.match(value, '^(%d+) (%d+) (%d+) ')
  local recorded = string.match(value, '^%d+ %d+ %d+ %w+ (%d+)$')
  if not lapses or tonumber(lapses) <= now then
    redis.call('hdel', KEYS[1], lab)
  elseif lab ~= ARGV[1] and not counted[lab] and not (recorded and tonumber(recorded) < read_at) then
    nodes, memory = nodes + tonumber(n), memory + tonumber(m)
  end
end
local free_nodes, free_memory = tonumber(ARGV[6]), tonumber(ARGV[7])
if (free_nodes >= 0 and nodes + tonumber(ARGV[2]) > free_nodes) or memory + tonumber(ARGV[3]) > free_memory then
  return 0
end
redis.call('hset', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. (now + tonumber(ARGV[5])) .. ' ' .. ARGV[4])
redis.call('pexpire', KEYS[1], tonumber(ARGV[5]))
return 1
"""
# KEYS[1]: the host's reservations. ARGV: lab, token, ms it still lasts (0: remove it now). Only the holder's; a
# kept one is stamped with when its deploy was recorded (now): counts that begin after it do not add it.
RELEASE_SCRIPT = """
local value = redis.call('hget', KEYS[1], ARGV[1])
if not value or string.match(value, '^%d+ %d+ %d+ (%w+)') ~= ARGV[2] then return 0 end
if tonumber(ARGV[3]) <= 0 then return redis.call('hdel', KEYS[1], ARGV[1]) end
local now = redis.call('time')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local n, m = string.match(value, '^(%d+) (%d+) ')
redis.call('hset', KEYS[1], ARGV[1], n .. ' ' .. m .. ' ' .. (now + tonumber(ARGV[3])) .. ' ' .. ARGV[2] .. ' ' .. now)
return 1
"""


@dataclass
class Reservation:
    """The room a deploy took on a host until its lab's new state is committed; :meth:`release` gives it back."""

    queue: str
    lab: int
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    def release(self, committed: bool) -> None:
        """Give the room back: at once when the deploy was not recorded; else stamped with when it was (now) and
        kept :data:`SETTLE_MS` for the placements whose database count began before that (they must still see
        it; those that begin after it see the lab in the database, or see it gone, and skip the reservation)."""
        try:
            leases.client().eval(RELEASE_SCRIPT, 1, _reservations_key(self.queue), str(self.lab), self.token,
                                 SETTLE_MS if committed else 0)
        except Exception:  # noqa: BLE001 - it lapses by itself
            pass


STALE = "stale"  # what reserve() answers when the count it was given is too old to be checked against


def reserve(host: HostView, lab: int, need: Need, counted: set[int], used: tuple[int, int],
            read_at: int) -> Reservation | str | None:
    """Take ``need``'s room on ``host`` for ``lab`` if the other deploys' reservations leave it; else None, or
    :data:`STALE` when the count began :data:`SETTLE_MS` or more before the script ran (count again).
    ``counted``, ``used``: the labs and the (nodes, memory) the database count begun at ``read_at`` found there."""
    reservation = Reservation(host.queue, lab)
    free_nodes = -1 if host.max_nodes is None else host.max_nodes - used[0]
    fits = int(leases.client().eval(RESERVE_SCRIPT, 1, _reservations_key(host.queue), str(lab), need.nodes,
                                    need.memory_mb, reservation.token, RESERVE_TTL_MS, free_nodes,
                                    host.memory_cap_mb - used[1], read_at, SETTLE_MS, *sorted(counted)))
    return reservation if fits == 1 else STALE if fits < 0 else None


def only_host(host: HostView, need: Need) -> HostView:
    """The one host of a site as placement sees it: no choice to make, so only what the admin said counts (drain,
    the caps they set), as before there were hosts: a lab whose image is missing fails in the worker, saying so,
    and the memory the host has caps nothing by itself."""
    return replace(host, images=host.images | need.images,
                   memory_cap_mb=host.memory_cap_mb if host.memory_capped else UNCAPPED_MB)


def _back_where_it_was(lab: Lab, need: Need, candidates: list[HostView]) -> HostView | None:
    """The host ``lab`` was placed on before, when it can take it again (its images, its pool; a lab moves only
    when it must); None for a lab on the web tier's own queue (where every new lab starts: not a choice)."""
    if lab.queue == settings.TOPOLAB_QUEUE:
        return None
    last = next((h for h in candidates if h.queue == lab.queue), None)
    return last if last is not None and not last.why_not(need) else None


def placeable(lab: Lab) -> bool:
    """True when ``lab`` may go to any host: stopped or failed, with no container left where it was."""
    return lab.state in (LabState.STOPPED, LabState.FAILED) and \
        not LabNode.objects.filter(lab=lab).exclude(container_id="").exists()


@contextmanager
def placed(lab: Lab, document: dict) -> Iterator[str | None]:
    """Choose ``lab``'s host and hold its room while the body runs (the body records the deploy and commits it);
    yields the chosen queue (the caller records it with the deploy's state), or None where nothing is chosen:
    no host registered, or a lab that stays where its containers are. The refusals say which host and why."""
    registered = set(LabHost.objects.values_list("queue", flat=True))
    if not registered or (lab.queue not in registered and lab.queue != settings.TOPOLAB_QUEUE):
        # No hosts (as before there were), or a lab put by hand on a queue no registered host has: it stays.
        yield None
        return
    if not placeable(lab):
        host = LabHost.objects.filter(queue=lab.queue).first()
        if host is not None and not hosts.alive_queues([lab.queue]):
            raise HostUnavailable(hosts.unreachable_message(lab.queue, "deployed (what it left is still there)"))
        yield None
        return
    need = need_of(document)
    pin, whose = pin_for(lab)
    reservation = None
    stale = 0
    for _ in range(ATTEMPTS):
        candidates, counted, used, read_at = views(lab.pk)
        if len(candidates) == 1 and pin is None:
            if not candidates[0].alive:
                yield None  # the one host is down: refused as before there were hosts (no worker, 503)
                return
            candidates = [only_host(candidates[0], need)]
        pinned = next((h for h in candidates if pin is not None and h.queue == pin.lab_host.queue), None)
        host = _back_where_it_was(lab, need, candidates) if pin is None else None
        host = host or choose(need, candidates, pinned, pin_of=whose)
        reservation = reserve(host, lab.pk, need, counted[host.queue], used[host.queue], read_at)
        if reservation == STALE:
            reservation, stale = None, stale + 1
            if stale >= STALE_ATTEMPTS:
                raise NoRoom(f"the hosts' room could not be counted in time (each count took over {SETTLE_MS // 1000} s: "
                             "the site is very busy); nothing was queued: try again")
            continue
        if reservation is not None:
            break
    if reservation is None:
        raise NoRoom("too many labs are being placed at once and none fitted; nothing was queued: try again")
    committed = False
    try:
        lab.queue = host.queue
        yield host.queue
        committed = True
    finally:
        reservation.release(committed)

