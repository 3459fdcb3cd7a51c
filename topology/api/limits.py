"""``GET /api/v1/limits``: the caller's limits and what they use, so that pages can say "2 of 3 labs running".

The numbers are :mod:`topology.quotas`' (the very ones a deploy is checked
against); with them, a node's resources (:mod:`topology.limits`) and, for each
course the caller is in, its running nodes against its limit.
"""
from __future__ import annotations

from ninja import Router, Schema

from .. import limits, quotas
from ..models import Course
from .routing import route_on

router = Router(tags=["limits"])
route = route_on(router)


class LimitsPerUser(Schema):
    max_running_labs: int
    max_running_nodes: int
    max_nodes_per_topology: int
    max_topologies: int


class LimitsUsage(Schema):
    running_labs: int
    running_nodes: int
    topologies: int


class LimitsResources(Schema):
    cpus: float
    memory_mb: int
    pids: int


class LimitsNode(Schema):
    default: LimitsResources
    max: LimitsResources


class LimitsCourse(Schema):
    id: int
    name: str
    max_running_nodes: int
    running_nodes: int


class LimitsOut(Schema):
    limits: LimitsPerUser
    usage: LimitsUsage
    node: LimitsNode
    courses: list[LimitsCourse]


@route(["GET"], "/limits", response={200: LimitsOut},
       summary="Your limits (running labs and nodes, nodes per topology, topologies), what you use, a node's "
               "resources, and your courses' running nodes")
def get_limits(request):
    user = request.auth
    courses = Course.objects.filter(members__user=user).order_by("name", "id")
    return {"limits": quotas.effective(user), "usage": quotas.usage(user), "node": limits.node_resources(),
            "courses": [{"id": c.pk, "name": c.name, **quotas.course_limit(c),
                         "running_nodes": quotas.course_usage(c)["running_nodes"]} for c in courses]}
