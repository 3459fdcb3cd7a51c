"""A resumed console asked to "replay" (a new, empty terminal: a pop-out, a reload) gets the session's recent output
first; a plain resume (a reconnect) gets only what it missed. Fake layer, shell and runtime (no Redis, no Docker)."""
from __future__ import annotations

import asyncio

from tests.unit.test_relay_session import CONSUMER, CONTAINER, LAB, NODE, SITE, FakeLayer, FakeRuntime, FakeShell
from tests.websockets import run
from topology.relay import server


async def received(layer: FakeLayer, channel: str, want: bytes, timeout: float = 5) -> bytes:
    """The output ``channel`` gets until it ends with ``want``."""
    got = b""
    while not got.endswith(want):
        message = await asyncio.wait_for(layer.receive(channel), timeout)
        if message["type"] == "console.output":
            got += message["data"]
    return got


async def resumed_by(relay, layer, token: str, channel: str, replay: bool) -> None:
    await relay._handle({"type": "console.open", "reply": channel, "lab": LAB, "node": NODE, "container": CONTAINER,
                         "deadline": 2e9, "resume": token, "cols": 100, "rows": 30, **({"replay": True} if replay else {})})
    message = await asyncio.wait_for(layer.receive(channel), 5)
    assert message["type"] == "console.opened" and message["resumed"] is True, message


def scenario(replay: bool, recent_limit: int = 64 * 1024, before: bytes = b"BEFORE-42\r\n\x1b[31mRED\x1b[0m\r\n"):
    async def body():
        layer = FakeLayer()
        relay = server.Relay(SITE, "lab.test", layer=layer, runtime=FakeRuntime(), recent_limit=recent_limit)
        await relay._handle({"type": "console.open", "reply": CONSUMER, "lab": LAB, "node": NODE,
                             "container": CONTAINER, "deadline": 2e9, "resume": ""})
        opened = await asyncio.wait_for(layer.receive(CONSUMER), 5)
        session = relay.sessions[opened["token"]]
        await shell_output(session, before + b"$ ")
        assert (await received(layer, CONSUMER, b"$ ")).endswith(b"$ ")
        session.detach()
        await shell_output(session, b"while-away\r\n")
        await asyncio.sleep(0.05)
        await resumed_by(relay, layer, opened["token"], "consumer.2", replay)
        got = await received(layer, "consumer.2", b"while-away\r\n")
        for task in list(relay.tasks):
            task.cancel()
        await asyncio.gather(*relay.tasks, return_exceptions=True)
        return got

    def shell_output(session, data):
        return session.source.output.put(data)

    return run(body)


def test_a_replayed_resume_gets_the_screen_first_then_what_came_meanwhile(monkeypatch):
    monkeypatch.setattr(server, "ShellSource", lambda *a, **k: FakeShell())
    assert scenario(True) == b"BEFORE-42\r\n\x1b[31mRED\x1b[0m\r\n$ while-away\r\n"


def test_a_plain_resume_gets_only_what_it_missed(monkeypatch):
    monkeypatch.setattr(server, "ShellSource", lambda *a, **k: FakeShell())
    assert scenario(False) == b"while-away\r\n"


def test_a_replay_of_a_long_session_starts_at_a_line(monkeypatch):
    monkeypatch.setattr(server, "ShellSource", lambda *a, **k: FakeShell())
    lines = b"".join(b"line-%04d\r\n" % i for i in range(200))
    got = scenario(True, recent_limit=500, before=lines)
    assert got.startswith(b"line-") and got.endswith(b"line-0199\r\n$ while-away\r\n")
    assert len(got) <= 500
