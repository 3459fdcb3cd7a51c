"""Supervisors watching and taking over a console session in the relay, with the fake layer, shell and runtime
of ``test_relay_session`` (no Redis, no Docker).

What is checked: a watcher gets the session's recent output, then its output live; a watch-mode
watcher's input and any watcher's resize never reach the shell, a control-mode watcher's input does;
the student is told "joined" before the watcher is even "opened", and "left" when it goes; a watcher
that falls behind loses output (and is told so) while the student gets everything at full speed;
nobody to watch is said, and no shell is started. (End to end: ``tests/integration/test_console_watch.py``.)
"""
from __future__ import annotations

import asyncio
import time

from tests.unit.test_relay_session import CONTAINER, LAB, NODE, SITE, FakeLayer, FakeRuntime, FakeShell
from tests.websockets import run
from topology.relay import OUTPUT_BATCH, WINDOW, server

STUDENT, WATCHER, TAKER = "consumer.student", "consumer.watcher", "consumer.taker"


async def receive(layer: FakeLayer, channel: str, timeout: float = 5) -> dict:
    return await asyncio.wait_for(layer.receive(channel), timeout)


async def output(layer: FakeLayer, channel: str, count: int, *, ack_to: str | None = None) -> bytes:
    """``count`` output bytes sent to ``channel`` (acknowledging them on session ``ack_to`` as they come);
    fails on any other message."""
    data = bytearray()
    while len(data) < count:
        message = await receive(layer, channel)
        assert message["type"] == "console.output", message
        data += message["data"]
        if ack_to:
            await layer.send(ack_to, {"type": "console.ack", "bytes": len(data), "reply": channel})
    return bytes(data)


async def student_session(layer: FakeLayer, shell: FakeShell, **options):
    """A relay and the student's open console on c1: (relay, the session's task, its channel)."""
    relay = server.Relay(SITE, "lab.test", layer=layer, runtime=FakeRuntime(), **options)
    request = {"type": "console.open", "reply": STUDENT, "lab": LAB, "node": NODE, "container": CONTAINER}
    task = asyncio.create_task(server.Session(relay, request, shell).run())
    opened = await receive(layer, STUDENT)
    assert opened["type"] == "console.opened" and opened["token"], opened
    return relay, task, opened["session"]


def watch_request(reply: str, mode: str = "watch", name: str = "Carol Teacher") -> dict:
    return {"type": "console.watch", "reply": reply, "lab": LAB, "node": NODE, "container": CONTAINER,
            "mode": mode, "name": name, "owner": "alice", "deadline": time.time() + 10}


def test_a_watcher_sees_the_screen_then_everything_live_and_its_typing_goes_nowhere():
    async def body():
        layer, shell = FakeLayer(), FakeShell()
        relay, task, session = await student_session(layer, shell, recent_limit=1000)
        earlier = bytes(range(256)) * 10  # more than the 1000 recent bytes kept
        await shell.output.put(earlier)
        assert await output(layer, STUDENT, len(earlier)) == earlier

        await relay._handle(watch_request(WATCHER))
        opened = await receive(layer, WATCHER)
        told = layer.queues[STUDENT].get_nowait()  # already there when the watcher was opened
        screen = await output(layer, WATCHER, 1000)
        await shell.output.put(b"live\r\n")
        live = await output(layer, WATCHER, 6), await output(layer, STUDENT, 6)

        await layer.send(session, {"type": "console.input", "data": "touch /tmp/marker\n", "reply": WATCHER})
        await layer.send(session, {"type": "console.resize", "cols": 10, "rows": 5, "reply": WATCHER})
        await layer.send(session, {"type": "console.ping", "reply": WATCHER})
        pong = await receive(layer, WATCHER)  # the messages before it were handled
        await layer.send(session, {"type": "console.close", "reply": WATCHER})  # the watcher leaves
        left = await receive(layer, STUDENT)
        still_running = not task.done() and not shell.closed
        await layer.send(session, {"type": "console.close", "reply": STUDENT})
        await asyncio.wait_for(task, 5)
        return opened, told, screen, live, pong, left, still_running, shell, earlier

    opened, told, screen, live, pong, left, still_running, shell, earlier = run(body)
    assert opened["type"] == "console.opened" and opened["mode"] == "watch"
    assert opened["token"] == ""  # a watcher can never resume (take) the student's session
    assert told["type"] == "console.status" and told["state"] == "joined" and told["mode"] == "watch"
    assert told["message"] == "Carol Teacher is watching your console"
    assert screen == earlier[-1000:]
    assert live == (b"live\r\n", b"live\r\n")
    assert pong == {"type": "console.pong"}
    assert shell.writes == []  # the watcher's typing never reached the shell
    assert left == {"type": "console.status", "state": "left", "message": "Carol Teacher left your console",
                    "by": told["by"]}
    assert still_running  # a watcher leaving never ends the student's shell


