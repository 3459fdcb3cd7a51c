"""The relay process (root): one asyncio loop, one task group per console session.

It receives IDs, never commands: an "open" names a lab, a node and the
container the web tier resolved; the relay checks the container's own labels
(this site, that lab, that node) and that it runs before it execs the fixed
login shell (:data:`SHELL_ARGV`) in it. Output is read as fast as the exec
gives it and held in a bounded buffer per session (:class:`OutputBuffer`): a
slow client loses the oldest output (and is told so), it never blocks the
relay nor grows its memory. (A full buffer first pauses reading that one exec
for up to :data:`STALL` seconds, so a client that is only briefly behind
loses nothing: the shell waits on its TTY meanwhile.)
"""
from __future__ import annotations

import asyncio
import logging
import signal
import time

from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from redis.exceptions import RedisError

from ..engine import names
from ..engine.docker_runtime import DockerRuntime, RuntimeStepError
from . import MAX_INPUT, MAX_SIZE, OUTPUT_BATCH, SESSION_BUFFER, SHELL_ARGV, channel_name
from .buffer import OutputBuffer

log = logging.getLogger("topology.relay")

GIVE_UP_AFTER = 30.0   # seconds a consumer's channel may stay full before its session is closed
RETRY_FULL = 0.01      # seconds between sends to a full channel
STALL = 1.0            # seconds a full session buffer pauses reading its exec before dropping the oldest


def _size(value, default: int) -> int:
    try:
        return max(1, min(MAX_SIZE, int(value)))
    except (TypeError, ValueError):
        return default


