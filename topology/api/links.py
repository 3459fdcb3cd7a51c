"""A link of a topology changed, live on a running lab (``PATCH .../links/{end}``), and what this host's kernel
can do to a link (``GET /capabilities``). The rules are :mod:`topology.links`'."""
from __future__ import annotations

import json

from django.http import HttpRequest
from ninja import Router, Schema, Status

from .. import links, schema, services
from .routing import route_on
from .schemas import Detail, Errors
from .views import _invalid, _refused, _topology

router = Router(tags=["labs"])
route = route_on(router)
MAX_CHANGE_BYTES = 64 * 1024

IMPAIRMENT_SCHEMA = {
    "type": "object", "nullable": True,
    "description": "The link's impairment, replacing the one it had; null clears it.",
    "properties": {
        "delay_ms": {"type": "number", "minimum": 0, "maximum": 60000},
        "jitter_ms": {"type": "number", "minimum": 0, "maximum": 60000},
        "loss_percent": {"type": "number", "minimum": 0, "maximum": 100},
        "duplicate_percent": {"type": "number", "minimum": 0, "maximum": 100},
        "corrupt_percent": {"type": "number", "minimum": 0, "maximum": 100},
        "rate_kbit": {"type": "integer", "minimum": 1, "maximum": 100000000},
    },
}
CHANGE_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {
            "type": "object",
            "properties": {"state": {"type": "string", "enum": ["up", "down"]}, "impairment": IMPAIRMENT_SCHEMA},
            "example": {"state": "up", "impairment": {"loss_percent": 5, "rate_kbit": 2000}},
        }}},
    }
}


class LinkOut(Schema):
    link: dict
    applied: bool


class Impairments(Schema):
    delay: bool
    jitter: bool
    loss: str | None
    duplicate: str | None
    corrupt: bool
    rate: str | None


class CapabilitiesOut(Schema):
    impairments: Impairments
    link_state: bool
    probed: str
    kernel: str
    missing: list[str]


def _change(request: HttpRequest):
    body = request.read(MAX_CHANGE_BYTES + 1)
    if len(body) > MAX_CHANGE_BYTES:
        return None, schema.Problem("", f"the body is over {MAX_CHANGE_BYTES} bytes")
    try:
        return json.loads(body or b"null"), None
    except (ValueError, UnicodeDecodeError) as exc:
        return None, schema.Problem("", f"the body is not JSON: {exc}")


@route(["PATCH"], "/topologies/{int:topology_id}/links/{end}",
       response={200: LinkOut, 400: Errors, 404: Detail, 409: Detail, 502: Detail, 503: Detail, 504: Detail},
       openapi_extra=CHANGE_BODY,
       summary="Set a link up or down and set or clear its impairment (at once on a running lab, both ends; "
               "saved in the document); the link is named by either end, node:interface")
def change_link(request, topology_id: int, end: str):
    topology = _topology(request, topology_id)
    change, problem = _change(request)
    if problem is not None:
        return _invalid([problem])
    try:
        return links.change(topology, end, change)
    except services.ServiceError as exc:
        return _refused(exc)


@route(["GET"], "/capabilities", response={200: CapabilitiesOut, 503: Detail},
       summary="What this host's kernel can do to a link (probed when the lab worker started)")
def capabilities(request):
    try:
        found = links.capabilities()
    except services.ServiceError as exc:
        return _refused(exc)
    if found is None:
        return Status(503, {"detail": "the lab worker has not probed this host's kernel yet (is it running?)"})
    return found
