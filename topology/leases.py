"""One operation per lab at a time, across processes and hosts: a lease in Redis.

The web tier takes a lab's lease when it queues an operation (with a long TTL,
so a queued task keeps it while it waits for a worker); the worker takes it
over and renews it every few seconds while it works. A worker that dies stops
renewing, so its lease expires within ``WORKER_TTL`` and the lab can be
destroyed or cleaned up: no lab stays stuck after a crash.
"""
from __future__ import annotations

import threading
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


def _key(lab_id: int) -> str:
    return f"topolab:{settings.TOPOLAB_SITE}:lab:{int(lab_id)}:operation"


def acquire(lab_id: int, operation: str, ttl_ms: int = QUEUED_TTL_MS) -> bool:
    """Take the lab's lease for ``operation``; False if another operation holds it."""
    return bool(_client().set(_key(lab_id), operation, nx=True, px=ttl_ms))


def holder(lab_id: int) -> str | None:
    """The operation holding the lab's lease, or None."""
    return _client().get(_key(lab_id))


def is_held(lab_id: int) -> bool:
    """True while any operation holds the lab's lease (queued, or running on a worker).

    Not the same as :func:`topology.labview.operation_running`, which also asks
    the lab's state: a lease outlives the final state by an instant.
    """
    return holder(lab_id) is not None


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
