"""One operation per lab at a time, across processes and hosts: a lease in Redis.

The web tier takes a lab's lease when it queues an operation (with a long TTL,
so a queued task keeps it while it waits for a worker); the worker takes it
over and renews it every few seconds while it works. A worker that dies stops
renewing, so its lease expires within ``WORKER_TTL`` and the lab can be
destroyed or cleaned up: no lab stays stuck after a crash.

Every worker process also says it is alive, every few seconds, for each queue
it consumes (a heartbeat, written by :mod:`topology.workers`; read here). A
queued operation records which worker was alive on its queue when it was
queued; if that worker is gone before it started the operation, the operation
is *abandoned* (its task was lost with the worker, or waits for one that is
not there) and its lease counts as free: the lab can be destroyed again at
once instead of after ``QUEUED_TTL``.
"""
from __future__ import annotations

import threading
import uuid
from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator

import redis
from django.conf import settings

QUEUED_TTL_MS = 10 * 60 * 1000  # a queued operation waits this long for a worker
WORKER_TTL_MS = 15 * 1000  # a working worker renews well before this

# Compare-and-act, atomically in Redis: only the holder (ARGV[1]) of the key (KEYS[1]) renews it for
# ARGV[2] ms or deletes it. The console relay's lock (topology/relay/singleton.py) uses them too.
RENEW_SCRIPT = ("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) "
                "else return 0 end")
RELEASE_SCRIPT = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


@lru_cache(maxsize=1)
def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, decode_responses=True, socket_timeout=10)


def client() -> redis.Redis:
    """The Redis connection that leases, heartbeats and exec slots (:mod:`topology.workers`) share."""
    return _client()


def _key(lab_id: int) -> str:
    return f"topolab:{settings.TOPOLAB_SITE}:lab:{int(lab_id)}:operation"


def _queued_key(lab_id: int) -> str:
    """``"<operation> <worker>"``: the operation holding the lease is queued for that worker, not started yet."""
    return f"topolab:{settings.TOPOLAB_SITE}:lab:{int(lab_id)}:operation:queued"


# -- the workers' heartbeats (written by topology.workers.Heartbeat) ----------------------------------------
HEARTBEAT_TTL_MS = 10 * 1000  # a live worker renews its heartbeat every few seconds, well before this


def worker_key(queue: str) -> str:
    """Present while a worker consumes ``queue``; its value is that worker's instance ID."""
    return f"topolab:{settings.TOPOLAB_SITE}:worker:{queue}"


def worker_instance_key(instance: str) -> str:
    """Present while the worker process ``instance`` is alive (one ID per process start)."""
    return f"topolab:{settings.TOPOLAB_SITE}:worker-instance:{instance}"


def worker_alive(queue: str) -> str | None:
    """The instance ID of a live worker consuming ``queue``, or None if no worker has said so lately."""
    return _client().get(worker_key(queue))


def instance_alive(instance: str) -> bool:
    """True while the worker process ``instance`` keeps its heartbeat."""
    return bool(instance) and bool(_client().exists(worker_instance_key(instance)))


def _abandoned(lease: str | None, queued: str | None) -> bool:
    """The lease's operation was queued for a worker that is gone, and no worker started it."""
    if lease is None or queued is None:
        return False
    operation, _, worker = queued.partition(" ")
    return operation == lease and not instance_alive(worker)


def abandoned(lab_id: int) -> bool:
    """True if the lab's lease is held by a queued operation whose worker died before starting it."""
    return _abandoned(*_client().mget(_key(lab_id), _queued_key(lab_id)))


def acquire(lab_id: int, operation: str, ttl_ms: int = QUEUED_TTL_MS, worker: str = "") -> bool:
    """Take the lab's lease for ``operation``; False if another operation holds it.

    ``worker``: the instance ID of the live worker the operation is queued for
    (:func:`worker_alive`); should it die before starting the operation, the
    lease counts as free. A lease held by such an abandoned operation is taken over.
    """
    client = _client()
    if client.set(_key(lab_id), operation, nx=True, px=ttl_ms):
        if worker:
            client.set(_queued_key(lab_id), f"{operation} {worker}", px=ttl_ms)
        else:
            client.delete(_queued_key(lab_id))  # a leftover of an older operation
        return True
    return _take_over(client, lab_id, operation, ttl_ms, worker)


