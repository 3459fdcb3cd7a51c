"""A relay session's end, with a fake channel layer, source and runtime (no Redis, no Docker).

What is checked: when the shell ends, its last output still reaches the consumer before the
session says so, and the session waits for exactly that (an event), not for a fixed time; a
consumer that leaves ends the wait; a failed write holds the input only until the reader has
seen the end. (The real relay, on real containers, is in ``tests/integration/test_console.py``.)
"""
from __future__ import annotations

import asyncio
import collections
import itertools
import time

from tests.websockets import run
from topology.engine import names
from topology.relay import WINDOW, server

SITE, LAB, NODE, CONTAINER = "test-site", 7, "c1", "cid-c1"
CONSUMER = "consumer.1"


class FakeLayer:
    """Channels as in-process queues."""

    def __init__(self):
        self.queues: dict[str, asyncio.Queue] = collections.defaultdict(asyncio.Queue)
        self.numbers = itertools.count(1)

    async def new_channel(self, prefix: str = "specific.") -> str:
        return f"{prefix}{next(self.numbers)}"

    async def send(self, channel: str, message: dict) -> None:
        await self.queues[channel].put(message)

    async def receive(self, channel: str) -> dict:
        return await self.queues[channel].get()


class FakeRuntime:
    """The container's labels are this node's; ``running`` says whether it still runs."""

    def __init__(self, running: bool = True):
        self.running = running

    def labels_and_running(self, container_id: str):
        labels = {names.LABEL_SITE: SITE, names.LABEL_LAB: str(LAB), names.LABEL_NODE: NODE}
        return labels, self.running

    def pid(self, container_id: str):
        """The container's main process: the same one while it runs (a restart would give another)."""
        return 4242 if self.running else None


class FakeShell:
    """A shell whose output the test feeds (``b""``: it ended) and whose writes fail when told to."""

    kind = "console"
    writable = True

    def __init__(self, write_ok: bool = True):
        self.output: asyncio.Queue[bytes] = asyncio.Queue()
        self.write_ok = write_ok
        self.writes: list[bytes] = []
        self.write_failed = asyncio.Event()
        self.closed = False

    async def open(self) -> bytes:
        return b""

    async def read(self) -> bytes:
        return await self.output.get()

    async def write(self, data: bytes) -> bool:
        self.writes.append(data)
        if not self.write_ok:
            self.write_failed.set()
        return self.write_ok

    async def resize(self, cols: int, rows: int) -> None:
        return None

    async def close(self) -> None:
        self.closed = True


async def opened(layer: FakeLayer, shell: FakeShell, runtime: FakeRuntime, *, then_running: bool = False):
    """Start a session for CONSUMER on a running container, which then stops unless ``then_running``:
    (the session's task, its channel)."""
    relay = server.Relay(SITE, "lab.test", layer=layer, runtime=runtime)
    request = {"type": "console.open", "reply": CONSUMER, "lab": LAB, "node": NODE, "container": CONTAINER}
    task = asyncio.create_task(server.Session(relay, request, shell).run())
    message = await asyncio.wait_for(layer.receive(CONSUMER), 5)
    assert message["type"] == "console.opened", message
    runtime.running = then_running
    return task, message["session"]


async def until_status(layer: FakeLayer, channel: str = CONSUMER, timeout: float = 5) -> list[dict]:
    """Every message the consumer gets, up to and with the first status."""
    messages = []
    while True:
        message = await asyncio.wait_for(layer.receive(channel), timeout)
        messages.append(message)
        if message["type"] == "console.status":
            return messages


async def ended_shell_with(data: bytes):
    """A session whose shell printed ``data`` and ended, with output still to deliver: (layer, shell, task, session)."""
    layer, shell = FakeLayer(), FakeShell()
    task, session = await opened(layer, shell, FakeRuntime())
    await shell.output.put(data)
    await shell.output.put(b"")
    return layer, shell, task, session


