"""The web tier's side of captures (unprivileged): requests to a host's capture service and their replies,
the records and recent rows the service keeps in Redis, and a watcher's presence (see :mod:`topology.capture`
for the protocol). Refusals are :class:`topology.errors.ServiceError` subclasses carrying the HTTP answer."""
from __future__ import annotations

import json
import secrets
import time
from functools import lru_cache

import redis
from django.conf import settings

from .. import schema
from ..errors import ServiceError
from . import ID_PATTERN, RECENT_ROWS, WATCH_TTL, key, requests_key

WAIT = 15.0   # seconds a request waits for the service's reply


class CaptureRefused(ServiceError):
    """The capture service refused the request; ``status`` is its answer."""

    def __init__(self, status: int, message: str, path: str = ""):
        self.status = status
        super().__init__(message, [schema.Problem(path, message)] if status == 400 else None)


class NoService(ServiceError):
    """No capture service runs for the lab's host (or Redis does not answer)."""

    status = 503


class NoReply(ServiceError):
    """The capture service took the request but did not answer in time."""

    status = 504


@lru_cache(maxsize=1)
def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, decode_responses=True, socket_timeout=WAIT + 10)


def client() -> redis.Redis:
    """The web tier's connection for captures (its socket waits longer than a reply)."""
    return _client()


def _site() -> str:
    return settings.TOPOLAB_SITE


def ask(queue: str, request: dict, wait: float = WAIT) -> dict:
    """Send ``request`` to the capture service of ``queue``'s host; its record on success, else the refusal."""
    db = client()
    try:
        if not db.exists(key(_site(), "alive", queue)):
            raise NoService("the capture service of this lab's host is not running")
        reply = key(_site(), "reply", secrets.token_hex(12))
        db.rpush(requests_key(_site(), queue), json.dumps({**request, "reply": reply, "deadline": time.time() + wait}))
        found = db.blpop([reply], timeout=wait)
    except redis.RedisError as exc:
        raise NoService(f"captures cannot be reached now (Redis: {exc}); try again in a moment") from None
    if not found:
        raise NoReply("the capture service did not answer in time")
    answer = json.loads(found[1])
    if not answer.get("ok"):
        raise CaptureRefused(int(answer.get("status") or 500), str(answer.get("message") or "refused"),
                             str(answer.get("path") or ""))
    return answer["capture"]


def record(capture_id: str) -> dict | None:
    """A capture's record, or None (no such capture, or it ended long enough ago to be forgotten)."""
    if not isinstance(capture_id, str) or not ID_PATTERN.match(capture_id):
        return None
    raw = client().get(key(_site(), capture_id))
    return json.loads(raw) if raw else None


def of_topology(topology_id: int) -> list[dict]:
    """The captures of a topology still known, newest first."""
    db = client()
    ids = db.zrevrange(key(_site(), "topology", int(topology_id)), 0, 99)
    if not ids:
        return []
    found = []
    for capture_id, raw in zip(ids, db.mget([key(_site(), i) for i in ids]), strict=True):
        if raw:
            found.append(json.loads(raw))
        else:  # forgotten: its entry goes too
            db.zrem(key(_site(), "topology", int(topology_id)), capture_id)
    return found


def recent(capture_id: str) -> list[dict]:
    """The latest rows of a capture, oldest first."""
    return [json.loads(r) for r in client().lrange(key(_site(), capture_id, "recent"), -RECENT_ROWS, -1)]


def watch(capture_id: str, watcher: str) -> None:
    """Say ``watcher`` (a page's socket, a streaming download) watches the capture, for the next WATCH_TTL seconds."""
    client().zadd(key(_site(), capture_id, "watchers"), {watcher: time.time() + WATCH_TTL})


def unwatch(capture_id: str, watcher: str) -> None:
    client().zrem(key(_site(), capture_id, "watchers"), watcher)


def public(found: dict) -> dict:
    """A record as the API and the page show it."""
    shown = {k: found.get(k) for k in ("id", "target", "node", "interface", "filter", "state", "reason", "started",
                                       "ended", "packets", "bytes", "kernel_dropped", "tcpdump_captured", "limits")}
    shown["topology"] = found.get("topology")
    return shown
