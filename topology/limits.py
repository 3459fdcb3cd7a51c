"""The server's limits and the names a plan is made with: what the web tier and the root worker both need.

Neutral ground: the web tier checks documents and requests against these,
and the root worker re-checks with the very same values before it acts, so
neither side imports the other's rules. Everything comes from settings.
"""
from __future__ import annotations

from django.conf import settings

from .engine.plan import Context
from .schema import Limits

EXEC_OUTPUT_CAP = 1024 * 1024  # bytes of a command's output the worker sends back to the web tier
EXEC_MAX_TIMEOUT = 300         # seconds a command in a node may run, at most
EXEC_DEFAULT_TIMEOUT = 30


def document_limits() -> Limits:
    """What a document may hold on this server: node and link counts, caps on a node's resources."""
    caps = settings.TOPOLAB_MAX_RESOURCES
    return Limits(max_nodes=settings.TOPOLAB_MAX_NODES, max_links=settings.TOPOLAB_MAX_LINKS,
                  max_addresses=settings.TOPOLAB_MAX_ADDRESSES, max_routes=settings.TOPOLAB_MAX_ROUTES,
                  max_cpus=caps["cpus"], max_memory_mb=caps["memory_mb"], max_pids=caps["pids"])


def plan_context(lab) -> Context:
    """Names and limits the engine uses for ``lab`` (a :class:`topology.models.Lab` with its topology)."""
    return Context(site=settings.TOPOLAB_SITE, lab_id=lab.pk, owner=lab.topology.owner.get_username(),
                   limits=document_limits(), default_resources=dict(settings.TOPOLAB_DEFAULT_RESOURCES))
