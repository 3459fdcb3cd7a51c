"""The relay process (root): one asyncio loop, a few tasks per console or log session.

It receives IDs, never commands: an "open" names a lab, a node and the
container the web tier resolved; the relay checks the container's own labels
(this site, that lab, that node) and that it runs before it execs the fixed
login shell in it (or follows its log).

A session outlives its websocket: when the connection drops, the consumer
says "detach" (or stops pinging) and the shell keeps running for
``keep_detached`` seconds, its output held in a bounded buffer
(:class:`OutputBuffer`), so that a reconnect with the session's token gets
the same shell and what it printed meanwhile. A slow or absent client loses
the oldest output (and is told so); it never blocks the relay nor grows its
memory. (A full buffer first pauses reading that one shell for up to
:data:`STALL` seconds, so a client that is only briefly behind loses nothing:
the shell waits on its TTY meanwhile.)

A console session may also have watchers (:class:`Watcher`: supervisors joined with
"console.watch"), each with a buffer and pacing of its own, fed beside the session's: a slow
watcher loses output, the student's shell never waits for one.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import time

from channels.layers import get_channel_layer
from redis.exceptions import RedisError

from ..engine import names
from ..engine.docker_runtime import DockerRuntime, RuntimeStepError
from . import (
    KEEP_DETACHED,
    LAYER,
    MAX_INPUT,
    OUTPUT_BATCH,
    RECENT_OUTPUT,
    SESSION_BUFFER,
    SILENCE,
    WATCH_BUFFER,
    WINDOW,
    channel_name,
    clamp_size,
    program_argv,
    subscribe,
)
from .buffer import OutputBuffer, RecentOutput
from .singleton import SingletonLock
from .sources import LogSource, ShellSource

log = logging.getLogger("topology.relay")

STALL = 1.0            # seconds a full session buffer pauses reading its source before dropping the oldest
WATCH_EVERY = 1.0      # seconds between a session's checks for a silent client and for expiry
FLUSH = 5.0            # seconds an ended source waits for its last output to reach the client
SEE_END = 5.0          # seconds a failed write to a shell waits for the reader to see the shell's end
CONTROL = "control"    # the watch mode whose input reaches the shell


class Watcher:
    """A supervisor's consumer joined to a console session: the session's output in a buffer of its own.

    It is fed beside the session's own buffer and paced by its own acknowledgements; when it falls
    more than its buffer behind, it loses the oldest output (and is told so) and the shell goes on.
    """

    def __init__(self, session: "Session", reply: str, mode: str, name: str, limit: int):
        self.session = session
        self.reply = reply
        self.mode = mode
        self.name = name
        self.id = secrets.token_hex(6)     # names it in "joined" and "left" (its channel stays private)
        self.buffer = OutputBuffer(limit)
        self.sent = self.acked = 0
        self.last_heard = time.monotonic()
        self.wake = asyncio.Event()
        self.task: asyncio.Task | None = None

    def feed(self, data: bytes) -> None:
        """Output of the session (never waits: beyond the limit the oldest is dropped)."""
        if data:
            self.buffer.append(data)
            self.wake.set()

    def joined(self) -> dict:
        """The status its session's own consumer gets about it."""
        text = f"{self.name} joined your console and can type" if self.mode == CONTROL \
            else f"{self.name} is watching your console"
        return {"type": "console.status", "state": "joined", "message": text, "by": self.id, "mode": self.mode}

    def left(self) -> dict:
        return {"type": "console.status", "state": "left", "message": f"{self.name} left your console", "by": self.id}

    async def pump(self) -> None:
        """The buffer to the watcher's consumer, never more than WINDOW unacknowledged."""
        layer = self.session.layer
        while True:
            await self.wake.wait()
            self.wake.clear()
            try:
                while len(self.buffer) and self.sent - self.acked < WINDOW:
                    if self.buffer.dropped:
                        await self.session.tell(self.reply, "dropped", f"{self.buffer.take_dropped()} bytes of output "
                                                                       "were dropped: the connection was too slow")
                    start, chunk = self.buffer.peek(min(OUTPUT_BATCH, WINDOW - (self.sent - self.acked)))
                    await layer.send(self.reply, {"type": "console.output", "data": chunk})
                    self.buffer.consume(start + len(chunk))
                    self.sent += len(chunk)
            except (OSError, RedisError) as exc:  # Redis away for a moment: try again at the next output
                log.warning("console %s: cannot reach a watcher (%s)", self.session.channel, exc)


