"""The console relay: a root process that opens ``docker exec`` TTY sessions and pumps their bytes
through the channel layer to the (unprivileged) web consumer, :class:`topology.console.ConsoleConsumer`.

This package's ``__init__`` is imported by the web tier for the protocol only;
it must never import docker (the relay's own code is in :mod:`.server`).

The protocol, over the Channels layer (msgpack, so bytes travel as bytes):

web -> relay, on the host's relay channel (:func:`channel_name`)::

    {"type": "console.open", "reply": <consumer channel>, "lab": <id>, "node": <name>,
     "container": <id>, "cols": 80, "rows": 24, "deadline": <unix time>}
    {"type": "console.cancel", "reply": <consumer channel>}      # the browser left before "opened"

relay -> web, on the consumer's channel::

    {"type": "console.opened", "session": <session channel>}
    {"type": "console.output", "data": b"..."}                   # at most OUTPUT_BATCH bytes
    {"type": "console.status", "state": "dropped" | "closed" | "error", "message": "..."}

web -> relay, on the session's channel::

    {"type": "console.input", "data": "..."}
    {"type": "console.resize", "cols": 120, "rows": 40}
    {"type": "console.close"}
"""
from __future__ import annotations

import re

OUTPUT_BATCH = 64 * 1024          # the most bytes in one output message (one websocket frame)
SESSION_BUFFER = 1024 * 1024      # output a session holds for a slow client; beyond it the oldest is dropped
MAX_INPUT = 64 * 1024             # the most characters of one input message
MAX_SIZE = 1000                   # the largest cols or rows accepted
SHELL_ARGV = ["/bin/sh", "-c", "if [ -x /bin/bash ]; then exec /bin/bash -l; else exec /bin/sh -l; fi"]


def channel_name(site: str, queue: str) -> str:
    """The channel the relay of the host serving ``queue`` (a lab's Celery queue) listens on."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"relay.{site}.{queue}")[:90]
