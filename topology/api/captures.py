"""Packet captures of a running lab: start one on a node's interface (a link end), list them, stop one, and
download its pcap, whole or followed live (``?follow=1``: ``curl -N ... | wireshark -k -i -``). The capture
itself runs in the root capture service of the lab's host (:mod:`topology.capture`); these views only ask it."""
from __future__ import annotations

import asyncio
import json
import secrets

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, StreamingHttpResponse
from ninja import Router, Schema, Status

from .. import schema, services
from ..capture import WATCH_RENEW, spool
from ..capture import client as captures
from ..models import LIVE_STATES
from .routing import route_on
from .schemas import Detail, Errors
from .views import _invalid, _refused, _topology

router = Router(tags=["captures"])
route = route_on(router)
MAX_BODY = 8 * 1024
FOLLOW_EVERY = 0.2     # seconds between a followed download's looks at the file
FOLLOW_PIECE = 1024 * 1024  # the most bytes of one piece of a followed download

START_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {
            "type": "object", "required": ["target"],
            "properties": {"target": {"type": "string", "description": "node:interface (either end of a link)"},
                           "filter": {"type": "string", "description": "a capture filter, tcpdump's syntax"}},
            "example": {"target": "c1:eth0", "filter": "icmp or arp"},
        }}},
    }
}
LIMITS = {429: {"description": "Too many captures run already: yours (`TOPOLAB_CAPTURE_MAX_PER_USER`) or this "
                               "host's (`TOPOLAB_CAPTURE_MAX_PER_HOST`); the detail says which."},
          503: {"description": "No capture service runs for the lab's host."},
          504: {"description": "The capture service did not answer in time."}}


class CaptureOut(Schema):
    id: str
    topology: int
    target: str
    node: str
    interface: str
    filter: str
    state: str
    reason: str
    started: float
    ended: float | None = None
    packets: int
    bytes: int
    kernel_dropped: int | None = None
    tcpdump_captured: int | None = None
    limits: dict


def _body(request: HttpRequest):
    body = request.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        return None, schema.Problem("", f"the body is over {MAX_BODY} bytes")
    try:
        found = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        return None, schema.Problem("", f"the body is not JSON: {exc}")
    if not isinstance(found, dict):
        return None, schema.Problem("", "must be an object with a target")
    return found, None


def _capture(request, topology_id: int, capture_id: str) -> tuple[dict, object]:
    topology = _topology(request, topology_id, supervised=True)
    found = captures.record(capture_id)
    if found is None or found.get("topology") != topology.pk:
        raise Http404("no such capture")
    return found, topology


@route(["POST"], "/topologies/{int:topology_id}/captures",
       response={201: CaptureOut, 400: Errors, 404: Detail, 409: Detail, 429: Detail, 503: Detail, 504: Detail},
       openapi_extra={**START_BODY, "responses": LIMITS},
       summary="Start a packet capture on a node's interface of the running lab (target node:interface), "
               "with a capture filter (tcpdump's syntax) if given")
def start_capture(request, topology_id: int):
    topology = _topology(request, topology_id, supervised=True)
    body, problem = _body(request)
    if problem is not None:
        return _invalid([problem])
    lab = getattr(topology, "lab", None)
    if lab is None or lab.state not in LIVE_STATES:
        return Status(409, {"detail": f"the lab is {lab.state if lab else 'stopped'}, not running"})
    try:
        found = captures.ask(lab.queue, {"op": "start", "user": request.auth.pk, "topology": topology.pk,
                                         "target": body.get("target"), "filter": body.get("filter") or ""})
    except services.ServiceError as exc:
        return _refused(exc)
    return Status(201, captures.public(found))


@route(["GET"], "/topologies/{int:topology_id}/captures", response={200: list[CaptureOut], 404: Detail},
       summary="The topology's captures, running and recently ended, newest first")
def list_captures(request, topology_id: int):
    topology = _topology(request, topology_id, supervised=True)
    return [captures.public(c) for c in captures.of_topology(topology.pk)]


@route(["GET"], "/topologies/{int:topology_id}/captures/{capture_id}.pcap", response={200: None, 404: Detail},
       openapi_extra={"responses": {200: {"description": "The pcap file (application/vnd.tcpdump.pcap)",
                                          "content": {"application/vnd.tcpdump.pcap": {}}}}},
       summary="A capture's pcap file: every packet so far; with follow=1, then every new one as it comes "
               "until the capture ends (for `curl -N ... | wireshark -k -i -`)")
