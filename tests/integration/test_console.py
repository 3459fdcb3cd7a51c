"""Consoles end to end: websocket -> consumer -> channel layer -> the real relay -> ``docker exec`` (tty).

A real lab worker deploys the reference lab; a real relay process (root)
serves the consoles; the websocket goes through the whole ASGI stack
(origin check, session, router), signed in as the lab's owner::

    c1 eth0 ---- eth0 r1 eth1 ---- eth0 c2
"""
from __future__ import annotations

import asyncio
import base64
import json
import re
import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import channel_layers, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings

from labsite.asgi import application
from tests.documents import reference_document
from tests.unit.test_console_consumer import ORIGIN, cookie_of
from topology.relay import channel_name
from topology.testing.relay import RelayProcess

FLOOD_BYTES = 10_000_000


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """A channel layer of the test's own: channels_redis binds its receive lock to the first event
    loop that uses it, and every ``async_to_sync`` call runs on a new one."""
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(scope="module")
def relay(tmp_path_factory):
    """The root console relay, for this module, on this run's host queue."""
    process = RelayProcess(settings.TOPOLAB_QUEUE, tmp_path_factory.mktemp("relay") / "relay.log")
    process.start()
    yield process
    process.stop()


class Console:
    """A console websocket as a browser holds it: everything it received, frames in order."""

    def __init__(self, lab, node: str, user):
        self.ws = WebsocketCommunicator(
            application, f"/ws/topologies/{lab.topology_id}/nodes/{node}/console?cols=80&rows=24",
            headers=[(b"origin", ORIGIN.encode()), (b"cookie", cookie_of(user).encode())])
        self.output = bytearray()
        self.statuses: list[dict] = []
        self.closed: int | None = None

    async def open(self) -> None:
        connected, _ = await self.ws.connect()
        assert connected
        status = await self.next_status()
        assert status["state"] == "open", status

    async def _one(self, timeout: float) -> None:
        message = await self.ws.receive_output(timeout=timeout)
        if message["type"] == "websocket.close":
            self.closed = message.get("code", 1000)
        elif message.get("bytes") is not None:
            self.output += message["bytes"]
        else:
            self.statuses.append(json.loads(message["text"]))

    async def next_status(self, timeout: float = 15) -> dict:
        seen = len(self.statuses)
        deadline = time.monotonic() + timeout
        while len(self.statuses) == seen:
            assert self.closed is None, f"closed ({self.closed}) without a status"
            await self._one(max(0.01, deadline - time.monotonic()))
        return self.statuses[seen]

    async def type(self, text: str) -> None:
        await self.ws.send_to(text_data=json.dumps({"type": "input", "data": text}))

    async def resize(self, cols: int, rows: int) -> None:
        await self.ws.send_to(text_data=json.dumps({"type": "resize", "cols": cols, "rows": rows}))

    async def read_until(self, pattern: bytes, timeout: float = 15, since: int = 0) -> re.Match:
        """Read until ``pattern`` (a regex) matches the output after position ``since``."""
        regex = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        start = since
        while True:
            found = regex.search(self.output, start)
            if found:
                return found
            start = max(since, len(self.output) - 256)  # search only what is new (a flood is 13 MB)
            left = deadline - time.monotonic()
            assert left > 0 and self.closed is None, (
                f"no {pattern!r} in {bytes(self.output[-500:])!r} (closed: {self.closed}, {self.statuses})")
            await self._one(left)

    async def wait_closed(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while self.closed is None:
            await self._one(max(0.01, deadline - time.monotonic()))
        return self.closed


def _shells(labs, lab, node: str) -> int:
    """How many login shells run in a node (the console's)."""
    code, out = labs.run(lab, node, "ps", "-eo", "args")
    assert code == 0
    return sum(1 for line in out.splitlines() if line.strip() in ("/bin/bash -l", "/bin/sh -l"))


def test_it_gives_a_working_terminal_and_closes_it_when_the_lab_goes(labs, owner, relay):
    lab = labs.deploy(reference_document())
    assert lab.state == "running", lab.reason
    console = Console(lab, "c1", owner)
    r1 = Console(lab, "r1", owner)

    async def body():
        await console.open()
        await r1.open()  # two consoles at once

        await console.type("echo hello\n")
        await console.read_until(rb"[\r\n]hello\r\n")

        await console.resize(120, 40)
        mark = len(console.output)
        await console.type("stty size\n")
        await console.read_until(rb"[\r\n]40 120\r\n", since=mark)

        await r1.type("echo r1-$((6*7))\n")
        await r1.read_until(rb"[\r\n]r1-42\r\n")

        await console.type("ping -c 1 -W 5 192.168.11.2\n")
        await console.read_until(rb"ttl=63", timeout=20)

        # A flood arrives whole and in order, and the relay's memory stays bounded.
        before = relay.rss_kib()
        mark = len(console.output)
        started = time.monotonic()
        await console.type(f"head -c {FLOOD_BYTES} /dev/zero | base64; echo FLOOD_$((40+2))\n")
        done = await console.read_until(rb"^FLOOD_42\r?$", timeout=120, since=mark)
        elapsed = time.monotonic() - started
        after = relay.rss_kib()
        text = bytes(console.output[mark:done.start()]).replace(b"\r\n", b"\n")
        body = text[text.index(b"AAAA"):]
        assert body == base64.encodebytes(b"\0" * FLOOD_BYTES), "the flood arrived changed or out of order"
        assert not [s for s in console.statuses if s["state"] == "dropped"]

        # Destroying the lab ends both consoles: a status, then the websocket closes.
        await sync_to_async(labs.destroy)(lab)
        assert await console.wait_closed() == 1000
        assert await r1.wait_closed() == 1000
        return before, after, elapsed

    before, after, elapsed = async_to_sync(body)()
    print(f"flood of {FLOOD_BYTES} bytes (base64) in {elapsed:.2f} s; relay RSS {before} -> {after} KiB")
    assert after - before < 48 * 1024, f"relay RSS grew from {before} to {after} KiB"
    for c in (console, r1):
        assert c.statuses[-1]["state"] == "closed", c.statuses
        assert c.statuses[-1]["message"] == "the node stopped"


def test_it_ends_the_shell_when_the_browser_leaves_and_when_the_shell_exits(labs, owner, relay):
    lab = labs.deploy(reference_document())
    shells = _shells(labs, lab, "c2")
    console = Console(lab, "c2", owner)

    async def leave():
        await console.open()
        await console.type("echo in-$((1+1))\n")
        await console.read_until(rb"[\r\n]in-2\r\n")
        during = await sync_to_async(_shells)(labs, lab, "c2")
        await console.ws.disconnect()
        return during

    assert async_to_sync(leave)() == shells + 1
    deadline = time.monotonic() + 10
    while _shells(labs, lab, "c2") != shells and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _shells(labs, lab, "c2") == shells, "the shell outlived its websocket"

    second = Console(lab, "c2", owner)

    async def exit_shell():
        await second.open()
        await second.type("exit\n")
        return await second.wait_closed()

    assert async_to_sync(exit_shell)() == 1000
    assert second.statuses[-1] == {"type": "status", "state": "closed", "message": "the shell ended"}


def test_it_drops_the_oldest_output_of_a_client_that_does_not_read_and_stays_small(labs, relay):
    # Talk to the relay as a consumer would, then stop reading: its channel fills, the relay keeps going.
    lab = labs.deploy(reference_document())
    node = lab.nodes.get(name="c1")

    async def body():
        layer = get_channel_layer()
        me = await layer.new_channel()
        await layer.send(channel_name(settings.TOPOLAB_SITE, lab.queue), {
            "type": "console.open", "reply": me, "lab": lab.pk, "node": "c1", "container": node.container_id,
            "cols": 80, "rows": 24, "deadline": time.time() + 10})
        opened = await asyncio.wait_for(layer.receive(me), 15)
        assert opened["type"] == "console.opened", opened
        before = relay.rss_kib()
        await layer.send(opened["session"], {
            "type": "console.input", "data": "head -c 30000000 /dev/zero | base64; echo FLOOD_$((40+2))\n"})
        await asyncio.sleep(6)  # not reading meanwhile
        during = relay.rss_kib()
        received, statuses = bytearray(), []
        total = 0
        while not re.search(rb"^FLOOD_42\r?$", received, re.M):
            message = await asyncio.wait_for(layer.receive(me), 30)
            if message["type"] == "console.output":
                total += len(message["data"])
                received = received[-256:] + message["data"]
            else:
                statuses.append(message)
        await layer.send(opened["session"], {"type": "console.close"})
        return before, during, statuses, total

    before, during, statuses, total = async_to_sync(body)()
    assert any(s["state"] == "dropped" for s in statuses), statuses
    assert total < 30_000_000 * 4 // 3, "nothing was dropped"
    assert during - before < 48 * 1024, f"relay RSS grew from {before} to {during} KiB"