class Session:
    """One console or log: a source in a container, pumped to whichever consumer is attached."""

    def __init__(self, relay: "Relay", request: dict, source):
        self.relay = relay
        self.layer = relay.layer
        self.request = request
        self.source = source
        self.token = secrets.token_urlsafe(18)
        self.key = (str(request.get("lab")), str(request.get("node")), str(request.get("container")))
        self.buffer = OutputBuffer(relay.buffer_limit)
        self.channel: str | None = None
        self.reply: str | None = None     # the attached consumer's channel; None while detached
        self.sent = 0                     # output bytes sent to the attached consumer
        self.acked = 0                    # ... of which its client has acknowledged
        self.last_heard = time.monotonic()
        self.detached_at: float | None = None
        self.wake = asyncio.Event()       # the sender has something to do
        self.drained = asyncio.Event()    # the buffer went below half full
        self.emptied = asyncio.Event()    # the buffer became empty, or its consumer left: nothing to deliver
        self.source_ended = asyncio.Event()  # the reader saw the end of the source
        self.lagging = False
        self.recent = RecentOutput(relay.recent_limit)   # what a watcher who joins sees first
        self.watchers: dict[str, Watcher] = {}           # consumer channel -> supervisor watching
        self.active = time.monotonic()                   # when its own client last attached or typed
        self.ended_by: str | None = None                 # why it ended, for the watchers, when its client ended it
        self.main_pid: int | None = None                 # the container's main process when it opened (see _why_ended)

    # -- talking to the consumer ---------------------------------------------------------------

    async def tell(self, reply: str | None, state: str, message: str) -> None:
        if reply:
            await self.layer.send(reply, {"type": "console.status", "state": state, "message": message})

    async def attach(self, reply: str, resumed: bool) -> None:
        """Make ``reply`` the session's consumer; a consumer attached before is told it lost the session."""
        previous, self.reply = self.reply, None
        if previous and previous != reply:
            await self.tell(previous, "closed", "this console was opened in another window")
        self.sent = self.acked = 0
        self.last_heard, self.detached_at = time.monotonic(), None
        await self.layer.send(reply, {"type": "console.opened", "session": self.channel, "token": self.token,
                                      "resumed": resumed})
        self.reply = reply
        self.active = time.monotonic()
        self.wake.set()
        for watcher in list(self.watchers.values()):  # a window that comes (back) learns who is here
            await self.layer.send(reply, watcher.joined())

    async def add_watcher(self, reply: str, mode: str, name: str) -> None:
        """Join a supervisor's consumer: the student is told first, then the watcher gets "opened",
        the recent output and everything live."""
        watcher = Watcher(self, reply, mode, name, self.relay.watch_limit)
        watcher.feed(self.recent.contents())
        self.watchers[reply] = watcher
        log.info("console %s: a supervisor joins (%s)", self.channel, mode)
        if self.reply:
            await self._quietly(self.layer.send(self.reply, watcher.joined()))
        await self.layer.send(reply, {"type": "console.opened", "session": self.channel, "token": "",
                                      "resumed": False, "mode": mode})
        if self.watchers.get(reply) is watcher:  # not cancelled meanwhile
            watcher.task = asyncio.create_task(watcher.pump())

    async def remove_watcher(self, reply: str, message: str | None = None) -> None:
        """A watcher leaves (told ``message`` when not None); the student is told "left"."""
        watcher = self.watchers.pop(reply, None)
        if watcher is None:
            return
        if watcher.task:
            watcher.task.cancel()
        log.info("console %s: a supervisor left", self.channel)
        if message is not None:
            await self._quietly(self.tell(reply, "closed", message))
        if self.reply:
            await self._quietly(self.layer.send(self.reply, watcher.left()))

    def replay(self) -> None:
        """Put the session's latest output (:class:`RecentOutput`: about its screen and scrollback) in place of
        what the buffer held, for a window whose terminal is new and empty (a pop-out, a reload). The
        kept output is cut at a line's start when older output was already forgotten."""
        recent = self.recent.contents()
        if self.recent.size > len(recent) and b"\n" in recent:
            recent = recent[recent.index(b"\n") + 1:]
        self.buffer.consume(self.buffer.start + len(self.buffer))
        self.buffer.take_dropped()  # what was dropped is older than what comes now
        self.buffer.append(recent)

    def detach(self) -> None:
        if self.reply is not None:
            log.info("%s %s detached: keeping it %.0f s", self.source.kind, self.channel,
                     self.relay.keep_detached)
            self.reply, self.detached_at = None, time.monotonic()
            self.emptied.set()  # nobody to deliver the rest to

    # -- the session's life ----------------------------------------------------------------------

    async def run(self) -> None:
        reply = self.request["reply"]
        tasks: list[asyncio.Task] = []
        reason: str | None = None
        try:
            problem = await self.relay.check(self.request)
            if problem:
                await self.tell(reply, "error", problem)
                return
            try:
                early = await self.source.open()
                self.main_pid = await asyncio.to_thread(self.relay.runtime.pid, self.key[2])
            except RuntimeStepError as exc:
                await self.tell(reply, "error", str(exc))
                return
            self.buffer.append(early)
            self.recent.append(early)
            self.channel = await self.layer.new_channel("relay-session.")
            if self.relay.cancelled.pop(reply, False):
                return  # the browser left while the shell was starting
            self.relay.sessions[self.token] = self
            await self.attach(reply, resumed=False)
            log.info("%s %s open: lab %s node %s", self.source.kind, self.channel, *self.key[:2])
            tasks = [asyncio.create_task(coro) for coro in (self._read(), self._send(), self._control(),
                                                             self._watch())]
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            reason = next(iter(done)).result()
        except Exception:  # a session's failure must never end the relay
            log.exception("%s session failed", self.source.kind)
            await self._quietly(self.tell(self.reply or reply, "error", f"the {self.source.kind} failed on the host"))
        finally:
            self.relay.sessions.pop(self.token, None)
            watchers, self.watchers = list(self.watchers.values()), {}
            for task in tasks + [w.task for w in watchers if w.task]:
                task.cancel()
            await asyncio.gather(*tasks, *[w.task for w in watchers if w.task], return_exceptions=True)
            await self.source.close()
            if self.channel:
                log.info("%s %s closed%s", self.source.kind, self.channel, f": {reason}" if reason else "")
            for watcher in watchers:
                await self._quietly(self.tell(watcher.reply, "closed", reason or self.ended_by or "the console ended"))
        if reason:
            await self._quietly(self.tell(self.reply, "closed", reason))

    async def end(self, message: str) -> None:
        """Say ``message`` to the attached consumer and the watchers, and end the session (the relay is stopping)."""
        await self._quietly(self.tell(self.reply, "closed", message))
        for reply in list(self.watchers):
            watcher = self.watchers.pop(reply)
            if watcher.task:
                watcher.task.cancel()
            await self._quietly(self.tell(reply, "closed", message))
        self.reply = None
        self.emptied.set()

    @staticmethod
    async def _quietly(coro) -> None:
        try:
            await coro
        except (OSError, RedisError) as exc:
            log.warning("cannot reach a consumer: %s", exc)

    # -- the four tasks; the first to return ends the session, with its reason (None: say nothing) --

    async def _read(self) -> str:
        """Source output into the buffer, as fast as the client takes it; returns at the end."""
        while True:
            if len(self.buffer) > self.buffer.limit - OUTPUT_BATCH and not self.lagging:
                # Nearly full: give the client a moment to catch up (the shell waits on its TTY
                # meanwhile); a client still behind after that loses the oldest output instead,
                # until it has caught up with half the buffer.
                self.drained.clear()
                try:
                    await asyncio.wait_for(self.drained.wait(), STALL)
                except asyncio.TimeoutError:
                    self.lagging = True
            data = await self.source.read()
            if not data:
                break
            self.buffer.append(data)
            self.recent.append(data)
            for watcher in self.watchers.values():
                watcher.feed(data)
            self.wake.set()
        self.source_ended.set()
        # Let the sender deliver the last output before the session ends (for up to FLUSH seconds).
        try:
            await asyncio.wait_for(self._delivered(), FLUSH)
        except asyncio.TimeoutError:
            pass
        return await self._why_ended()

    async def _delivered(self) -> None:
        """Return once the buffer is empty or no consumer is attached (the sender sets ``emptied``)."""
        while len(self.buffer) and self.reply:
            self.emptied.clear()
            await self.emptied.wait()

    async def _why_ended(self) -> str:
        running = True
        for _ in range(10):  # a container being removed kills its execs a moment before it stops
            found = await asyncio.to_thread(self.relay.runtime.labels_and_running, self.key[2])
            running = bool(found and found[1])
            if not running:
                break
            # A node restarted at once runs again by now, under another main process: the shell ended with it.
            if self.main_pid is not None and await asyncio.to_thread(self.relay.runtime.pid, self.key[2]) != self.main_pid:
                running = False
                break
            await asyncio.sleep(0.1)
        if not running:
            return "the node stopped"
        return "the shell ended" if self.source.kind == "console" else "the node's output ended"

    async def _send(self) -> None:
        """The buffer to the attached consumer, in batches, never more than WINDOW unacknowledged."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.reply and len(self.buffer) and self.sent - self.acked < WINDOW:
                reply = self.reply
                if self.buffer.dropped:
                    dropped = self.buffer.take_dropped()
                    await self.tell(reply, "dropped", f"{dropped} bytes of output were dropped: "
                                                      "the connection was too slow or away")
                start, chunk = self.buffer.peek(min(OUTPUT_BATCH, WINDOW - (self.sent - self.acked)))
                try:
                    await self.layer.send(reply, {"type": "console.output", "data": chunk})
                except (OSError, RedisError) as exc:
                    # Redis away for a moment (restarted): the output stays buffered and goes once it is
                    # back; ending the session would lose the shell (tests/drills/test_restarts.py).
                    log.warning("%s %s: cannot deliver its output (%s); retrying", self.source.kind, self.channel, exc)
                    await asyncio.sleep(1)
                    self.wake.set()
                    break
                self.buffer.consume(start + len(chunk))
                self.sent += len(chunk)
                if len(self.buffer) < self.buffer.limit // 2:
                    self.lagging = False
                    self.drained.set()
                if not len(self.buffer):
                    self.emptied.set()

    async def _control(self) -> None:
        """Input, resize, acknowledgements, pings, detach and close from the attached consumer."""
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except (OSError, RedisError) as exc:
                log.warning("%s %s: cannot read its channel (%s); retrying", self.source.kind, self.channel, exc)
                await asyncio.sleep(1)
                continue
            watcher = self.watchers.get(message.get("reply"))
            if watcher is not None:
                await self._from_watcher(watcher, message)
                continue
            if self.reply is None or message.get("reply") != self.reply:
                continue  # from a window that is not (or no longer) this session's
            self.last_heard = time.monotonic()
            kind = message.get("type")
            if kind == "console.input" and self.source.writable:
                data = message.get("data")
                if isinstance(data, str) and data:
                    self.active = self.last_heard
                    if not await self.source.write(data[:MAX_INPUT].encode("utf-8", "replace")):
                        # The shell is gone: the reader will see the end and say so. Hold the rest
                        # of the input until it has (SEE_END seconds at most).
                        try:
                            await asyncio.wait_for(self.source_ended.wait(), SEE_END)
                        except asyncio.TimeoutError:
                            pass
            elif kind == "console.resize":
                await self.source.resize(clamp_size(message.get("cols"), 80), clamp_size(message.get("rows"), 24))
            elif kind == "console.ack":
                try:
                    acked = int(message.get("bytes"))
                except (TypeError, ValueError):
                    continue
                self.acked = max(self.acked, min(acked, self.sent))
                self.wake.set()
            elif kind == "console.ping":
                await self._quietly(self.layer.send(self.reply, {"type": "console.pong"}))  # it pings again
            elif kind == "console.detach":
                self.detach()
            elif kind == "console.close":
                self.ended_by = "the student closed this console"
                return None

    async def _from_watcher(self, watcher: Watcher, message: dict) -> None:
        """A watcher's message: input only in control mode, never a resize; its close is its leaving."""
        watcher.last_heard = time.monotonic()
        kind = message.get("type")
        if kind == "console.input" and watcher.mode == CONTROL and self.source.writable:
            data = message.get("data")
            if isinstance(data, str) and data:
                await self.source.write(data[:MAX_INPUT].encode("utf-8", "replace"))  # a shell gone: the reader says so
        elif kind == "console.ack":
            try:
                acked = int(message.get("bytes"))
            except (TypeError, ValueError):
                return
            watcher.acked = max(watcher.acked, min(acked, watcher.sent))
            watcher.wake.set()
        elif kind == "console.ping":
            await self.layer.send(watcher.reply, {"type": "console.pong"})
        elif kind in ("console.detach", "console.close"):
            await self.remove_watcher(watcher.reply)

    async def _watch(self) -> None:
        """Detach a consumer that went silent (its web process died); end a session left alone too long."""
        while True:
            await asyncio.sleep(WATCH_EVERY)
            now = time.monotonic()
            if self.reply is not None and now - self.last_heard > self.relay.silence:
                log.info("%s %s: its consumer went silent", self.source.kind, self.channel)
                self.detach()
            for watcher in [w for w in self.watchers.values() if now - w.last_heard > self.relay.silence]:
                await self.remove_watcher(watcher.reply)
            if self.reply is None and self.detached_at is not None \
                    and now - self.detached_at > self.relay.keep_detached:
                self.ended_by = "the student left this console"
                return None