class Session:
    """One console: a TTY exec in a container, pumped to and from one consumer's channel."""

    def __init__(self, relay: "Relay", request: dict):
        self.relay = relay
        self.layer = relay.layer
        self.runtime = relay.runtime
        self.reply: str = request["reply"]
        self.request = request
        self.buffer = OutputBuffer(relay.buffer_limit)
        self.readable = asyncio.Event()
        self.drained = asyncio.Event()
        self.lagging = False
        self.eof = False
        self.closed_by_client = False
        self.exec_id: str | None = None
        self.sock = None
        self.channel: str | None = None

    async def status(self, state: str, message: str) -> None:
        try:
            await self.layer.send(self.reply, {"type": "console.status", "state": state, "message": message})
        except ChannelFull:
            log.info("console %s: cannot tell the client %s (%s): its channel is full", self.channel, state, message)

    async def run(self) -> None:
        try:
            await self._run()
        except Exception:  # noqa: BLE001 - a session's failure must never end the relay
            log.exception("console session failed")
            await self.status("error", "the console failed on the host")
        finally:
            await self._close_exec()

    async def _check(self) -> str | None:
        """Why this container may not get a console, or None."""
        container = str(self.request.get("container") or "")
        if not container:
            return "the node has no container"
        found = await asyncio.to_thread(self.runtime.labels_of, container)
        if found is None:
            return "the node's container is gone"
        labels, running = found
        expected = {names.LABEL_SITE: self.relay.site, names.LABEL_LAB: str(self.request.get("lab")),
                    names.LABEL_NODE: str(self.request.get("node"))}
        if any(labels.get(k) != v for k, v in expected.items()):
            return "that container is not this node's"
        if not running:
            return "the node is not running"
        return None

    async def _run(self) -> None:
        if float(self.request.get("deadline") or 0) < time.time():
            return  # the client gave up waiting long ago
        problem = await self._check()
        if problem:
            await self.status("error", problem)
            return
        cols, rows = _size(self.request.get("cols"), 80), _size(self.request.get("rows"), 24)
        try:
            self.exec_id, self.sock, early = await asyncio.to_thread(
                self.runtime.open_console, self.request["container"], SHELL_ARGV, cols, rows,
                {"TERM": "xterm-256color"})
        except RuntimeStepError as exc:
            await self.status("error", str(exc))
            return
        self.buffer.append(early)
        self.channel = await self.layer.new_channel("relay-session")
        if self.relay.cancelled.pop(self.reply, False):
            return
        self.relay.by_reply[self.reply] = self  # from now on a "console.cancel" reaches _control
        tasks = []
        try:
            await self.layer.send(self.reply, {"type": "console.opened", "session": self.channel})
            log.info("console %s open: lab %s node %s", self.channel, self.request.get("lab"),
                     self.request.get("node"))
            tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._send()),
                     asyncio.create_task(self._control())]
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            self.relay.by_reply.pop(self.reply, None)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self.closed_by_client:
            return
        if self.eof:
            message = "the shell ended"
            for _ in range(10):  # a container being removed kills its execs a moment before it stops
                found = await asyncio.to_thread(self.runtime.labels_of, self.request["container"])
                if not (found and found[1]):
                    message = "the node stopped"
                    break
                await asyncio.sleep(0.1)
            await self.status("closed", message)

    async def _read(self) -> None:
        """Exec output into the buffer, as fast as the client takes it; returns at end of file."""
        loop = asyncio.get_running_loop()
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
            try:
                data = await loop.sock_recv(self.sock, OUTPUT_BATCH)
            except OSError:
                data = b""
            if not data:
                self.eof = True
                self.readable.set()
                await self._drain()
                return
            self.buffer.append(data)
            self.readable.set()

    async def _drain(self, timeout: float = 5.0) -> None:
        """Give the sender a moment to deliver the last output before the session ends."""
        deadline = time.monotonic() + timeout
        while len(self.buffer) and time.monotonic() < deadline:
            await asyncio.sleep(RETRY_FULL)

    async def _send(self) -> None:
        """The buffer to the consumer: whatever has piled up, in batches of OUTPUT_BATCH bytes."""
        self.full_since = None
        while True:
            await self.readable.wait()
            self.readable.clear()
            while len(self.buffer):
                if self.buffer.dropped:
                    dropped = self.buffer.dropped
                    if not await self._offer({"type": "console.status", "state": "dropped",
                                              "message": f"{dropped} bytes of output were dropped: "
                                                         "the connection is too slow"}):
                        continue
                    self.buffer.dropped -= dropped
                start, chunk = self.buffer.peek(OUTPUT_BATCH)
                if not await self._offer({"type": "console.output", "data": chunk}):
                    continue
                self.buffer.consume(start + len(chunk))
                if len(self.buffer) < self.buffer.limit // 2:
                    self.lagging = False
                    self.drained.set()

    async def _offer(self, message: dict) -> bool:
        """Send to the consumer; False (after a short pause) when its channel is full."""
        try:
            await self.layer.send(self.reply, message)
        except ChannelFull:
            self.full_since = self.full_since or time.monotonic()
            if time.monotonic() - self.full_since > GIVE_UP_AFTER:
                raise ConnectionAbortedError("the client stopped reading") from None
            await asyncio.sleep(RETRY_FULL)
            return False
        self.full_since = None
        return True

    async def _control(self) -> None:
        """Input, resize and close from the consumer."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except (OSError, RedisError) as exc:
                log.warning("console %s: cannot read its channel (%s); retrying", self.channel, exc)
                await asyncio.sleep(1)
                continue
            kind = message.get("type")
            if kind == "console.input":
                data = message.get("data")
                if isinstance(data, str) and data:
                    try:
                        await loop.sock_sendall(self.sock, data[:MAX_INPUT].encode("utf-8", "replace"))
                    except OSError:  # the shell is gone: the reader will see the end (and say so)
                        await asyncio.sleep(5)
                        self.eof = True
                        return
            elif kind == "console.resize":
                rows, cols = _size(message.get("rows"), 24), _size(message.get("cols"), 80)
                await asyncio.to_thread(self.runtime.resize_console, self.exec_id, rows, cols)
            elif kind == "console.close":
                self.closed_by_client = True
                return

    async def _close_exec(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        if self.exec_id is not None:
            await asyncio.to_thread(self.runtime.close_console, self.exec_id)
            log.info("console %s closed", self.channel)


class Relay:
    """Listens on this host's relay channel and runs a :class:`Session` per "open"."""

    def __init__(self, site: str, queue: str, *, layer=None, runtime: DockerRuntime | None = None,
                 buffer_limit: int = SESSION_BUFFER):
        self.site = site
        self.channel = channel_name(site, queue)
        self.layer = layer or get_channel_layer()
        # redis-py 8 reads with a 5 s socket timeout by default, the same as channels_redis's blocking
        # pop: a quiet channel would time out now and then. Blocking pops shorter than that never do.
        if getattr(self.layer, "brpop_timeout", 0) > 2:
            self.layer.brpop_timeout = 2
        self.runtime = runtime or DockerRuntime()
        self.buffer_limit = buffer_limit
        self.sessions: set[asyncio.Task] = set()
        self.by_reply: dict[str, Session] = {}
        self.cancelled: dict[str, bool] = {}

    async def serve(self, ready=None) -> None:
        """Run until cancelled (SIGTERM / SIGINT in :meth:`main`); closes every session on the way out."""
        log.info("relay ready on %s", self.channel)
        if ready:
            ready()
        try:
            while True:
                try:
                    message = await self.layer.receive(self.channel)
                except (OSError, RedisError) as exc:  # Redis away for a moment: try again, keep the sessions
                    log.warning("relay: cannot read its channel (%s); retrying", exc)
                    await asyncio.sleep(1)
                    continue
                kind = message.get("type")
                if kind == "console.open" and isinstance(message.get("reply"), str):
                    task = asyncio.create_task(Session(self, message).run())
                    self.sessions.add(task)
                    task.add_done_callback(self.sessions.discard)
                elif kind == "console.cancel" and isinstance(message.get("reply"), str):
                    session = self.by_reply.get(message["reply"])
                    if session is None:
                        self.cancelled[message["reply"]] = True
                        if len(self.cancelled) > 1000:
                            self.cancelled.pop(next(iter(self.cancelled)))
                    else:
                        session.closed_by_client = True
                        await self.layer.send(session.channel, {"type": "console.close"})
        finally:
            for session in list(self.by_reply.values()):
                await session.status("closed", "the console relay stopped")
            for task in list(self.sessions):
                task.cancel()
            await asyncio.gather(*self.sessions, return_exceptions=True)

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