def download_capture(request, topology_id: int, capture_id: str, follow: int = 0):
    found, topology = _capture(request, topology_id, capture_id)
    directory = settings.TOPOLAB_CAPTURE_DIR
    path = spool.pcap_path(directory, capture_id)
    if not path.exists():
        raise Http404("the capture's file is gone")
    name = f"{topology.name}-{found['node']}-{found['interface']}-{capture_id[:6]}.pcap"
    if follow and found.get("state") != "ended":
        response = StreamingHttpResponse(_follow(capture_id), content_type="application/vnd.tcpdump.pcap")
        response["Content-Disposition"] = f'inline; filename="{name}"'
        response["Cache-Control"] = "no-store"
        response["X-Accel-Buffering"] = "no"
        return response
    length = path.stat().st_size if found.get("state") == "ended" else spool.whole_length(directory, capture_id)
    handle = open(path, "rb")  # FileResponse closes it
    response = FileResponse(_Bounded(handle, length), content_type="application/vnd.tcpdump.pcap",
                            as_attachment=True, filename=name)
    response["Content-Length"] = str(length)
    response["Cache-Control"] = "no-store"
    return response


class _Bounded:
    """The first ``length`` bytes of a file (a running capture's whole packets), as FileResponse reads it."""

    def __init__(self, handle, length: int):
        self.handle, self.left = handle, length

    def read(self, size: int = -1) -> bytes:
        size = self.left if size is None or size < 0 else min(size, self.left)
        data = self.handle.read(size)
        self.left -= len(data)
        return data

    def close(self) -> None:
        self.handle.close()


async def _follow(capture_id: str):
    """The pcap so far, then new whole packets as they come, until the capture ends (its file complete)."""
    directory = settings.TOPOLAB_CAPTURE_DIR
    watcher = "download-" + secrets.token_hex(6)
    sent, renewed = 0, 0.0
    loop = asyncio.get_running_loop()
    try:
        with open(spool.pcap_path(directory, capture_id), "rb") as pcap:
            if spool.whole_length(directory, capture_id) < spool.GLOBAL_HEADER:
                # tcpdump writes its header with its first packet: a reader (wireshark -k) gets one at once,
                # the same (Ethernet, the capture's snap length), and the file's own is skipped.
                found = captures.record(capture_id) or {}
                yield spool.global_header(int(found.get("snaplen") or settings.TOPOLAB_CAPTURE_SNAPLEN))
                sent = spool.GLOBAL_HEADER
            while True:
                found = await asyncio.to_thread(captures.record, capture_id)
                ended = found is None or found.get("state") == "ended"
                if ended:
                    end = spool.pcap_path(directory, capture_id).stat().st_size
                else:
                    end = await asyncio.to_thread(spool.whole_length, directory, capture_id)
                while end > sent:  # in pieces: a long capture's start is many megabytes
                    pcap.seek(sent)
                    data = await asyncio.to_thread(pcap.read, min(end - sent, FOLLOW_PIECE))
                    if not data:
                        break
                    sent += len(data)
                    yield data
                if ended:
                    return
                if loop.time() - renewed >= WATCH_RENEW:
                    renewed = loop.time()
                    await asyncio.to_thread(captures.watch, capture_id, watcher)
                await asyncio.sleep(FOLLOW_EVERY)
    finally:
        try:
            await asyncio.to_thread(captures.unwatch, capture_id, watcher)
        except Exception:  # noqa: BLE001 - the client left; its presence lapses by itself anyway
            pass


@route(["GET"], "/topologies/{int:topology_id}/captures/{capture_id}", response={200: CaptureOut, 404: Detail},
       summary="One capture: its target, filter, state, counts and, once ended, why")
def get_capture(request, topology_id: int, capture_id: str):
    return captures.public(_capture(request, topology_id, capture_id)[0])


@route(["DELETE"], "/topologies/{int:topology_id}/captures/{capture_id}",
       response={200: CaptureOut, 404: Detail, 503: Detail, 504: Detail},
       summary="Stop a capture (its file stays for download a while)")
def stop_capture(request, topology_id: int, capture_id: str):
    found, _ = _capture(request, topology_id, capture_id)
    if found.get("state") == "ended":
        return captures.public(found)
    try:
        return captures.public(captures.ask(found["queue"], {"op": "stop", "user": request.auth.pk,
                                                             "capture": capture_id}))
    except services.ServiceError as exc:
        return _refused(exc)
