"""An instructor watches, then takes over, a student's console: the real relay, a real lab, two websockets.

The student owns a copy of an assignment of the instructor's course (so the instructor supervises it);
both connect through the whole ASGI stack, signed in, as their browsers would::

    c1 eth0 ---- eth0 r1 eth1 ---- eth0 c2
"""
from __future__ import annotations

import re

from asgiref.sync import sync_to_async

from tests.classroom import supervised
from tests.documents import reference_document
from tests.integration.test_console import Terminal, _shells
from tests.websockets import fresh_channel_layer, run  # noqa: F401 (autouse)

MARKER = "/tmp/watcher-was-here"


def test_an_instructor_watches_a_students_console_then_takes_it_over(labs, owner, relay):
    lab = labs.deploy(reference_document())
    assert lab.state == "running", lab.reason
    instructor = supervised(lab)
    shells = _shells(labs, lab, "c1")
    nobody = Terminal(lab, "c1", instructor, query="mode=watch")
    student = Terminal(lab, "c1", owner)
    watcher = Terminal(lab, "c1", instructor, query="mode=watch")
    taker = Terminal(lab, "c1", instructor, query="mode=control")
    seen = {}

    async def body():
        # Nothing to watch yet: said, and no shell is started for it.
        assert (await nobody.ws.connect())[0]
        seen["nobody"] = await nobody.next_status()
        seen["nobody closed"] = await nobody.wait_closed()
        seen["shells while nobody"] = await sync_to_async(_shells)(labs, lab, "c1")

        await student.open()
        await student.type("echo ready-$((1+1))\n")
        await student.read_until(rb"[\r\n]ready-2\r\n")

        seen["watching"] = await watcher.open()
        seen["joined"] = await student.next_status()
        await watcher.read_until(rb"[\r\n]ready-2\r\n")  # the screen as it was, first
        await student.type("echo hello-watch\n")
        await watcher.read_until(rb"[\r\n]hello-watch\r\n")  # then live

        # The watcher types and resizes: none of it reaches the shell.
        await watcher.type(f"touch {MARKER}; echo WATCHER-$((3*3))\n")
        await watcher.resize(33, 11)
        mark = len(student.output)
        await student.type("stty size; echo after-$((2+3))\n")
        await student.read_until(rb"[\r\n]after-5\r\n", since=mark)
        await watcher.read_until(rb"[\r\n]after-5\r\n", since=mark)
        seen["student screen"], seen["watcher screen"] = bytes(student.output), bytes(watcher.output)
        seen["marker"] = (await sync_to_async(labs.run)(lab, "c1", "test", "-e", MARKER))[0]

        # "Take over": the watcher leaves, and comes back in control mode.
        await watcher.leave()
        seen["left"] = await student.next_status()
        seen["controlling"] = await taker.open()
        seen["taken"] = await student.next_status()
        await taker.type(f"touch {MARKER}; echo typed-by-$((40+2))\n")
        await student.read_until(rb"[\r\n]typed-by-42\r\n")
        await taker.read_until(rb"[\r\n]typed-by-42\r\n")
        seen["marker after"] = (await sync_to_async(labs.run)(lab, "c1", "test", "-e", MARKER))[0]

        # The student closes the console: the shell ends, and so does the instructor's view of it.
        await student.leave()
        seen["ended"] = await taker.next_status()
        seen["ended code"] = await taker.wait_closed()

    run(body)
    assert seen["nobody"] == {"type": "status", "state": "closed", "message": "student has no console open on c1"}
    assert seen["nobody closed"] == 1000
    assert seen["shells while nobody"] == shells

    assert seen["watching"]["message"] == "watching student's console: you cannot type"
    assert "session" not in seen["watching"]
    assert {k: seen["joined"][k] for k in ("state", "message", "mode")} == {
        "state": "joined", "message": "Tess Ng is watching your console", "mode": "watch"}
    assert b"WATCHER-" not in seen["student screen"] and b"WATCHER-" not in seen["watcher screen"]
    assert re.search(rb"[\r\n]24 80\r\n", seen["student screen"])  # the watcher's resize did not reach the terminal
    assert seen["marker"] == 1  # the file the watcher tried to make does not exist

    assert seen["left"] == {"type": "status", "state": "left", "message": "Tess Ng left your console",
                            "by": seen["joined"]["by"]}
    assert seen["controlling"]["message"] == "you can type in student's console; they see that you joined"
    assert {k: seen["taken"][k] for k in ("state", "message", "mode")} == {
        "state": "joined", "message": "Tess Ng joined your console and can type", "mode": "control"}
    assert seen["marker after"] == 0
    assert seen["ended"] == {"type": "status", "state": "closed", "message": "the student closed this console"}
    assert seen["ended code"] == 1000


def test_destroying_the_lab_ends_the_students_and_the_watchers_consoles(labs, owner, relay):
    lab = labs.deploy(reference_document())
    instructor = supervised(lab)
    student = Terminal(lab, "c2", owner)
    watcher = Terminal(lab, "c2", instructor, query="mode=watch")

    async def body():
        await student.open()
        await watcher.open()
        await student.next_status()  # joined
        await sync_to_async(labs.destroy)(lab)
        return await student.wait_closed(), await watcher.wait_closed()

    assert run(body) == (1000, 1000)
    for terminal in (student, watcher):
        assert terminal.statuses[-1] == {"type": "status", "state": "closed", "message": "the node stopped"}