def _take_over(client: redis.Redis, lab_id: int, operation: str, ttl_ms: int, worker: str) -> bool:
    """Take an abandoned operation's lease, unless its lease or its queued mark changes meanwhile."""
    key, queued_key = _key(lab_id), _queued_key(lab_id)
    with client.pipeline() as pipe:
        try:
            pipe.watch(key, queued_key)
            if not _abandoned(*pipe.mget(key, queued_key)):
                return False
            pipe.multi()
            pipe.set(key, operation, px=ttl_ms)
            if worker:
                pipe.set(queued_key, f"{operation} {worker}", px=ttl_ms)
            else:
                pipe.delete(queued_key)
            pipe.execute()
        except redis.WatchError:  # the worker started it, or someone else took it: it is not ours
            return False
    return True


def _started(lab_id: int, operation: str) -> None:
    """A worker starts ``operation``: it is no longer a queued one (done before the worker renews its lease,
    so a take-over either happened before, and the renewal fails, or sees no queued mark and does not happen)."""
    queued_key = _queued_key(lab_id)
    with _client().pipeline() as pipe:
        try:
            pipe.watch(queued_key)
            if (pipe.get(queued_key) or "").partition(" ")[0] == operation:
                pipe.multi()
                pipe.delete(queued_key)
                pipe.execute()
        except redis.WatchError:  # taken over meanwhile: the renewal below fails
            pass


def holder(lab_id: int) -> str | None:
    """The operation holding the lab's lease, or None."""
    return _client().get(_key(lab_id))


def is_held(lab_id: int) -> bool:
    """True while any operation holds the lab's lease (queued for a live worker, or running on a worker).

    An abandoned operation (see :func:`abandoned`) does not count. Not the same
    as :func:`topology.labview.operation_running`, which also asks the lab's
    state: a lease outlives the final state by an instant.
    """
    lease, queued = _client().mget(_key(lab_id), _queued_key(lab_id))
    return lease is not None and not _abandoned(lease, queued)


def renew(lab_id: int, operation: str, ttl_ms: int = WORKER_TTL_MS) -> bool:
    """Extend the lease if ``operation`` still holds it."""
    return bool(_client().eval(RENEW_SCRIPT, 1, _key(lab_id), operation, ttl_ms))


def release(lab_id: int, operation: str) -> None:
    """Give the lease up if ``operation`` holds it."""
    _client().eval(RELEASE_SCRIPT, 1, _key(lab_id), operation)


class LeaseLost(RuntimeError):
    """Another operation holds the lab's lease: this one must not touch the lab."""


@contextmanager
def held(lab_id: int, operation: str) -> Iterator[None]:
    """Keep renewing ``operation``'s lease while the body runs, and release it after.

    Raises :class:`LeaseLost` at the start if another operation took the lab
    meanwhile (the queued lease expired and someone else acquired it); a
    lapsed lease that nobody took is taken back.
    """
    _started(lab_id, operation)
    if not renew(lab_id, operation) and not acquire(lab_id, operation, WORKER_TTL_MS):
        raise LeaseLost(f"lab {lab_id} is held by operation {holder(lab_id)}, not {operation}")
    stop = threading.Event()

    def keep_alive():
        while not stop.wait(WORKER_TTL_MS / 3000):
            try:
                renew(lab_id, operation)
            except redis.RedisError:
                pass  # a blip: the next renewal still comes well inside the TTL

    thread = threading.Thread(target=keep_alive, name=f"lease-{lab_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        release(lab_id, operation)


class UserMark:
    """One request of a kind per user at a time (a "ping all", an FRR check, a node operation): a key in Redis.

    Taken with :func:`take_user_mark`; :meth:`release` deletes it only while it is still this holder's (a
    mark that lapsed may be another request's by now). A process that dies holding it frees it when it lapses.
    """

    def __init__(self, key: str, token: str):
        self.key, self.token = key, token

    def release(self) -> None:
        try:
            _client().eval(RELEASE_SCRIPT, 1, self.key, self.token)
        except redis.RedisError:
            pass  # it lapses by itself


def user_mark_key(user_id: int, what: str) -> str:
    """The Redis key of ``user_id``'s mark for ``what`` (``ping-all``, ``frr-check``, ``node-operation``)."""
    return f"topolab:{settings.TOPOLAB_SITE}:user:{int(user_id)}:{what}"


def take_user_mark(user_id: int, what: str, *, ttl_ms: int, busy: str, retry_after: int = 5) -> UserMark:
    """``user_id``'s mark for ``what``, held for at most ``ttl_ms``.

    :class:`~topology.errors.TooMany` saying ``busy`` (with ``retry_after`` seconds) when the user holds it
    already; a Redis error as it comes (the caller says what was not done).
    """
    from .errors import TooMany

    key = user_mark_key(user_id, what)
    token = uuid.uuid4().hex
    if not _client().set(key, token, nx=True, px=ttl_ms):
        raise TooMany(busy, retry_after=retry_after)
    return UserMark(key, token)
