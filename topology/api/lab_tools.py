"""The API's tools for a running lab: "ping all", every node pinging every address, as a matrix.

The pings run in the root exec worker (:func:`topology.pingall.ping_all`, the task ``topology.ping_all`` on
:func:`topology.workers.exec_queue`); the view waits for the answer, bounded. One ping all per user at a
time, and it takes an exec slot like a command in a node, so it counts against the same caps.
"""
from __future__ import annotations

from django.http import HttpResponse
from ninja import Router, Schema, Status

from .. import tasks, workers
from ..models import LIVE_STATES
from .routing import route_on
from .schemas import Detail
from .views import EXEC_REFUSALS, WORKER_GRACE, _ask_worker, _exec_turn, _topology

router = Router(tags=["labs"])

route = route_on(router)

PING_ALL_DEADLINE = 30  # seconds the worker pings for, at most; pings not started by then say so
PING_ALL_WAIT = PING_ALL_DEADLINE + 5 + WORKER_GRACE  # its last pings end a few seconds after the deadline


class PingTarget(Schema):
    node: str
    interface: str
    address: str


class PingCell(Schema):
    ok: bool
    rtt_ms: float | None
    error: str


class PingAllOut(Schema):
    sources: list[str]
    targets: list[PingTarget]
    results: dict[str, dict[str, PingCell]]
    took_ms: int


@route(["POST"], "/topologies/{int:topology_id}/ping-all",
       response={200: PingAllOut, 404: Detail, 409: Detail, 429: Detail, 502: Detail, 503: Detail, 504: Detail},
       openapi_extra={"responses": {**EXEC_REFUSALS, 429: {
           **EXEC_REFUSALS[429], "description": "A ping all of yours runs already (one per user at a time), or "
                                                "too many commands run: " + EXEC_REFUSALS[429]["description"]}}},
       summary="Ping every address of the running lab from each node that has one; answers the matrix "
               "(1 packet, 1 s timeout each; a node's own addresses are left out)")
def ping_all(request, topology_id: int, response: HttpResponse):
    topology = _topology(request, topology_id)
    lab = topology.lab
    if lab.state not in LIVE_STATES:
        return Status(409, {"detail": f"the lab is {lab.state}; deploy it first"})
    queue = workers.exec_queue(lab.queue)
    release, refused = _exec_turn(request, response, lab=lab.pk, queue=queue, seconds=PING_ALL_WAIT + 5,
                                  mark="ping-all", busy="a ping all of yours runs already; wait for it to end")
    if refused:
        return refused
    try:
        answer, error = _ask_worker(tasks.ping_all, [lab.pk, PING_ALL_DEADLINE], queue, PING_ALL_WAIT,
                                    who="exec worker (it runs commands in nodes)")
    finally:
        release()
    if error:
        return error
    if answer.get("error"):
        return Status(409, {"detail": answer.get("detail", "ping all could not run")})
    return answer
