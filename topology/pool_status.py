"""What the warm pool holds, as the lab worker says it (it publishes it after each round of upkeep) and the
admin reads it: the web tier sees no containers. Neutral: Redis and settings only."""
from __future__ import annotations

import json
import time

from django.conf import settings

from . import leases

STATUS_TTL_MS = 30 * 1000  # a status no filler renewed for this long is gone (the worker stopped)


def status_key(queue: str | None = None) -> str:
    return f"topolab:{settings.TOPOLAB_SITE}:pool:{queue or settings.TOPOLAB_QUEUE}"


def publish(status: dict, queue: str | None = None) -> None:
    """Keep ``status`` (see :meth:`topology.engine.pool.Pool.status`) for the admin, for a while."""
    leases.client().set(status_key(queue), json.dumps({**status, "updated": time.time()}), px=STATUS_TTL_MS)


def read(queue: str | None = None) -> dict | None:
    """What the lab worker of ``queue`` said its pool holds (None: no worker said so lately)."""
    raw = leases.client().get(status_key(queue))
    return json.loads(raw) if raw else None
