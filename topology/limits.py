"""The server's limits and the names a plan is made with: what the web tier and the root worker both need.

Neutral ground: the web tier checks documents and requests against these,
and the root worker re-checks with the very same values before it acts, so
neither side imports the other's rules.

Counts (nodes, links, addresses, routes a document may hold) come from
settings. A node's resources (its default CPUs, memory and pids, and the caps
on what it may ask for) come from the site's :class:`~topology.models.SiteLimits`
row, which an administrator edits in the admin. The settings'
``TOPOLAB_DEFAULT_RESOURCES`` and ``TOPOLAB_MAX_RESOURCES`` are what a new row
starts with (:func:`topology.quotas.site_limits` makes it from them) and what
is used while there is no row, or no database to read (a pure unit test, a
database not migrated yet): both sides then agree, since both read the same row.

The row is read at most once every :data:`CACHE_SECONDS` per process (checking
a document must not cost a query, let alone one per node); saving the row in
this process forgets the cached values at once, other processes see the change
within those seconds.
"""
from __future__ import annotations

import threading
import time

from django.conf import settings
from django.core.exceptions import SynchronousOnlyOperation
from django.db import DatabaseError
from django.db.models.signals import post_delete, post_save

from .engine.plan import Context
from .schema import Limits

EXEC_OUTPUT_CAP = 1024 * 1024  # bytes of a command's output the worker sends back to the web tier
EXEC_MAX_TIMEOUT = 300         # seconds a command in a node may run, at most
EXEC_DEFAULT_TIMEOUT = 30

CACHE_SECONDS = 5.0
RESOURCES = ("cpus", "memory_mb", "pids")

_lock = threading.Lock()
_cached: tuple[float, dict] | None = None  # (monotonic time it lapses, {"default": {...}, "max": {...}})


def settings_resources() -> dict:
    """A node's resources as the settings give them: ``{"default": {cpus, memory_mb, pids}, "max": {...}}``."""
    return {"default": {key: settings.TOPOLAB_DEFAULT_RESOURCES[key] for key in RESOURCES},
            "max": {key: settings.TOPOLAB_MAX_RESOURCES[key] for key in RESOURCES}}


def _read_row() -> dict | None:
    """The site row's node resources, or None when there is no row or no database to read."""
    from .models import SiteLimits

    fields = [f"node_{which}_{key}" for which in ("default", "max") for key in RESOURCES]
    try:
        row = SiteLimits.objects.filter(pk=1).values(*fields).first()
    except (DatabaseError, SynchronousOnlyOperation, RuntimeError):
        # RuntimeError: pytest-django's answer to a test without database access.
        return None
    if row is None:
        return None
    return {which: {key: row[f"node_{which}_{key}"] for key in RESOURCES} for which in ("default", "max")}


def node_resources() -> dict:
    """A node's resources on this site: ``{"default": {cpus, memory_mb, pids}, "max": {cpus, memory_mb, pids}}``."""
    global _cached
    cached = _cached
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    with _lock:
        values = _read_row()
        if values is None:
            # Not cached: a database that becomes usable (migrated, or a test that may use it) is read next time.
            return settings_resources()
        _cached = (time.monotonic() + CACHE_SECONDS, values)
        return values


def forget(**_) -> None:
    """Drop the cached values: the next check reads the row again (called when the row is saved or deleted)."""
    global _cached
    _cached = None


post_save.connect(forget, sender="topology.SiteLimits", dispatch_uid="topology.limits.forget.save")
post_delete.connect(forget, sender="topology.SiteLimits", dispatch_uid="topology.limits.forget.delete")


def document_limits(resources: dict | None = None) -> Limits:
    """What a document may hold on this server: node and link counts, caps on a node's resources
    (``resources``: what :func:`node_resources` said, when the caller has asked already)."""
    caps = (resources or node_resources())["max"]
    return Limits(max_nodes=settings.TOPOLAB_MAX_NODES, max_links=settings.TOPOLAB_MAX_LINKS,
                  max_addresses=settings.TOPOLAB_MAX_ADDRESSES, max_routes=settings.TOPOLAB_MAX_ROUTES,
                  max_cpus=caps["cpus"], max_memory_mb=caps["memory_mb"], max_pids=caps["pids"])


def plan_context(lab) -> Context:
    """Names and limits the engine uses for ``lab`` (a :class:`topology.models.Lab` with its topology)."""
    resources = node_resources()
    return Context(site=settings.TOPOLAB_SITE, lab_id=lab.pk, owner=lab.topology.owner.get_username(),
                   limits=document_limits(resources), default_resources=dict(resources["default"]))
