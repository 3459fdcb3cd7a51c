"""Compute routes from the API: the static routes that make every node of a document reach every subnet of
the lab by a shortest path (:func:`topology.routes.compute`, a pure function of the document).

``POST /routes/compute`` takes a document as its body (read and checked as ``POST /validate`` and a PUT read
it: the same size limit, every problem with its path, 400) and saves nothing. ``POST
/topologies/{id}/routes`` computes them for a saved topology (its owner's); with ``?apply=true`` the
document with the routes added is saved through the same path as a PUT (:func:`topology.services.update_topology`).

Both answer ``{"routes": [{"node", "to", "via"}], "notes": [sentences: what was left alone and why], "document":
the document with the routes added after each node's own}``;
the second adds ``"applied"`` (true when it saved a change).
"""
from __future__ import annotations

from django.db import IntegrityError
from ninja import Router, Schema

from .. import routes, schema, services
from ..models import LIVE_STATES
from .routing import route_on
from .schemas import DOCUMENT_BODY, Detail, Errors
from .views import _document, _invalid, _refused, _topology

router = Router(tags=["topologies"])
route = route_on(router)


class RoutesOut(Schema):
    routes: list[dict]
    notes: list[str]
    document: dict


class AppliedRoutesOut(RoutesOut):
    applied: bool


def _answer(document: schema.Document) -> dict:
    computed = routes.compute(document)
    return {**computed.as_dict(), "document": routes.with_routes(document, computed.routes)}


@route(["POST"], "/routes/compute", response={200: RoutesOut, 400: Errors}, openapi_extra=DOCUMENT_BODY,
       summary="Compute routes for a document, saving nothing: the static routes that make every node reach every "
               "subnet by a shortest path (IPv4 and IPv6; the routes a node has are kept), notes on what was left "
               "alone, and the document with the routes added")
def compute(request):
    result = _document(request)
    if not result.ok:
        return _invalid(result.errors, result.warnings)
    return _answer(result.document)


@route(["POST"], "/topologies/{int:topology_id}/routes", response={200: AppliedRoutesOut, 400: Errors, 404: Detail},
       summary="Compute routes for a saved topology (as /routes/compute); ?apply=true saves the document with them "
               "added, as a PUT does")
def topology_routes(request, topology_id: int, apply: bool = False):
    topology = _topology(request, topology_id)
    try:
        document = services.parse(topology.document)
    except services.ServiceError as exc:  # a document saved before a rule it breaks was made
        return _refused(exc)
    answer = _answer(document)
    applied = False
    if apply and answer["routes"]:
        try:
            services.update_topology(topology, answer["document"])
        except services.ServiceError as exc:
            return _refused(exc)
        except IntegrityError:  # renamed meanwhile into a name taken by a concurrent request
            return _invalid([schema.Problem("name", f"you already have a topology named '{document.name}'")])
        applied = True
        if topology.lab.state in LIVE_STATES:
            answer["notes"].append("saved; the running lab gets these routes with Apply changes or at its next deploy")
    return {**answer, "applied": applied}
