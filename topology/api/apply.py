"""Apply changes to a running lab (``POST .../apply``, the document as the body, ``?dry_run=true`` to see what it
would do). The rules are :mod:`topology.apply`'."""
from __future__ import annotations

from ninja import Router, Schema, Status

from .. import apply, services
from .routing import route_on
from .schemas import DOCUMENT_BODY, Detail, Errors
from .views import _document, _invalid, _refused, _topology

router = Router(tags=["labs"])
route = route_on(router)


class ChangesOut(Schema):
    nodes_created: list[str]
    nodes_removed: list[str]
    nodes_restarted: list[dict]
    links_added: list[str]
    links_removed: list[str]
    links_changed: list[dict]
    addresses_added: list[str]
    addresses_removed: list[str]
    routes_added: list[str]
    routes_removed: list[str]
    sysctls: list[str]
    files: list[str]
    left: list[str]


class PhaseOut(Schema):
    phase: str
    steps: list[str]


class ApplyOut(Schema):
    changes: ChangesOut
    steps: list[PhaseOut]
    nothing_to_do: bool
    queued: bool
    operation: str


@route(["POST"], "/topologies/{int:topology_id}/apply",
       response={200: ApplyOut, 202: ApplyOut, 400: Errors, 404: Detail, 409: Detail, 429: Detail, 503: Detail},
       openapi_extra=DOCUMENT_BODY,
       summary="Make the running lab run this document, changing only what changed (?dry_run=true: only say what "
               "it would do); 202 once queued, its steps on the lab's websocket like a deploy's")
def apply_changes(request, topology_id: int, dry_run: bool = False):
    topology = _topology(request, topology_id)
    result = _document(request)
    if not result.ok:
        return _invalid(result.errors, result.warnings)
    try:
        answer = apply.apply(topology, result, dry_run=dry_run)
    except services.ServiceError as exc:
        return _refused(exc, result.warnings)
    return Status(202 if answer["queued"] else 200, answer)
