"""The lab worker's warm pool (:mod:`topology.engine.pool`), wired to this site's settings, limits and Redis
(root side).

One pool per lab worker process: its deploys take members (:func:`current`, used by
:func:`topology.operations.make_executor`) and its filler thread, started when the worker is ready
(:func:`start_filling`, from :mod:`topology.tasks`) and stopped when it shuts down, keeps it at the admin's
budget (:class:`~topology.models.SiteLimits` ``pool_size`` and ``pool_memory_mb``, read again every round), its
members started with the site's default node limits (read again every round too: members with others are
replaced).
A member is claimed in Redis before it is taken, so that two deploys, or the filler removing a member, never
act on one member at once, even in two worker processes of one host.
"""
from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections

from . import kinds, leases, limits, pool_status
from .engine.docker_runtime import DockerRuntime
from .engine.pool import Budget, Pool, Spec, reference

log = logging.getLogger(__name__)
CLAIM_TTL_MS = 10 * 60 * 1000  # a claimed member is no other's for this long (taken ones are renamed by then)
BUDGET_FOR = 1.0  # seconds a deploy trusts the budget last read (by the filler's round or another deploy)

_lock = threading.Lock()
_pool: Pool | None = None
_budget_read: tuple[float, Budget] | None = None  # (when, what): the last read of the budget


def specs() -> list[Spec]:
    """The pools: each image of ``TOPOLAB_POOL_IMAGES`` with the capabilities of the kinds whose image it is."""
    found = []
    for image in settings.TOPOLAB_POOL_IMAGES:
        for caps in sorted({k.capabilities for k in kinds.KINDS.values() if k.image == image and k.deployable}):
            found.append(Spec(reference(image), caps))
    return found


def budget() -> Budget:
    """The admin's budget now (the database read again each round)."""
    from .models import SiteLimits

    global _budget_read
    close_old_connections()
    row = SiteLimits.current()
    found = Budget(size=row.pool_size, memory_mb=row.pool_memory_mb)
    _budget_read = (time.monotonic(), found)
    return found


def recent_budget() -> Budget:
    """The budget as read less than :data:`BUDGET_FOR` seconds ago, else read now: a deploy asks whether the pool
    is on, and the filler has read it at most half a second ago (the database is not asked once more per deploy)."""
    last = _budget_read
    if last is not None and time.monotonic() - last[0] < BUDGET_FOR:
        return last[1]
    return budget()


def claim(container_id: str) -> bool:
    key = f"topolab:{settings.TOPOLAB_SITE}:pool:claim:{container_id}"
    return bool(leases.client().set(key, "1", nx=True, px=CLAIM_TTL_MS))


def publish(status: dict) -> None:
    """What the pool holds, for the admin (:mod:`topology.pool_status`)."""
    try:
        pool_status.publish(status)
    except Exception as exc:  # noqa: BLE001 - the admin's view is only late
        log.debug("pool: status not published: %s", exc)


def default_resources() -> dict:
    """The site's default node limits now (the site limits' ``node_default_*``, what a node that asks for none
    gets): members are started with them, so that taking one for such a node changes no limit."""
    close_old_connections()
    return dict(limits.node_resources()["default"])


def make_pool(runtime=None) -> Pool:
    return Pool(runtime or DockerRuntime(), settings.TOPOLAB_SITE, specs(), budget, claim, default_resources,
                on_fill=publish, host=settings.TOPOLAB_QUEUE)  # this host's members only (an engine may be shared)


def current() -> Pool | None:
    """This process's pool, made on first use; None when the pool is off (a budget of 0)."""
    global _pool
    try:
        if recent_budget().size <= 0:
            return None
    except Exception as exc:  # noqa: BLE001 - no database: deploy cold
        log.warning("pool: the budget cannot be read (%s); deploying without it", exc)
        return None
    with _lock:
        if _pool is None:
            _pool = make_pool()
        return _pool


def start_filling() -> None:
    """Start this process's filler thread (once)."""
    pool = current() or make_pool()
    global _pool
    with _lock:
        _pool = pool
        if pool._thread is None:
            pool.start()


def stop_filling(sender=None, **kwargs) -> None:
    """Stop the filler thread (members are left: the next worker start, or ``lab pool --drain``, sees to them)."""
    with _lock:
        pool = _pool
    if pool is not None:
        pool.stop()
