"""The console relay: a root process that opens ``docker exec`` TTY sessions (and follows
containers' logs) and pumps their bytes through the channel layer to the
unprivileged web consumers in :mod:`topology.websockets`.

This package's ``__init__`` is imported by the web tier for the protocol only;
it must never import docker (the relay's own code is in :mod:`.server`).

The channel layer is :data:`LAYER` (Redis pub/sub, msgpack: bytes travel as
bytes). Pub/sub and not channels_redis's list-based layer because the latter
can lose a message meant for one consumer when another consumer of the same
process is cancelled mid-receive (a websocket closing): a console whose
"closed" message is lost never closes. Pub/sub has no back-pressure of its
own, so output is paced by credit instead: the relay never has more than
:data:`WINDOW` bytes sent and not acknowledged.

web -> relay, on the host's relay channel (:func:`channel_name`)::

    {"type": "console.open", "reply": <consumer channel>, "lab": <id>, "node": <name>,
     "container": <id>, "cols": 80, "rows": 24, "deadline": <unix time>, "resume": <token or "">,
     "program": "shell" | "vtysh", "replay": bool}
    {"type": "logs.open", "reply": ..., "lab": ..., "node": ..., "container": ..., "deadline": ...}
    {"type": "console.watch", "reply": ..., "lab": ..., "node": ..., "container": ..., "deadline": ...,
     "mode": "watch" | "control", "name": <the watcher's name>, "owner": <the student's name>}
    {"type": "console.cancel", "reply": <consumer channel>}      # the browser left before "opened"

"program" picks what the console runs, from :data:`PROGRAMS` only (anything else is the shell): the node's
login shell, or FRR's ``vtysh`` (the editor offers it on frr nodes; in another image it is not there and the
console says it could not open). A session resumes only with the program it runs.

"replay" (with "resume"): the window's terminal is new and empty (a console popped out of the editor's dock,
or back into it, or a page reloaded), so a resumed session sends its latest :data:`RECENT_OUTPUT` bytes
first (its screen and scrollback as printed, colours and all), in place of the output held for the client
that left; without it, a resume (a reconnect after a lost connection) sends only what was printed meanwhile.

"console.watch" (a supervisor, :data:`WATCH_MODES`) never starts a shell: it joins the console
session already open on that container (the most recently active one), or is told
``{"state": "closed", "message": "<owner> has no console open on <node>"}``. A watcher gets
"opened" (with no token: a watcher can never resume, i.e. take, the student's session), then
the session's latest :data:`RECENT_OUTPUT` bytes, then its output live, from a buffer of its
own (:data:`WATCH_BUFFER`): a watcher that falls behind loses the oldest output and is told
"dropped"; the student's shell never waits for it. Its input counts only in "control" mode; its
resizes never (the student's window sizes the terminal). Its "close" or "detach" is only its
own leaving. When the session ends, every watcher is told "closed" with why ("the student
closed this console", "the node stopped", ...).

relay -> web, on the consumer's channel::

    {"type": "console.opened", "session": <session channel>, "token": <token>, "resumed": bool}
    {"type": "console.output", "data": b"..."}                   # at most OUTPUT_BATCH bytes
    {"type": "console.status", "state": "dropped" | "closed" | "error", "message": "..."}
    {"type": "console.status", "state": "joined", "message": "<name> is watching your console" (watch) |
     "<name> joined your console and can type" (control), "by": <watcher id>, "mode": "watch" | "control"}
    {"type": "console.status", "state": "left", "message": "<name> left your console", "by": <watcher id>}
    {"type": "console.pong"}

"joined" reaches the session's own consumer before the watcher is told "opened" (so before any
of the watcher's input can be accepted), and again to a consumer that attaches later while the
watcher stays; "left" when the watcher goes (it closed, detached or went silent).

web -> relay, on the session's channel; every message carries "reply" (the
consumer's channel), and the relay ignores messages from a consumer that is not
the session's current one (a window that lost the session to a reconnect) or one of its
watchers::

    {"type": "console.input", "data": "..."}
    {"type": "console.resize", "cols": 120, "rows": 40}
    {"type": "console.ack", "bytes": <output bytes delivered to this consumer's client so far>}
    {"type": "console.ping"}        # each heartbeat (TOPOLAB_HEARTBEAT s) without traffic both ways since the last
    {"type": "console.detach"}      # the connection dropped: keep the shell KEEP_DETACHED seconds
    {"type": "console.close"}       # the user closed the console: end the shell now
"""
from __future__ import annotations

import asyncio
import re

LAYER = "consoles"                # the CHANNEL_LAYERS alias of consoles and logs
OUTPUT_BATCH = 64 * 1024          # the most bytes in one output message (one websocket frame)
WINDOW = 512 * 1024               # the most output bytes sent and not yet acknowledged
ACK_EVERY = 128 * 1024            # acknowledge at least this often (bytes); must stay below WINDOW
SESSION_BUFFER = 1024 * 1024      # output a session holds for a slow or absent client; beyond it the oldest goes
MAX_INPUT = 64 * 1024             # the most characters of one input message
MAX_SIZE = 1000                   # the largest cols or rows accepted
SILENCE = 35.0                    # seconds without a word after which either side counts the other gone
                                  # (consumers ping every settings.TOPOLAB_HEARTBEAT seconds, 10 by default)
RECENT_OUTPUT = 64 * 1024         # the latest output a session keeps for a watcher who joins (the screen, about)
WATCH_BUFFER = 256 * 1024         # output held for one watcher; beyond it the oldest goes (it never slows the shell)
WATCH_MODES = ("watch", "control")  # a supervisor's ways of joining a student's console: look only, or type too
KEEP_DETACHED = 60.0              # seconds a shell waits for its client to come back
SHELL_ARGV = ["/bin/sh", "-c", "if [ -x /bin/bash ]; then exec /bin/bash -l; else exec /bin/sh -l; fi"]
PROGRAMS = {"shell": SHELL_ARGV, "vtysh": ["vtysh"]}  # what a console may run (argv, never a user's string)


def program_argv(program) -> list[str]:
    """The argv of a console's ``program`` (the shell for anything not in :data:`PROGRAMS`)."""
    return list(PROGRAMS.get(program, SHELL_ARGV)) if isinstance(program, str) else list(SHELL_ARGV)


def clamp_size(value, default: int) -> int:
    """A terminal's columns or rows as asked for, within 1..MAX_SIZE; ``default`` when it is no number."""
    try:
        return max(1, min(MAX_SIZE, int(value)))
    except (TypeError, ValueError):
        return default


def channel_name(site: str, queue: str) -> str:
    """The channel the relay of the host serving ``queue`` (a lab's Celery queue) listens on."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"relay.{site}.{queue}")[:90]


PROBE = "relay.probe"             # the type of the messages :func:`subscribe` sends itself; receivers skip them


async def subscribe(layer, channel: str) -> list[dict]:
    """Subscribe to ``channel`` of a pub/sub layer and return once the subscription is live.

    A message published before the subscription reaches nobody, so a listener
    that others will send to must not say it is ready earlier. Returns the
    messages (other than probes) that arrived meanwhile; probes still in flight
    arrive later, typed :data:`PROBE`, to be skipped.
    """
    receiving = asyncio.ensure_future(layer.receive(channel))
    while not receiving.done():
        await layer.send(channel, {"type": PROBE})
        await asyncio.wait({receiving}, timeout=0.1)
    message = receiving.result()
    return [] if message.get("type") == PROBE else [message]