def output_of(messages) -> bytes:
    return b"".join(m["data"] for m in messages if m["type"] == "console.output")


def test_the_last_output_reaches_the_consumer_before_the_session_ends(monkeypatch):
    # FLUSH is only the bound: the session must end as soon as the buffer is empty, not when it lapses.
    monkeypatch.setattr(server, "FLUSH", 30.0)
    last = b"x" * (WINDOW + 100_000)  # more than the window: the rest waits for an acknowledgement

    async def body():
        layer, shell, task, session = await ended_shell_with(last)
        received = []
        while sum(len(m["data"]) for m in received) < WINDOW:
            received.append(await asyncio.wait_for(layer.receive(CONSUMER), 5))
        began = time.monotonic()
        await layer.send(session, {"type": "console.ack", "bytes": WINDOW, "reply": CONSUMER})
        received += await until_status(layer)
        await asyncio.wait_for(task, 5)
        return received, time.monotonic() - began, shell

    received, took, shell = run(body)
    assert output_of(received) == last
    assert received[-1] == {"type": "console.status", "state": "closed", "message": "the node stopped"}
    assert took < 3  # ended on the buffer emptying, not after FLUSH
    assert shell.closed


def test_a_consumer_that_leaves_ends_the_wait_for_the_last_output(monkeypatch):
    monkeypatch.setattr(server, "FLUSH", 30.0)

    async def body():
        layer, _, task, session = await ended_shell_with(b"y" * (WINDOW + 100_000))
        sent = 0
        while sent < WINDOW:  # the window is full and never acknowledged
            sent += len((await asyncio.wait_for(layer.receive(CONSUMER), 5))["data"])
        began = time.monotonic()
        await layer.send(session, {"type": "console.detach", "reply": CONSUMER})
        await asyncio.wait_for(task, 5)
        return time.monotonic() - began

    assert run(body) < 3


def test_the_wait_for_the_last_output_is_bounded(monkeypatch):
    monkeypatch.setattr(server, "FLUSH", 0.3)

    async def body():
        layer, _, task, _ = await ended_shell_with(b"z" * (WINDOW + 100_000))
        began = time.monotonic()
        messages = await until_status(layer)  # never acknowledged: what is left is given up after FLUSH
        await asyncio.wait_for(task, 5)
        return messages, time.monotonic() - began

    messages, took = run(body)
    assert len(output_of(messages)) == WINDOW
    assert messages[-1] == {"type": "console.status", "state": "closed", "message": "the node stopped"}
    assert 0.25 <= took < 3


def test_a_failed_write_holds_input_only_until_the_reader_sees_the_end(monkeypatch):
    # The container still runs, so the reader asks it again for about a second before it says
    # "the shell ended"; meanwhile the session answers its consumer again (here: a ping).
    monkeypatch.setattr(server, "SEE_END", 30.0)

    async def body():
        layer, shell = FakeLayer(), FakeShell(write_ok=False)
        task, session = await opened(layer, shell, FakeRuntime(), then_running=True)
        await layer.send(session, {"type": "console.input", "data": "ls\n", "reply": CONSUMER})
        await asyncio.wait_for(shell.write_failed.wait(), 5)
        await layer.send(session, {"type": "console.input", "data": "held\n", "reply": CONSUMER})
        await asyncio.sleep(0.2)
        writes_before_the_end = list(shell.writes)
        await shell.output.put(b"")  # the reader sees the end
        await layer.send(session, {"type": "console.ping", "reply": CONSUMER})
        messages = await until_status(layer)
        await asyncio.wait_for(task, 5)
        return writes_before_the_end, messages

    writes_before_the_end, messages = run(body)
    assert writes_before_the_end == [b"ls\n"]  # the second input waited for the end
    assert [m["type"] for m in messages] == ["console.pong", "console.status"]  # answered before the end
    assert messages[-1] == {"type": "console.status", "state": "closed", "message": "the shell ended"}
