"""The host's workers as both sides see them: the exec queue's name, heartbeats, and slots for commands in nodes.

Neutral ground (Redis and settings only). Deploys and destroys run on the lab
worker's queue; commands in nodes (``exec``) on a queue of their own,
:func:`exec_queue`, consumed by a second worker process with its own pool, so
one user's long commands can never take the threads a deploy or a destroy
needs.

- Every worker process keeps a :class:`Heartbeat` in Redis for each queue it
  consumes (started when it is ready, removed when it shuts down; one that
  crashes stops renewing it and it lapses within
  :data:`topology.leases.HEARTBEAT_TTL_MS`). The web tier reads it
  (:func:`topology.leases.worker_alive`) to say at once that no worker runs,
  instead of queuing work nobody takes.
- The web tier takes an exec slot (:func:`take_exec_slot`) for each command it
  sends: at most so many per user, per lab and per host at once. A slot is a
  member of a sorted set scored with the time it lapses (the command's timeout
  plus a grace), released when the answer comes back; the slots of a web
  process that crashed lapse by themselves.
"""
from __future__ import annotations

import logging
import math
import threading
import uuid
from dataclasses import dataclass

import redis
from django.conf import settings

from . import leases

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 3.0  # seconds between a worker's heartbeats (they live leases.HEARTBEAT_TTL_MS)
RETRY_AFTER_MAX = 5    # seconds a refused exec is told to wait, at most


def exec_queue(lab_queue: str) -> str:
    """The queue of the worker that runs commands in the nodes of labs on ``lab_queue``: the one derivation."""
    return f"{lab_queue}.exec"


# -- heartbeats -----------------------------------------------------------------------------------------------
class Heartbeat:
    """A worker process's "I am alive" for its ``queues``, renewed from a thread until :meth:`stop`."""

    def __init__(self, queues, instance: str | None = None):
        self.queues = sorted(set(queues))
        self.instance = instance or uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        """Say it once: the instance, and each queue (naming this instance), for HEARTBEAT_TTL_MS."""
        with leases.client().pipeline(transaction=False) as pipe:
            pipe.set(leases.worker_instance_key(self.instance), " ".join(self.queues), px=leases.HEARTBEAT_TTL_MS)
            for queue in self.queues:
                pipe.set(leases.worker_key(queue), self.instance, px=leases.HEARTBEAT_TTL_MS)
            pipe.execute()

    def start(self) -> Heartbeat:
        """Beat now (so the worker counts as running once this returns), then every HEARTBEAT_EVERY seconds."""
        try:
            self.beat()
        except redis.RedisError:
            log.exception("heartbeat: Redis cannot be reached; retrying every %s s", HEARTBEAT_EVERY)
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(HEARTBEAT_EVERY):
            try:
                self.beat()
            except redis.RedisError:
                pass  # a blip: the next beat still comes well inside the TTL

    def stop(self) -> None:
        """Stop beating and say so: the queues this instance named, and the instance, are gone at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        client = leases.client()
        try:
            client.delete(leases.worker_instance_key(self.instance))
            for queue in self.queues:
                with client.pipeline() as pipe:
                    try:
                        pipe.watch(leases.worker_key(queue))
                        if pipe.get(leases.worker_key(queue)) == self.instance:  # not another worker's
                            pipe.multi()
                            pipe.delete(leases.worker_key(queue))
                            pipe.execute()
                    except redis.WatchError:
                        pass  # another worker of the queue just beat: it is alive
        except redis.RedisError:
            log.warning("heartbeat: could not remove it; it lapses in %s ms", leases.HEARTBEAT_TTL_MS)


_beating: list[Heartbeat] = []


def start_heartbeat(queues) -> Heartbeat:
    """This process's heartbeat for ``queues`` (from Celery's ``worker_ready``)."""
    heartbeat = Heartbeat(queues).start()
    _beating.append(heartbeat)
    log.info("heartbeat for %s (instance %s)", ", ".join(heartbeat.queues), heartbeat.instance)
    return heartbeat


def stop_heartbeats() -> None:
    """End this process's heartbeats (from Celery's ``worker_shutdown``)."""
    while _beating:
        _beating.pop().stop()


# -- exec slots -----------------------------------------------------------------------------------------------
# KEYS: the user's, the lab's and the host's slot sets. ARGV: the slot's token, its lifetime in ms, then each
# set's cap. Lapsed slots go first; then either every set has room and the slot joins all three ({0, 0}),
# or {index of the first full set, ms until its oldest slot lapses}. Redis's own clock: one for every web process.
TAKE_SLOT_SCRIPT = """
local now = redis.call('time')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
for i, key in ipairs(KEYS) do
  redis.call('zremrangebyscore', key, '-inf', now)
  if redis.call('zcard', key) >= tonumber(ARGV[2 + i]) then
    local oldest = redis.call('zrange', key, 0, 0, 'WITHSCORES')
    return {i, tonumber(oldest[2]) - now}
  end
