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
import os
from datetime import datetime, timezone

from django.conf import settings

from .engine import impair, netlink


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