def test_control_mode_types_into_the_shell_after_the_student_was_told_and_never_resizes_it():
    resizes = []

    class Shell(FakeShell):
        async def resize(self, cols, rows):
            resizes.append((cols, rows))

    async def body():
        layer, shell = FakeLayer(), Shell()
        relay, task, session = await student_session(layer, shell)
        await relay._handle(watch_request(TAKER, "control", "Carol Teacher"))
        opened = await receive(layer, TAKER)
        told = layer.queues[STUDENT].get_nowait()
        await layer.send(session, {"type": "console.resize", "cols": 10, "rows": 5, "reply": TAKER})
        await layer.send(session, {"type": "console.input", "data": "echo from-carol\n", "reply": TAKER})
        await layer.send(session, {"type": "console.input", "data": "echo from-alice\n", "reply": STUDENT})
        await layer.send(session, {"type": "console.ping", "reply": STUDENT})
        await receive(layer, STUDENT)  # the pong: everything before it was handled
        # The student closes the console: the shell ends, and so does the watcher's view.
        await layer.send(session, {"type": "console.close", "reply": STUDENT})
        ended = await receive(layer, TAKER)
        await asyncio.wait_for(task, 5)
        return opened, told, shell, ended

    opened, told, shell, ended = run(body)
    assert opened["mode"] == "control"
    assert told["state"] == "joined" and told["mode"] == "control"
    assert told["message"] == "Carol Teacher joined your console and can type"
    assert shell.writes == [b"echo from-carol\n", b"echo from-alice\n"]
    assert resizes == []
    assert ended == {"type": "console.status", "state": "closed", "message": "the student closed this console"}
    assert shell.closed


def test_a_slow_watcher_loses_output_and_the_student_gets_everything_without_waiting(monkeypatch):
    # Were the session to wait for the watcher, the reader would stall (STALL) and the test would take that long.
    monkeypatch.setattr(server, "STALL", 30.0)
    flood = b"".join(bytes([65 + i % 26]) * OUTPUT_BATCH for i in range(48))  # 3 MiB, far beyond the watcher's room

    async def body():
        layer, shell = FakeLayer(), FakeShell()
        relay, task, session = await student_session(layer, shell, buffer_limit=4 * OUTPUT_BATCH,
                                                     watch_limit=4 * OUTPUT_BATCH)
        await relay._handle(watch_request(WATCHER))
        assert (await receive(layer, WATCHER))["type"] == "console.opened"
        layer.queues[STUDENT].get_nowait()  # "joined"
        began = time.monotonic()
        for i in range(0, len(flood), OUTPUT_BATCH):
            await shell.output.put(flood[i:i + OUTPUT_BATCH])
        got = await output(layer, STUDENT, len(flood), ack_to=session)  # the student keeps up
        took = time.monotonic() - began
        student_left = [layer.queues[STUDENT].get_nowait() for _ in range(layer.queues[STUDENT].qsize())]
        # The watcher acknowledged nothing so far; now it catches up with what is left for it.
        seen, lost, statuses = bytearray(), 0, []
        while len(seen) + lost < len(flood):
            message = await receive(layer, WATCHER)
            if message["type"] == "console.output":
                seen += message["data"]
                await layer.send(session, {"type": "console.ack", "bytes": len(seen), "reply": WATCHER})
            else:
                statuses.append(message)
                lost += int(message["message"].split()[0])
        await layer.send(session, {"type": "console.close", "reply": STUDENT})
        await asyncio.wait_for(task, 5)
        return got, took, student_left, bytes(seen), lost, statuses

    got, took, student_left, seen, lost, statuses = run(body)
    assert got == flood and student_left == []  # whole, in order, nothing dropped for the student
    assert took < 10
    assert statuses and all(s["type"] == "console.status" and s["state"] == "dropped" for s in statuses)
    assert statuses[0]["message"].endswith("bytes of output were dropped: the connection was too slow")
    assert 0 < lost and len(seen) + lost == len(flood)
    assert len(seen) <= WINDOW + 4 * OUTPUT_BATCH  # a window in flight, and its own buffer: no more
    assert seen[:OUTPUT_BATCH] == flood[:OUTPUT_BATCH] and seen[-OUTPUT_BATCH:] == flood[-OUTPUT_BATCH:]


def test_nobody_to_watch_is_said_and_no_shell_is_started():
    async def body():
        layer = FakeLayer()
        relay = server.Relay(SITE, "lab.test", layer=layer, runtime=FakeRuntime())
        await relay._handle(watch_request(WATCHER))
        message = await receive(layer, WATCHER)
        await asyncio.sleep(0.1)
        return message, relay.sessions

    message, sessions = run(body)
    assert message == {"type": "console.status", "state": "closed", "message": "alice has no console open on c1"}
    assert sessions == {}


def test_a_student_window_that_comes_back_is_told_who_is_there_and_a_silent_watcher_is_let_go(monkeypatch):
    monkeypatch.setattr(server, "WATCH_EVERY", 0.05)

    async def body():
        layer, shell = FakeLayer(), FakeShell()
        relay, task, session = await student_session(layer, shell, silence=1.0)
        token = next(iter(relay.sessions))
        await relay._handle(watch_request(WATCHER))
        await receive(layer, WATCHER)
        joined = await receive(layer, STUDENT)
        await layer.send(session, {"type": "console.detach", "reply": STUDENT})
        await relay._handle({"type": "console.open", "reply": "consumer.student-2", "lab": LAB, "node": NODE,
                             "container": CONTAINER, "resume": token, "deadline": time.time() + 10})
        back = [await receive(layer, "consumer.student-2") for _ in range(2)]
        # The new window pings, the watcher says nothing: after `silence`, it is let go.
        began = time.monotonic()
        while True:
            await layer.send(session, {"type": "console.ping", "reply": "consumer.student-2"})
            message = await receive(layer, "consumer.student-2")
            if message["type"] != "console.pong":
                break
            await asyncio.sleep(0.1)
        waited = time.monotonic() - began
        await layer.send(session, {"type": "console.close", "reply": "consumer.student-2"})
        await asyncio.wait_for(task, 5)
        return joined, back, message, waited

    joined, back, left, waited = run(body)
    assert back[0]["type"] == "console.opened" and back[0]["resumed"] is True
    assert back[1] == joined
    assert left["state"] == "left" and left["by"] == joined["by"]
    assert 0.5 < waited < 4
