"""One node of a running lab stopped, started or restarted (``POST .../nodes/{node}/{action}``). The rules are
:mod:`topology.nodes`'."""
from __future__ import annotations

from ninja import Router, Schema

from .. import nodes, services
from .routing import route_on
from .schemas import Detail
from .views import _refused, _topology

router = Router(tags=["labs"])
route = route_on(router)


class NodeActionOut(Schema):
    node: str
    action: str
    state: str
    elapsed_ms: int


@route(["POST"], "/topologies/{int:topology_id}/nodes/{node}/{action}",
       response={200: NodeActionOut, 404: Detail, 409: Detail, 429: Detail, 502: Detail, 503: Detail, 504: Detail},
       summary="Stop, start or restart one node of a running lab (action: stop, start or restart); a started node "
               "gets its links back, wired as the document says; answers once it is done")
def node_action(request, topology_id: int, node: str, action: str):
    topology = _topology(request, topology_id)
    try:
        return nodes.act(topology, node, action)
    except services.ServiceError as exc:
        return _refused(exc)
