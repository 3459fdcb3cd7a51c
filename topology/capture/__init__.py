"""Packet captures: the root capture service (``manage.py capture``) runs ``tcpdump`` inside a node's network
namespace; the web tier asks for captures, shows their packets live and serves their pcap files.

This package's ``__init__`` is the protocol only (key names, the request and reply shapes): the web tier
imports it, so it imports nothing that needs root. The service is :mod:`.service`; the web side's requests
are :mod:`.client`; :mod:`.summary` (one line per packet), :mod:`.decode` (a packet's layers) and
:mod:`.spool` (the files) are pure and used by both.

Everything goes through Redis, under ``topolab:<site>:capture:`` (:func:`key`):

web -> service, a JSON request pushed on the list ``requests:<queue>`` (the lab's host; :func:`requests_key`),
answered by the service with one JSON reply pushed on the list the request names (``reply``: the web side
pops it with a timeout; it expires unread after a minute)::

    {"op": "start", "reply": <key>, "deadline": <unix time>, "user": <user id>, "topology": <id>,
     "target": "c1:eth0", "filter": "icmp or arp"}
    {"op": "stop", "reply": <key>, "deadline": ..., "user": <user id>, "capture": <capture id>}

    {"ok": true, "capture": <record>}
    {"ok": false, "status": 400 | 404 | 409 | 429 | 500, "message": "...", "path": "filter" | "target" | ""}

A list and not pub/sub: a request waits for the service instead of reaching nobody while it restarts, and a
sync view can wait for its reply. The service checks everything again against the database (the lab runs,
the node runs, the interface is one of the node's in the document the lab runs, the user is the topology's
owner or supervises it: :mod:`.access`), and the filter with ``tcpdump -d`` (:mod:`.filters`).

The service keeps, for each capture (its id: 16 hex digits):

- ``<id>``: its record, a JSON object (:data:`RECORD_FIELDS`): ``state`` "running" or "ended", ``reason``
  once ended, the counts (``packets`` in the file, ``bytes`` of the file, ``kernel_dropped``). It expires
  ``TOPOLAB_CAPTURE_KEEP_SECONDS`` after the end, with the files.
- ``topology:<topology id>``: a sorted set of the topology's captures (by start time), for the list.
- ``running``: a hash of the running captures, id -> ``"<user id> <queue>"``, for the per-user limit.
- ``<id>:recent``: the latest :data:`RECENT_ROWS` rows, for a watcher who comes late.
- ``<id>:watchers``: a sorted set, watcher -> the unix time its presence lapses; each watcher (a page's
  websocket, a streaming download) renews its own every :data:`WATCH_RENEW` seconds. Once a capture had a
  watcher, it stops ``TOPOLAB_CAPTURE_IDLE_SECONDS`` after the last one lapsed or left.
- ``alive:<queue>``: set while the service of that host runs (the web tier answers 503 without it).

service -> watchers, JSON on the pub/sub channel ``<id>:live`` (:func:`live_channel`)::

    {"type": "rows", "rows": [{"no": 1, "time": 0.0, "src": "...", "dst": "...", "protocol": "ICMP",
                               "length": 98, "info": "echo request id 7, seq 1"}, ...],
     "skipped": <packets of this batch with no row>, "packets": <in the file so far>, "bytes": <file size>}
    {"type": "ended", "capture": <record>}

Rows go in batches, one every :data:`BATCH_SECONDS` at most while packets come; a batch has at most
:data:`BATCH_ROWS` rows (2,000 rows a second in all), so under a flood the watchers get a sample and the
count of what it skipped, never an ever-growing backlog. The file keeps every packet.

Files, in ``TOPOLAB_CAPTURE_DIR`` (:mod:`.spool`): ``<id>.pcap``, the capture as tcpdump wrote it (whole
packets only: a download is always a valid file), and ``<id>.idx``, each packet's offset in it (8 bytes
little-endian per packet), so that a packet's detail is read by its number without a scan.
"""
from __future__ import annotations

import re

BATCH_SECONDS = 0.1       # rows are sent at least this often while packets come
BATCH_ROWS = 200          # the most rows of one batch (and so 2,000 a second at most)
RECENT_ROWS = 500         # rows a watcher who joins late gets first
WATCH_RENEW = 5.0         # seconds between a watcher's renewals of its presence
WATCH_TTL = 15.0          # a watcher not renewed for this long counts as gone
REPLY_TTL = 60            # seconds an unread reply waits
MAX_FILTER = 1000         # the longest capture filter accepted (characters)
ID_PATTERN = re.compile(r"^[0-9a-f]{16}$")
TARGET_PATTERN = re.compile(r"^([a-z][a-z0-9-]{0,30}):([a-zA-Z][a-zA-Z0-9_.-]{0,14})$")  # the schema's names
RECORD_FIELDS = ("id", "topology", "lab", "node", "interface", "filter", "user", "queue", "state", "reason",
                 "started", "ended", "packets", "bytes", "kernel_dropped", "limits")


def key(site: str, *parts) -> str:
    """A key of the captures of ``site``: ``topolab:<site>:capture:<part>:<part>...``."""
    return ":".join([f"topolab:{site}:capture", *(str(p) for p in parts)])


def requests_key(site: str, queue: str) -> str:
    """The list the capture service of the host serving ``queue`` (a lab's Celery queue) takes requests from."""
    return key(site, "requests", queue)


def live_channel(site: str, capture_id: str) -> str:
    """The pub/sub channel of a capture's rows and end."""
    return key(site, capture_id, "live")


def parse_target(target) -> tuple[str, str] | None:
    """("c1", "eth0") of ``"c1:eth0"`` (a node and one of its interfaces, as a link end is named), or None."""
    found = TARGET_PATTERN.match(target) if isinstance(target, str) else None
    return (found.group(1), found.group(2)) if found else None
