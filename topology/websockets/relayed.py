"""What the console and logs websockets share (web side, unprivileged): access, the relay handshake,
pacing, heartbeats and the end.

``/ws/topologies/<id>/nodes/<name>/console[?cols=C&rows=R&session=TOKEN&flow=1]``: a shell.
``/ws/topologies/<id>/nodes/<name>/console?mode=watch|control[&flow=1]``: a supervisor's view of the
student's open console (:mod:`.console`).
``/ws/topologies/<id>/nodes/<name>/logs[?flow=1]``: the container's own output, from the start.

The browser sends JSON text frames ``{"type": "input", "data": "..."}``,
``{"type": "resize", "cols": 120, "rows": 40}`` and, when it asked for
``flow=1``, ``{"type": "ack", "bytes": N}`` (output bytes it has processed on
this connection; the server never has more than ``WINDOW`` bytes unacknowledged,
so a flood cannot pile up in the page). It receives the terminal's bytes as
binary frames and the server's news as JSON text frames
``{"type": "status", "state": "open" | "dropped" | "closed" | "error", "message": "..."}``;
"open" also carries the console's ``session`` token and whether it ``resumed`` (a watcher's
carries its ``mode`` instead, and no token). The student's console also gets
``{"type": "status", "state": "joined", "message": "...", "by": <id>, "mode": "watch" | "control"}``
when a supervisor joins it, and ``{"type": "status", "state": "left", "message": "...", "by": <id>}``
when they leave (``by`` pairs the two).

A console survives a dropped connection: closing with code 1000 ends the
shell; any other end of the connection leaves it running on the host for a
minute, and reconnecting with ``session=TOKEN`` gets it back with what it
printed meanwhile.

A user may have ``settings.TOPOLAB_MAX_TERMINALS_PER_USER`` terminals open at
once (consoles, logs and watches together, in every web process:
:mod:`.terminals`; a dropped console counts while its shell waits, and
resuming it does not count again). One more is told
``"you have N terminals open; close one first"`` and closed with 4429, before
the relay is asked for anything.

Only the topology's owner gets a console; a supervisor
(:func:`topology.courses.supervises`) gets the logs and the watch modes of a
console, and the owner does not get those modes (anybody else: close 4403, as
for the lab's websocket). A user who must change their one-time password is
told so (``"change your password first"``) and closed with 4403, on connecting
and at the next heartbeat. The node is resolved to its container here, from the
database; the browser never names one. The shell itself runs in the root
relay (:mod:`topology.relay`), reached through the channel layer only.

Every ``TOPOLAB_HEARTBEAT`` seconds each open terminal renews its place in the count, pings the relay
(unless traffic went both ways since the last heartbeat) and is re-checked: signed in, no password to
change, lab and node running, a supervisor still one. One heartbeat per web process does that for all its
terminals at once (:mod:`.heartbeat`: one Redis pipeline, one database call), so it costs a class of
consoles what it costs one, and no keystroke waits behind 60 separate re-checks.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from redis import RedisError

from ..models import LIVE_STATES, Lab, LabNode, LabState, NodeStatus
from ..relay import ACK_EVERY, KEEP_DETACHED, LAYER, SILENCE, channel_name
from . import heartbeat, terminals
from .access import (
    CHANGE_PASSWORD,
    FORBIDDEN,
    SUPERVISOR,
    chunks,
    display_name,
    ended_sessions,
    lab_and_role,
    must_change_password,
    must_change_passwords,
)

NOT_AVAILABLE = 4409  # close code: the node has no console now (lab or node not running, no relay)
ENDED = 1000          # close code: the console ended (shell exited, node stopped, lab destroyed)
TOO_MANY = 4429       # close code: the user has TOPOLAB_MAX_TERMINALS_PER_USER terminals open already
# (and FORBIDDEN, 4403, from .access: not this user's terminal, or they must change their password)
NO_RELAY = "the console relay of this lab's host is not answering"
NO_COUNT = "open terminals cannot be counted now (Redis is not answering); try again in a moment"
PASSWORD = object()   # _target's answer for a user who must change their password first
# The messages of a terminal's life, many a second (keystrokes, output and the relay's news): their handlers
# never touch the database (see RelayedTerminalConsumer.dispatch).
NO_DATABASE = frozenset({"websocket.receive", "console.output", "console.status", "console.pong", "console.opened"})

log = logging.getLogger(__name__)


class RelayedTerminalConsumer(AsyncWebsocketConsumer):
    """What consoles and logs share: authorization, the relay handshake, pacing, heartbeats, the end."""

    channel_layer_alias = LAYER
    open_kind = ""           # the relay's "open" message type
    open_timeout = 10.0      # seconds to wait for the relay's answer
    heartbeat: float | None = None  # seconds between pings and re-checks; None: settings.TOPOLAB_HEARTBEAT

    relay: str | None = None
    session: str | None = None
    ended = False
    role: str | None = None
    mode = ""                # "" (the owner's own terminal), or one of relay.WATCH_MODES (a supervisor's)
    owner_name = user_name = ""
    slot: terminals.TerminalSlot | None = None  # this terminal's place in its user's count
    pulse: heartbeat.Pulse | None = None         # the heartbeat it shares with the process's other terminals
    told_at = 0.0            # when a message last went to the relay's session (monotonic)

    async def connect(self) -> None:
        kwargs = self.scope["url_route"]["kwargs"]
        self.node = kwargs["node"]
        self.query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        self.flow = self._param("flow") == "1"   # the client acknowledges what it processed
        self.delivered = self.acked = 0          # output bytes sent to the client; acknowledged to the relay
        self.last_heard = time.monotonic()
        self.tasks: list[asyncio.Task] = []
        self.pending: list[dict] = []
        self.mode = self._param("mode")
        self.topology_id = kwargs["topology_id"]
        target = await self._target(self.scope.get("user"), self.topology_id, self.node)
        await self.accept()
        if target is None:
            await self.close(code=FORBIDDEN)
            return
        if target is PASSWORD:
            await self._end("error", CHANGE_PASSWORD, FORBIDDEN)
            return
        if isinstance(target, str):
            await self._end("error", target, NOT_AVAILABLE)
            return
        self.lab_id, queue, container = target
        try:
            self.slot = await asyncio.to_thread(terminals.take, self.scope["user"].pk, self._lifetime(),
                                                self.resume_token())
        except terminals.TooManyTerminals as refusal:
            await self._end("error", refusal.message, TOO_MANY)
            return
        except RedisError:
            log.exception("cannot count the open terminals of user %s", self.scope["user"].pk)
            await self._end("error", NO_COUNT, NOT_AVAILABLE)
            return
        self.relay = channel_name(self._site(), queue)
        await self.channel_layer.send(self.relay, {
            "type": self.open_type(), "reply": self.channel_name, "lab": self.lab_id, "node": self.node,
            "container": container, "deadline": time.time() + self.open_timeout, **self.open_options()})
        self.tasks = [asyncio.create_task(self._expire())]
        self.pulse = heartbeat.join(self, self._period(), _beat)

    def open_type(self) -> str:
        """The relay's "open" message type for this connection."""
        return self.open_kind

    def open_options(self) -> dict:
        return {}

    def resume_token(self) -> str:
        """The session token of the console this connection resumes (it takes that console's place in the
        user's count), or ""."""
        return ""

    def token_of(self, message: dict) -> str:
        """The session token that names this terminal's place once the relay's "opened" ``message`` came, or ""."""
        return ""

    def kept_after(self, code) -> bool:
        """Whether the relay keeps this terminal running after the browser's connection ends with ``code``."""
        return False

    def allowed(self, role: str, mode: str) -> bool:
        """Whether a user of ``role`` (access.OWNER or SUPERVISOR) may open this socket in ``mode``: both may
        follow a node's output (read-only)."""
        return True

    async def dispatch(self, message) -> None:
        """Handle ``message``. Channels first closes stale database connections before every handler, a trip
        to the process's one database thread per message that waits behind whatever runs there (a page's
        view, a heartbeat's re-check): for a keystroke and its echo, that wait was most of the tail latency.
        The handlers of :data:`NO_DATABASE` never touch the database (this consumer reads it only through
        ``database_sync_to_async``, which closes stale connections around each call itself), so they skip it."""
        handler = getattr(self, get_handler_name(message), None) if message.get("type") in NO_DATABASE else None
        if handler is None:
            await super().dispatch(message)
        else:
            await handler(message)

    async def disconnect(self, code) -> None:
        for task in self.tasks:
            task.cancel()
        self._leave_pulse()
        if self.slot is not None:
            if self.session is not None and not self.ended and self.kept_after(code):
                # A dropped console's shell waits on the relay: it counts until it can no longer be resumed.
                await self._slot_call(self.slot.renew, KEEP_DETACHED + 5)
            else:
                await self._slot_call(self.slot.release)
        if self.ended or self.relay is None:
            return
        self.ended = True
        if self.session:
            await self._to_session(self.leave_message(code))
        else:
            await self.channel_layer.send(self.relay, {"type": "console.cancel", "reply": self.channel_name})

    def leave_message(self, code) -> dict:
        """What to tell the relay when the browser's connection ends with ``code``."""
        return {"type": "console.close"}

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        """Acknowledgements from the browser; subclasses add input."""
        message = self._json(text_data)
        if message and message.get("type") == "ack" and self.flow:
            try:
                count = int(message.get("bytes"))
            except (TypeError, ValueError):
                return
            await self._ack(min(count, self.delivered))

    # -- from the relay ------------------------------------------------------------------------

    async def console_opened(self, message: dict) -> None:
        if self.ended:
            return
        self.session = message["session"]
        self.last_heard = time.monotonic()
        self.delivered = self.acked = 0
        token = self.token_of(message)
        if token and self.slot is not None:
            await self._slot_call(self.slot.rekey, token)
        await self.send(text_data=json.dumps(self.opened_status(message)))
        pending, self.pending = self.pending, []
        for item in pending:
            await self._to_session(item)

    def opened_status(self, message: dict) -> dict:
        return {"type": "status", "state": "open", "message": "connected"}

    async def console_output(self, message: dict) -> None:
        self.last_heard = time.monotonic()
        if self.ended:
            return
        data = message["data"]
        await self.send(bytes_data=data)
        self.delivered += len(data)
        if not self.flow and self.delivered - self.acked >= ACK_EVERY:
            await self._ack(self.delivered)  # the client does not pace itself: pace by what we sent

    async def console_status(self, message: dict) -> None:
        self.last_heard = time.monotonic()
        if self.ended:
            return
        state, text = message.get("state", "error"), message.get("message", "")
        if state in ("closed", "error"):
            self.session = None
            await self._end(state, text, ENDED if state == "closed" else NOT_AVAILABLE)
        else:
            extra = {k: message[k] for k in ("by", "mode") if k in message}  # "joined", "left": who
            await self.send(text_data=json.dumps({"type": "status", "state": state, "message": text, **extra}))

    async def console_pong(self, message: dict) -> None:
        self.last_heard = time.monotonic()

    # -- helpers -------------------------------------------------------------------------------

    def _param(self, name: str, default: str = "") -> str:
        return (self.query.get(name) or [default])[0]

    @staticmethod
    def _json(text_data) -> dict | None:
        if text_data is None:
            return None
        try:
            message = json.loads(text_data)
        except ValueError:
            return None
        return message if isinstance(message, dict) else None

    async def _ack(self, count: int) -> None:
        if count > self.acked:
            self.acked = count
            await self._to_session({"type": "console.ack", "bytes": count})

    async def _to_session(self, message: dict) -> None:
        if self.session is None:
            # Typed before the relay answered: sent once it does (a few, never an unbounded queue).
            if message.get("type") in ("console.input", "console.resize") and len(self.pending) < 100:
                self.pending.append(message)
            return
        await self.channel_layer.send(self.session, {**message, "reply": self.channel_name})
        self.told_at = time.monotonic()

    async def _expire(self) -> None:
        await asyncio.sleep(self.open_timeout)
        if self.session is None and not self.ended:
            await self.channel_layer.send(self.relay, {"type": "console.cancel", "reply": self.channel_name})
            await self._end("error", NO_RELAY, NOT_AVAILABLE)

    def _period(self) -> float:
        """Seconds between heartbeats: pings to the relay, re-checks, renewals of the place in the count."""
        from django.conf import settings

        return float(self.heartbeat or settings.TOPOLAB_HEARTBEAT)

    def _leave_pulse(self) -> None:
        if self.pulse is not None:
            self.pulse.leave(self)
            self.pulse = None

    def _needs_ping(self, now: float) -> bool:
        """Whether the relay's session should be pinged at this heartbeat. Not when, within the last period,
        this side sent it something (any message tells the relay this consumer is there) and heard from it
        (any message tells this side the relay is): the ping would say nothing new."""
        period = self._period()
        return now - self.told_at >= period or now - self.last_heard >= period

    def _lifetime(self) -> float:
        """Seconds a place in the count lives unless renewed: a few heartbeats (and the wait for the relay)."""
        from django.conf import settings

        return 3 * (self.heartbeat or settings.TOPOLAB_HEARTBEAT) + self.open_timeout

    async def _slot_call(self, method, *args):
        try:
            return await asyncio.to_thread(method, *args)
        except RedisError as exc:  # a blip: the place lapses by itself, or the next heartbeat renews it
            log.warning("terminal count of user %s: %s", self.slot.user if self.slot else "?", exc)
            return None

    async def _take_place_again(self) -> None:
        """This terminal's place lapsed or was taken over (its renewal said so): it counts again, if the user
        still may have one more; else it ends."""
        if self.slot is None or self.ended:
            return
        try:
            self.slot = await asyncio.to_thread(terminals.take, self.slot.user, self._lifetime())
        except terminals.TooManyTerminals as refusal:
            self.slot = None
            await self._end("error", refusal.message, TOO_MANY)
        except RedisError:
            pass  # the next heartbeat tries again

    async def _end(self, state: str, message: str, code: int) -> None:
        self.ended = True
        self._leave_pulse()
        if self.slot is not None:  # freed at once: the user may open another while this one closes
            await self._slot_call(self.slot.release)
        if self.session:  # ended from this side: the relay's session must end too
            await self._to_session({"type": "console.close"})
            self.session = None
        await self.send(text_data=json.dumps({"type": "status", "state": state, "message": message}))
        await self.close(code=code)

    @staticmethod
    def _site() -> str:
        from django.conf import settings

        return settings.TOPOLAB_SITE

    @database_sync_to_async
    def _target(self, user, topology_id: int, node: str):
        """None (forbidden), PASSWORD, a reason the node has no terminal (str), or (lab id, queue, container id)."""
        found = lab_and_role(user, topology_id)
        if found is None or not self.allowed(found[1], self.mode):
            return None
        if must_change_password(user):
            return PASSWORD
        lab, self.role = found
        self.owner_name, self.user_name = display_name(lab.topology.owner), display_name(user)
        if lab.state not in LIVE_STATES:  # a degraded lab's other nodes still run
            return f"the lab is {lab.state}, not running"
        row = LabNode.objects.filter(lab=lab, name=node).values_list("state", "container_id").first()
        if row is None:
            return f"the lab has no node '{node}'"
        state, container = row
        if state != NodeStatus.RUNNING or not container:
            return f"node '{node}' is {state}, not running"
        return lab.pk, lab.queue, container

    def _verdict(self, facts: "_Facts") -> tuple[str, int] | None:
        """Why this terminal must end, and its close code (the user signed out or must change their password,
        the lab was destroyed, the node stopped, a supervisor no longer is one), or None; from ``facts`` read
        for every terminal of the heartbeat at once (the supervisor's check alone is this terminal's own)."""
        session, user = self.scope.get("session"), self.scope.get("user")
        if session is not None and session.session_key in facts.ended_sessions:
            return "you signed out", ENDED
        if user is not None and user.is_authenticated and user.pk in facts.must_change_password:
            return CHANGE_PASSWORD, FORBIDDEN
        lab = facts.labs.get(self.lab_id)
        if lab not in LIVE_STATES:
            return ("the lab was destroyed" if lab in (None, LabState.STOPPED, LabState.DESTROYING)
                    else f"the lab is {lab}"), ENDED
        state = facts.node_states.get((self.lab_id, self.node))
        if state != NodeStatus.RUNNING:
            return {NodeStatus.EXITED: "the node exited", NodeStatus.GONE: "the node's container is gone"}.get(
                state, "the node stopped"), ENDED
        if self.role == SUPERVISOR:
            found = lab_and_role(user, self.topology_id)
            if found is None or found[1] != SUPERVISOR:
                return "you no longer look after this topology", FORBIDDEN
        return None


