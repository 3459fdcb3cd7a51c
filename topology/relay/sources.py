"""Where a relay session's bytes come from: a login shell on a TTY, or a container's own output.

Both give the session the same small interface: ``open()`` (bytes already
read), ``read()`` (the next bytes, ``b""`` at the end), ``write()``,
``resize()`` and ``close()``. Only these touch Docker, through
:class:`~topology.engine.docker_runtime.DockerRuntime`.
"""
from __future__ import annotations

import asyncio
import logging
import threading

from ..engine.docker_runtime import DockerRuntime
from . import OUTPUT_BATCH, SHELL_ARGV

log = logging.getLogger("topology.relay")


class ShellSource:
    """The image's login shell in a running container, on a TTY of ``cols`` x ``rows``."""

    kind = "console"
    writable = True

    def __init__(self, runtime: DockerRuntime, container: str, cols: int, rows: int, argv=None):
        self.runtime = runtime
        self.container = container
        self.size = (cols, rows)
        self.argv = list(argv or SHELL_ARGV)  # the login shell, or another of relay.PROGRAMS (vtysh)
        self.exec_id: str | None = None
        self.sock = None

    async def open(self) -> bytes:
        cols, rows = self.size
        self.exec_id, self.sock, early = await asyncio.to_thread(
            self.runtime.open_console, self.container, self.argv, cols, rows, {"TERM": "xterm-256color"})
        return early

    async def read(self) -> bytes:
        try:
            return await asyncio.get_running_loop().sock_recv(self.sock, OUTPUT_BATCH)
        except OSError:
            return b""

    async def write(self, data: bytes) -> bool:
        """False when the shell is gone."""
        try:
            await asyncio.get_running_loop().sock_sendall(self.sock, data)
        except OSError:
            return False
        return True

    async def resize(self, cols: int, rows: int) -> None:
        await asyncio.to_thread(self.runtime.resize_console, self.exec_id, rows, cols)

    async def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        if self.exec_id is not None:
            # Closing the socket alone leaves the shell running: hang it up as a terminal would.
            await asyncio.to_thread(self.runtime.end_exec, self.exec_id)


class LogSource:
    """A container's own output (its main process's stdout and stderr), from the start, followed live.

    docker-py gives the stream as a blocking iterator, so a thread reads it into
    a small queue; a full queue makes the thread wait, and Docker keeps the rest
    of the log meanwhile.
    """

    kind = "logs"
    writable = False

    def __init__(self, runtime: DockerRuntime, container: str):
        self.runtime = runtime
        self.container = container
        self.stream = None
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=16)
        self.closing = threading.Event()

    async def open(self) -> bytes:
        self.stream = await asyncio.to_thread(self.runtime.follow_logs, self.container)
        loop = asyncio.get_running_loop()
        threading.Thread(target=self._pump, args=(loop,), name="relay-logs", daemon=True).start()
        return b""

    def _pump(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            for chunk in self.stream:
                if self.closing.is_set():
                    return
                if chunk:
                    asyncio.run_coroutine_threadsafe(self.queue.put(chunk), loop).result()
        except Exception as exc:  # noqa: BLE001 - a broken stream is the end of the log, said below
            if not self.closing.is_set():
                log.info("logs of %s: the stream broke (%s)", self.container[:12], exc)
        finally:
            if not self.closing.is_set():
                try:
                    asyncio.run_coroutine_threadsafe(self.queue.put(b""), loop).result()
                except RuntimeError:  # the relay's loop is already gone
                    pass

    async def read(self) -> bytes:
        return await self.queue.get()

    async def write(self, data: bytes) -> bool:
        return True  # a log has no input

    async def resize(self, cols: int, rows: int) -> None:
        return None

    async def close(self) -> None:
        self.closing.set()
        while not self.queue.empty():  # unblock a pump waiting on a full queue
            self.queue.get_nowait()
        if self.stream is not None:
            await asyncio.to_thread(self.stream.close)