end
local lapses = now + tonumber(ARGV[2])
for _, key in ipairs(KEYS) do
  redis.call('zadd', key, lapses, ARGV[1])
  local last = redis.call('zrange', key, -1, -1, 'WITHSCORES')
  redis.call('pexpireat', key, math.max(lapses, tonumber(last[2])))
end
return {0, 0}
"""


def _slot_keys(user: int, lab: int, queue: str) -> list[str]:
    prefix = f"topolab:{settings.TOPOLAB_SITE}:exec"
    return [f"{prefix}:user:{int(user)}", f"{prefix}:lab:{int(lab)}", f"{prefix}:pool:{queue}"]


def exec_caps() -> tuple[int, int, int]:
    """(per user, per lab, per host) commands at once; the last is the exec worker's pool size."""
    return (max(1, settings.TOPOLAB_MAX_EXECS_PER_USER), max(1, settings.TOPOLAB_MAX_EXECS_PER_LAB),
            max(1, settings.TOPOLAB_EXEC_CONCURRENCY))


def _plural(n: int) -> str:
    return f"{n} command{'s' if n != 1 else ''}"


class ExecCapReached(Exception):
    """Too many commands run already; ``cap`` is which limit (``user``, ``lab`` or ``pool``: the host's exec worker)."""

    def __init__(self, cap: str, limit: int, retry_after: int):
        self.cap, self.limit, self.retry_after = cap, limit, retry_after
        self.message = {
            "user": f"you already run {_plural(limit)}; wait for one to end",
            "lab": f"{_plural(limit)} already run in this lab; wait for one to end",
            "pool": f"this host already runs {_plural(limit)}, as many as it runs at once; try again in a moment",
        }[cap]
        super().__init__(self.message)


@dataclass
class ExecSlot:
    """One command's place; give it back with :meth:`release` (or let it lapse)."""

    keys: list[str]
    token: str

    def release(self) -> None:
        with leases.client().pipeline(transaction=False) as pipe:
            for key in self.keys:
                pipe.zrem(key, self.token)
            pipe.execute()

    def __enter__(self) -> ExecSlot:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def take_exec_slot(*, user: int, lab: int, queue: str, seconds: float) -> ExecSlot:
    """A slot for one command of ``user`` in ``lab`` on the exec ``queue``, lapsing after ``seconds``;
    :class:`ExecCapReached` if the user, the lab or the host already runs as many as it may."""
    keys = _slot_keys(user, lab, queue)
    caps = exec_caps()
    token = uuid.uuid4().hex
    full, lapses_in_ms = leases.client().eval(TAKE_SLOT_SCRIPT, len(keys), *keys, token,
                                               max(1, int(seconds * 1000)), *caps)
    if full:
        retry_after = min(RETRY_AFTER_MAX, max(1, math.ceil(int(lapses_in_ms) / 1000)))
        raise ExecCapReached(("user", "lab", "pool")[int(full) - 1], caps[int(full) - 1], retry_after)
    return ExecSlot(keys, token)


def exec_slots_in_use(*, user: int | None = None, lab: int | None = None, queue: str | None = None) -> int:
    """How many commands run now for ``user``, in ``lab`` or on the exec ``queue`` (one of them)."""
    user_key, lab_key, host_key = _slot_keys(user or 0, lab or 0, queue or "")
    key = user_key if user is not None else lab_key if lab is not None else host_key
    client = leases.client()
    now_s, now_us = client.time()
    return int(client.zcount(key, f"({now_s * 1000 + now_us // 1000}", "+inf"))