class _Facts:
    """What a heartbeat reads for all its terminals: a few queries whatever their number."""

    def __init__(self, consumers: list[RelayedTerminalConsumer]):
        self.ended_sessions = ended_sessions([c.scope.get("session") for c in consumers])
        users = [c.scope["user"] for c in consumers if c.scope.get("user") is not None]
        self.must_change_password = must_change_passwords(u.pk for u in users if u.is_authenticated)
        lab_ids = sorted({c.lab_id for c in consumers})
        self.labs: dict[int, str] = {}
        self.node_states: dict[tuple[int, str], str] = {}
        for part in chunks(lab_ids):
            self.labs.update(Lab.objects.filter(pk__in=part).values_list("pk", "state"))
            self.node_states.update(((lab, name), state) for lab, name, state in
                              LabNode.objects.filter(lab_id__in=part).values_list("lab_id", "name", "state"))


@database_sync_to_async
def _verdicts(consumers: list[RelayedTerminalConsumer]) -> list[tuple[str, int] | None]:
    """Each terminal's :meth:`~RelayedTerminalConsumer._verdict`, in order, from one database thread call."""
    facts = _Facts(consumers)
    return [consumer._verdict(facts) for consumer in consumers]


async def _beat(consumers: list[RelayedTerminalConsumer]) -> None:
    """One heartbeat of a process's open terminals (:mod:`.heartbeat`): renew their places in their users'
    counts (one Redis round trip), ping the relay where nothing else told it this terminal is there, re-check
    each may go on (one database call) and end those that may not, or whose relay went silent.

    The relay says "closed" itself when a node stops; the re-check is the safety net for when it cannot (it
    crashed, or Redis lost the message), and the only guard of a sign-out or a supervisor no longer one.
    """
    placed = [c for c in consumers if c.slot is not None and not c.ended]
    if placed:
        try:
            kept = await asyncio.to_thread(terminals.renew_all, [(c.slot, c._lifetime()) for c in placed])
        except RedisError as exc:  # a blip: the places lapse by themselves, or the next heartbeat renews them
            log.warning("terminal counts of %d terminals: %s", len(placed), exc)
            kept = [True] * len(placed)
        for consumer, still in zip(placed, kept, strict=True):
            if not still:
                await _each(consumer, consumer._take_place_again())
    opened = [c for c in consumers if c.session is not None and not c.ended]
    if not opened:
        return
    now = time.monotonic()
    for consumer in opened:
        if consumer._needs_ping(now):
            await _each(consumer, consumer._to_session({"type": "console.ping"}))
    verdicts = await _verdicts(opened)
    for consumer, problem in zip(opened, verdicts, strict=True):
        if consumer.ended:
            continue
        if problem:
            await _each(consumer, consumer._end("closed", *problem))
        elif time.monotonic() - consumer.last_heard > SILENCE:
            await _each(consumer, consumer._end("error", NO_RELAY, NOT_AVAILABLE))


async def _each(consumer: RelayedTerminalConsumer, step) -> None:
    """One terminal's part of a heartbeat: its failure is its own, the others' go on."""
    try:
        await step
    except (OSError, RedisError) as exc:
        log.warning("heartbeat of a terminal on %s: %s", consumer.node, exc)
    except Exception:
        log.exception("heartbeat of a terminal on %s", consumer.node)
