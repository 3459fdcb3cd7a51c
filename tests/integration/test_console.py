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
import os
import re
import signal
import time

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings

from labsite.asgi import application
from tests.documents import reference_document
from tests.websockets import ORIGIN, cookie_of, fresh_channel_layer, run  # noqa: F401 (autouse)
from topology.relay import ACK_EVERY, LAYER, channel_name
from topology.testing.relay import RelayProcess
from topology.websockets import relayed as console_module
from topology.websockets.console import NOT_AVAILABLE, ConsoleConsumer

FLOOD_BYTES = 10_000_000


class Terminal:
    """A console or logs websocket as a browser holds it: everything it received, frames in order."""

    def __init__(self, lab, node: str, user, kind: str = "console", query: str = "cols=80&rows=24"):
        self.path = f"/ws/topologies/{lab.topology_id}/nodes/{node}/{kind}"
        self.cookie = cookie_of(user)
        self.output = bytearray()
        self.statuses: list[dict] = []
        self.closed: int | None = None
        self.ws = self._communicator(query)

    def _communicator(self, query: str) -> WebsocketCommunicator:
        return WebsocketCommunicator(application, f"{self.path}?{query}", headers=[
            (b"origin", ORIGIN.encode()), (b"cookie", self.cookie.encode())])

    async def open(self) -> dict:
        connected, _ = await self.ws.connect()
        assert connected
        status = await self.next_status()
        assert status["state"] == "open", status
        return status

    async def open_with(self, query: str) -> dict:
        """Open a new websocket with ``query`` in place of the last one (a reconnect after a drop)."""
        self.ws, self.closed = self._communicator(query), None
        return await self.open()

    async def drop(self) -> None:
        """The connection is lost (no close frame from the browser: code 1006)."""
        await self.ws.disconnect(code=1006)

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
            try:
                await self._one(max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                raise AssertionError(f"no status within {timeout} s; output: {bytes(self.output[-300:])!r}") from None
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
            seen = f"no {pattern!r} in {bytes(self.output[-500:])!r} (closed: {self.closed}, {self.statuses})"
            assert left > 0 and self.closed is None, seen
            try:
                await self._one(left)
            except TimeoutError:
                raise AssertionError(f"{seen} after {timeout} s") from None

    async def wait_closed(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while self.closed is None:
            await self._one(max(0.01, deadline - time.monotonic()))
        return self.closed

    async def leave(self) -> None:
        """Close the websocket as the browser's close button does (code 1000), whatever its state."""
        await self.ws.disconnect(code=1000)


def _shells(labs, lab, node: str) -> int:
    """How many login shells run in a node (the console's)."""
    code, out = labs.run(lab, node, "ps", "-eo", "args")
    assert code == 0
    return sum(1 for line in out.splitlines() if line.strip() in ("/bin/bash -l", "/bin/sh -l"))


def test_it_gives_a_working_terminal_and_closes_it_when_the_lab_goes(labs, owner, relay):
    lab = labs.deploy(reference_document())
    assert lab.state == "running", lab.reason
    console = Terminal(lab, "c1", owner)
    r1 = Terminal(lab, "r1", owner)

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

    before, after, elapsed = run(body)
    print(f"flood of {FLOOD_BYTES} bytes (base64) in {elapsed:.2f} s; relay RSS {before} -> {after} KiB")
    assert after - before < 48 * 1024, f"relay RSS grew from {before} to {after} KiB"
    for c in (console, r1):
        assert c.statuses[-1]["state"] == "closed", c.statuses
        assert c.statuses[-1]["message"] == "the node stopped"


def test_it_ends_the_shell_when_the_browser_leaves_and_when_the_shell_exits(labs, owner, relay):
    lab = labs.deploy(reference_document())
    shells = _shells(labs, lab, "c2")
    console = Terminal(lab, "c2", owner)

    async def leave():
        await console.open()
        await console.type("echo in-$((1+1))\n")
        await console.read_until(rb"[\r\n]in-2\r\n")
        during = await sync_to_async(_shells)(labs, lab, "c2")
        await console.ws.disconnect()
        return during

    assert run(leave) == shells + 1
    deadline = time.monotonic() + 10
    while _shells(labs, lab, "c2") != shells and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _shells(labs, lab, "c2") == shells, "the shell outlived its websocket"

    second = Terminal(lab, "c2", owner)

    async def exit_shell():
        await second.open()
        await second.type("exit\n")
        return await second.wait_closed()

    assert run(exit_shell) == 1000
    assert second.statuses[-1] == {"type": "status", "state": "closed", "message": "the shell ended"}


async def _raw_open(lab, node: str, me: str) -> dict:
    """Open a console by talking to the relay directly, as a web process does: the "opened" answer."""
    layer = get_channel_layer(LAYER)
    container = await sync_to_async(lambda: lab.nodes.get(name=node).container_id)()
    await layer.send(channel_name(settings.TOPOLAB_SITE, lab.queue), {
        "type": "console.open", "reply": me, "lab": lab.pk, "node": node, "container": container,
        "cols": 80, "rows": 24, "deadline": time.time() + 10})
    opened = await asyncio.wait_for(layer.receive(me), 15)
    assert opened["type"] == "console.opened", opened
    return opened


def test_it_drops_the_oldest_output_of_a_client_that_does_not_read_and_stays_small(labs, relay):
    # A web process whose browser stops reading stops acknowledging: the relay stops at its window,
    # keeps reading the shell into its bounded buffer and drops the oldest output, never more memory.
    lab = labs.deploy(reference_document())

    async def body():
        layer = get_channel_layer(LAYER)
        me = await layer.new_channel()
        opened = await _raw_open(lab, "c1", me)
        before = relay.rss_kib()
        await layer.send(opened["session"], {
            "type": "console.input", "reply": me,
            "data": "head -c 30000000 /dev/zero | base64; echo FLOOD_$((40+2))\n"})
        await asyncio.sleep(6)  # not reading (so not acknowledging) meanwhile
        during = relay.rss_kib()
        received, statuses = bytearray(), []
        total = acked = 0
        while not re.search(rb"^FLOOD_42\r?$", received, re.M):
            message = await asyncio.wait_for(layer.receive(me), 30)
            if message["type"] == "console.output":
                total += len(message["data"])
                received = received[-256:] + message["data"]
                if total - acked >= ACK_EVERY:
                    acked = total
                    await layer.send(opened["session"], {"type": "console.ack", "reply": me, "bytes": total})
            else:
                statuses.append(message)
        await layer.send(opened["session"], {"type": "console.close", "reply": me})
        return before, during, statuses, total

    before, during, statuses, total = run(body)
    assert any(s["state"] == "dropped" for s in statuses), statuses
    assert total < 30_000_000 * 4 // 3, "nothing was dropped"
    assert during - before < 48 * 1024, f"relay RSS grew from {before} to {during} KiB"


def test_a_reconnect_gets_the_same_shell_with_what_it_printed_meanwhile(labs, owner, relay):
    lab = labs.deploy(reference_document())
    shells = _shells(labs, lab, "c1")
    console = Terminal(lab, "c1", owner)

    async def body():
        opened = await console.open()
        assert opened["resumed"] is False and opened["session"]
        await console.type("echo pid-$$\n")
        pid = (await console.read_until(rb"[\r\n]pid-(\d+)\r\n")).group(1)
        await console.type("sleep 1; echo LATER-$((6*7))\n")
        await console.drop()  # the network goes away before LATER is printed
        await asyncio.sleep(2.5)
        assert await sync_to_async(_shells)(labs, lab, "c1") == shells + 1, "the shell did not wait"
        mark = len(console.output)
        again = await console.open_with(f"cols=90&rows=30&session={opened['session']}")
        await console.read_until(rb"LATER-42\r\n", since=mark)
        await console.type("echo pid-$$; stty size\n")
        found = await console.read_until(rb"[\r\n]pid-(\d+)\r\n30 90\r\n", since=mark)
        await console.leave()
        return again, pid, found.group(1)

    again, before, after = run(body)
    assert again == {"type": "status", "state": "open", "message": "reconnected to the same shell",
                     "session": again["session"], "resumed": True}
    assert before == after, "a new shell answered"
    _wait_for_shells(labs, lab, "c1", shells)


def _wait_for_shells(labs, lab, node: str, count: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while _shells(labs, lab, node) != count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _shells(labs, lab, node) == count, f"{_shells(labs, lab, node)} shells in {node}, not {count}"


@pytest.fixture
def impatient_relay(relay, tmp_path):
    """The relay, restarted to keep a dropped shell 1 s and to count a client silent for 2 s as gone."""
    relay.stop()
    process = RelayProcess(settings.TOPOLAB_QUEUE, tmp_path / "relay.log", "--keep", "1", "--silence", "2")
    process.start()
    yield process
    process.stop()
    relay.start()


def test_after_a_minute_away_a_reconnect_gets_a_new_shell_and_says_so(labs, owner, impatient_relay):
    lab = labs.deploy(reference_document())
    shells = _shells(labs, lab, "c2")
    console = Terminal(lab, "c2", owner)

    async def away():
        opened = await console.open()
        await console.drop()
        return opened["session"]

    token = run(away)
    _wait_for_shells(labs, lab, "c2", shells)  # the relay gave up on it (after 1 s here, a minute in production)

    async def back():
        again = await console.open_with(f"cols=80&rows=24&session={token}")
        await console.type("echo new-$((1+1))\n")
        await console.read_until(rb"[\r\n]new-2\r\n")
        await console.leave()
        return again

    again = run(back)
    assert again["resumed"] is False and again["session"] != token
    assert again["message"] == ("the previous shell is gone (it ended, or waited over a minute for you): "
                                "this is a new shell")


def test_a_shell_whose_web_process_died_is_ended_by_the_relay(labs, impatient_relay):
    # A web process that crashes says nothing: the relay notices its silence, keeps the shell
    # for the reconnect that never comes, then ends it.
    lab = labs.deploy(reference_document())
    shells = _shells(labs, lab, "r1")

    async def crash():
        await _raw_open(lab, "r1", await get_channel_layer(LAYER).new_channel())
        return await sync_to_async(_shells)(labs, lab, "r1")

    assert run(crash) == shells + 1
    _wait_for_shells(labs, lab, "r1", shells, timeout=15)


def test_a_console_whose_relay_stops_answering_says_so(labs, owner, relay, monkeypatch):
    monkeypatch.setattr(ConsoleConsumer, "heartbeat", 0.5)
    monkeypatch.setattr(console_module, "SILENCE", 2.0)
    lab = labs.deploy(reference_document())
    console = Terminal(lab, "c1", owner)

    async def body():
        await console.open()
        os.kill(relay.pid, signal.SIGSTOP)  # hung, as a relay stuck on a dead Docker Engine would be
        try:
            return await console.wait_closed(timeout=15)
        finally:
            os.kill(relay.pid, signal.SIGCONT)

    assert run(body) == NOT_AVAILABLE
    assert console.statuses[-1] == {"type": "status", "state": "error",
                                    "message": "the console relay of this lab's host is not answering"}


def test_logs_follow_the_nodes_own_output_from_the_start(labs, owner, relay):
    lab = labs.deploy(reference_document())
    # What the node's main process prints: written to its stdout and stderr from inside.
    assert labs.run(lab, "c1", "sh", "-c", "echo early-out >/proc/1/fd/1; echo early-err >/proc/1/fd/2")[0] == 0
    logs = Terminal(lab, "c1", owner, kind="logs", query="")

    async def body():
        await logs.open()
        await logs.read_until(rb"early-out\n(.|\n)*early-err\n|early-err\n(.|\n)*early-out\n")
        assert logs.output.startswith(b"c1: started by Topolab\n"), bytes(logs.output[:200])
        await logs.type("echo typed\n")  # a log has no input: ignored
        await sync_to_async(labs.run)(lab, "c1", "sh", "-c", "echo live-$((3*3)) >/proc/1/fd/1")
        await logs.read_until(rb"live-9\n")
        await sync_to_async(labs.destroy)(lab)
        return await logs.wait_closed()

    assert run(body) == 1000
    assert b"typed" not in logs.output
    assert logs.statuses[-1] == {"type": "status", "state": "closed", "message": "the node stopped"}


def test_another_users_token_never_reaches_the_shell_it_names(labs, owner, relay):
    # Mallory learns Alice's session token (a shoulder, a screenshot): on her own node it opens a
    # new shell of hers; on Alice's node she is refused before any token is looked at.
    from django.contrib.auth import get_user_model

    from tests.integration.conftest import Labs

    alice_lab = labs.deploy(reference_document())
    mallory = get_user_model().objects.create_user("mallory", password="pw-mallory-1")
    theirs = Labs(mallory)
    mallory_lab = theirs.deploy({**reference_document(), "name": "mallorys-lab"})
    alice = Terminal(alice_lab, "c1", owner)
    on_hers, on_alices = Terminal(mallory_lab, "c1", mallory), Terminal(alice_lab, "c1", mallory)

    async def body():
        opened = await alice.open()
        await alice.type("echo secret-$((5*5)) > /tmp/mark; echo pid-$$\n")
        await alice.read_until(rb"[\r\n]pid-\d+\r\n")
        again = await on_hers.open_with(f"session={opened['session']}")
        await on_hers.type("cat /tmp/mark 2>&1; echo end-$((1+1))\n")
        found = await on_hers.read_until(rb"[\r\n]end-2\r\n")
        await on_hers.leave()
        on_alices.ws = on_alices._communicator(f"session={opened['session']}")
        connected, _ = await on_alices.ws.connect()
        refusal = await on_alices.ws.receive_output(timeout=5) if connected else {"code": None}
        await on_alices.ws.disconnect()
        await alice.type("echo still-$((3+4))\n")
        await alice.read_until(rb"[\r\n]still-7\r\n")
        await alice.leave()
        return again, bytes(on_hers.output[:found.end()]), refusal

    try:
        again, output, refusal = run(body)
    finally:
        theirs.destroy(mallory_lab)
    assert again["resumed"] is False
    assert b"secret-25" not in output and b"No such file" in output
    assert refusal.get("code") == 4403


def test_two_consoles_of_one_user_on_one_node_are_two_working_shells(labs, owner, relay):
    """A second console on the same node (another tab) is a shell of its own; the first keeps working."""
    lab = labs.deploy(reference_document())
    first, second = Terminal(lab, "c1", owner), Terminal(lab, "c1", owner)

    async def body():
        one = await first.open()
        two = await second.open()
        assert one["session"] != two["session"]
        await first.type("echo first-$((1+1))\n")
        await second.type("echo second-$((2+2))\n")
        await first.read_until(rb"first-2\r\n")
        await second.read_until(rb"second-4\r\n")
        await first.type("echo again-$((3+3))\n")
        await first.read_until(rb"again-6\r\n")
        assert b"second-4" not in first.output and b"first-2" not in second.output
        await first.leave()
        await second.leave()

    run(body)