class Relay:
    """Listens on this host's relay channel and runs a :class:`Session` per "open"."""

    def __init__(self, site: str, queue: str, *, layer=None, runtime: DockerRuntime | None = None,
                 buffer_limit: int = SESSION_BUFFER, keep_detached: float = KEEP_DETACHED,
                 silence: float = SILENCE, recent_limit: int = RECENT_OUTPUT, watch_limit: int = WATCH_BUFFER):
        self.site = site
        self.channel = channel_name(site, queue)
        self.layer = layer or get_channel_layer(LAYER)
        self.runtime = runtime or DockerRuntime()
        self.buffer_limit = buffer_limit
        self.keep_detached = keep_detached
        self.silence = silence
        self.recent_limit = recent_limit
        self.watch_limit = watch_limit
        self.tasks: set[asyncio.Task] = set()
        self.sessions: dict[str, Session] = {}     # token -> open session
        self.cancelled: dict[str, bool] = {}       # consumers that left before their session opened

    async def check(self, request: dict) -> str | None:
        """Why this container may not get a console, or None."""
        container = str(request.get("container") or "")
        if not container:
            return "the node has no container"
        found = await asyncio.to_thread(self.runtime.labels_and_running, container)
        if found is None:
            return "the node's container is gone"
        labels, running = found
        expected = {names.LABEL_SITE: self.site, names.LABEL_LAB: str(request.get("lab")),
                    names.LABEL_NODE: str(request.get("node"))}
        if any(labels.get(k) != v for k, v in expected.items()):
            return "that container is not this node's"
        if not running:
            return "the node is not running"
        return None

    def _start(self, coro) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _resume(self, session: Session, request: dict) -> None:
        log.info("console %s resumed%s", session.channel, " with its recent output" if request.get("replay") is True else "")
        if request.get("replay") is True:
            session.replay()
        # The new window's size first: whatever the user types once told "opened" sees it.
        await session.source.resize(clamp_size(request.get("cols"), 80), clamp_size(request.get("rows"), 24))
        await session.attach(request["reply"], resumed=True)

    async def _join(self, message: dict) -> None:
        """A supervisor's "console.watch": join the node's open console (the most recently active), never a new one."""
        reply = message["reply"]
        key = (str(message.get("lab")), str(message.get("node")), str(message.get("container")))
        mode = CONTROL if message.get("mode") == CONTROL else "watch"
        open_here = [s for s in self.sessions.values() if s.key == key and s.source.kind == "console" and s.channel]
        if self.cancelled.pop(reply, False):
            return  # the browser left already
        try:
            if not open_here:
                owner = str(message.get("owner") or "the student")[:150]
                await self.layer.send(reply, {"type": "console.status", "state": "closed",
                                              "message": f"{owner} has no console open on {key[1]}"})
                return
            session = max(open_here, key=lambda s: (s.reply is not None, s.active))
            await session.add_watcher(reply, mode, str(message.get("name") or "an instructor")[:150])
        except (OSError, RedisError) as exc:
            log.warning("cannot reach a watcher: %s", exc)

    async def _handle(self, message: dict) -> None:
        kind, reply = message.get("type"), message.get("reply")
        if not isinstance(reply, str):
            return
        if kind == "console.watch":
            if float(message.get("deadline") or 0) >= time.time():
                self._start(self._join(message))
            return
        if kind in ("console.open", "logs.open"):
            if float(message.get("deadline") or 0) < time.time():
                return  # the client gave up waiting long ago
            if kind == "logs.open":
                source = LogSource(self.runtime, str(message.get("container")))
                self._start(Session(self, message, source).run())
                return
            session = self.sessions.get(str(message.get("resume") or ""))
            key = (str(message.get("lab")), str(message.get("node")), str(message.get("container")))
            argv = program_argv(message.get("program"))
            if session is not None and session.key == key and session.source.kind == "console" \
                    and getattr(session.source, "argv", argv) == argv:
                self._start(self._resume(session, message))
                return
            source = ShellSource(self.runtime, key[2], clamp_size(message.get("cols"), 80),
                                 clamp_size(message.get("rows"), 24), argv)
            self._start(Session(self, message, source).run())
        elif kind == "console.cancel":
            watched = next((s for s in self.sessions.values() if reply in s.watchers), None)
            if watched is not None:
                await watched.remove_watcher(reply)
                return
            session = next((s for s in self.sessions.values() if s.reply == reply), None)
            if session is None:
                self.cancelled[reply] = True
                if len(self.cancelled) > 1000:
                    self.cancelled.pop(next(iter(self.cancelled)))
            else:
                await self.layer.send(session.channel, {"type": "console.close", "reply": reply})

    async def serve(self, ready=None) -> None:
        """Run until cancelled (SIGTERM / SIGINT in :meth:`main`); closes every session on the way out."""
        lock = SingletonLock(f"topolab:{self.site}:relay:{self.channel}")
        await lock.acquire()
        # Pub/sub: an "open" published before the relay subscribes reaches nobody. So say ready
        # only once a probe sent to ourselves came back, which proves the subscription is live.
        for message in await subscribe(self.layer, self.channel):
            await self._handle(message)
        receiving = asyncio.create_task(self.layer.receive(self.channel))
        log.info("relay ready on %s", self.channel)
        if ready:
            ready()
        try:
            while True:
                try:
                    message = await receiving
                except (OSError, RedisError) as exc:  # Redis away for a moment: try again, keep the sessions
                    log.warning("relay: cannot read its channel (%s); retrying", exc)
                    await asyncio.sleep(1)
                else:
                    await self._handle(message)
                receiving = asyncio.create_task(self.layer.receive(self.channel))
        finally:
            receiving.cancel()
            for session in list(self.sessions.values()):
                await session.end("the console relay stopped")
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            await lock.release()

    def main(self) -> None:
        """Serve in a fresh event loop until SIGTERM or SIGINT."""

        async def run():
            task = asyncio.create_task(self.serve(ready=lambda: print("relay ready", flush=True)))
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, task.cancel)
            try:
                await task
            except asyncio.CancelledError:
                pass

        asyncio.run(run())
