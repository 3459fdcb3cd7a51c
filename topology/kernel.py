"""What this host's kernel can do to a link, probed for real (root side), and kept in Redis for the web tier.

The probe runs once, when the lab worker starts (:func:`probe_and_publish`,
from :mod:`topology.tasks`): :func:`netlink.probe_features` tries, in a
throwaway network namespace of its own, each thing an impairment needs (a
netem qdisc, a tbf qdisc, nftables netdev chains with the loss and duplication rules);
:func:`impair.capabilities` says what that offers. The answer is stored under
the worker's queue (:func:`topology.links.capabilities` reads it, for
``GET /api/v1/capabilities`` and to refuse a live change this kernel cannot
do) and the same process's deploys and live changes use what it found.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from datetime import datetime, timezone

from django.conf import settings

from .engine import impair, netlink

log = logging.getLogger(__name__)
REPUBLISH_EVERY = 5.0  # seconds between checks that Redis still has the answer


def describe(features: dict[str, bool]) -> dict:
    """The capabilities of a kernel with ``features``, as ``GET /api/v1/capabilities`` gives them."""
    found = impair.capabilities(features)
    found["probed"] = datetime.now(timezone.utc).isoformat()
    found["kernel"] = os.uname().release
    found["missing"] = impair.missing(found)
    return found


def probe() -> dict:
    """Probe the kernel now (root) and describe it."""
    return describe(netlink.probe_features())


def probe_and_publish(queue: str | None = None) -> dict:
    """Probe (again) and store the answer for the web tier under ``queue`` (the lab worker's)."""
    from .leases import client

    found = probe()
    client().set(impair.capabilities_key(settings.TOPOLAB_SITE, queue or settings.TOPOLAB_QUEUE), json.dumps(found))
    return found


def keep_published(found: dict, queue: str | None = None, every: float = REPUBLISH_EVERY,
                   stop: threading.Event | None = None) -> threading.Thread:
    """Put ``found`` back under ``queue`` whenever Redis has lost it, checking every ``every`` seconds
    (until ``stop`` is set; a worker's thread never stops: it is a daemon).

    Redis keeps nothing across a restart (production runs it without persistence): the probe, made once
    at the worker's start, would be gone until the worker restarted, and live link changes refused
    meanwhile (found by tests/drills/test_restarts.py). A newer answer (another probe) is left as it is.
    """
    import redis

    from .leases import client

    key = impair.capabilities_key(settings.TOPOLAB_SITE, queue or settings.TOPOLAB_QUEUE)
    text = json.dumps(found)
    stop = stop or threading.Event()

    def run() -> None:
        while not stop.wait(every):
            try:
                if client().set(key, text, nx=True):
                    log.warning("the kernel's capabilities were gone from Redis (restarted?): published again")
            except redis.RedisError:
                pass  # Redis is away: the next check puts it back once it answers

    thread = threading.Thread(target=run, name="capabilities", daemon=True)
    thread.start()
    return thread
