"""The cap on a user's open terminals (consoles, logs and watches together), through the whole ASGI stack.

As in ``test_console_socket.py``, the test plays the relay on the run's own channel layer; the count
itself is the run's real Redis (:mod:`topology.websockets.terminals`).
"""
from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from tests.unit import test_console_socket as sockets
from tests.unit.test_console_socket import assigned, instructors, running  # noqa: F401 (fixtures)
from tests.websockets import fresh_channel_layer, run  # noqa: F401 (autouse)
from topology.websockets import terminals
from topology.websockets.console import ConsoleConsumer
from topology.websockets.relayed import TOO_MANY

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def clean_count(alice):
    """Alice starts with no terminal counted (a dropped console of an earlier test would count a minute)."""
    terminals.forget(alice.pk)
    yield
    terminals.forget(alice.pk)


def refusal(cap: int) -> dict:
    return {"type": "status", "state": "error",
            "message": f"you have {cap} terminal{'s' if cap != 1 else ''} open; close one first"}


async def count(user) -> int:
    return await database_sync_to_async(terminals.open_terminals)(user.pk)


async def nothing_asked(lab, timeout: float = 0.5) -> bool:
    """Whether the relay's channel (subscribed to already) stays silent."""
    try:
        await sockets.next_message(sockets.relay_channel(lab), timeout)
    except asyncio.TimeoutError:
        return True
    return False


def test_one_terminal_more_than_the_cap_is_refused_before_the_relay_is_asked_and_closing_one_frees_a_place(
        running, alice, settings):  # noqa: F811
    settings.TOPOLAB_MAX_TERMINALS_PER_USER = 2
    console = sockets.communicator(running.topology_id, user=alice)
    logs = sockets.communicator(running.topology_id, "c2", user=alice, kind="logs")
    extra = sockets.communicator(running.topology_id, "r1", user=alice)
    later = sockets.communicator(running.topology_id, "r1", user=alice, kind="logs")

    async def body():
        for ws in (console, logs):
            await sockets.play_relay(running, ws)
            assert (await ws.receive_json_from(timeout=5))["state"] == "open"
        two = await count(alice)
        refused = await sockets.ended(extra)
        silent = await nothing_asked(running)
        await console.disconnect(code=1000)  # the user closes a console: its place is free at once
        one = await count(alice)
        request, _ = await sockets.play_relay(running, later)
        reopened = await later.receive_json_from(timeout=5)
        three = await count(alice)
        for ws in (logs, later):
            await ws.disconnect(code=1000)
        return two, refused, silent, one, request, reopened, three, await count(alice)

    two, refused, silent, one, request, reopened, three, none = run(body)
    assert two == 2
    assert refused == (refusal(2), TOO_MANY) and TOO_MANY == 4429
    assert silent  # the relay was never asked for the third
    assert one == 1
    assert request["type"] == "logs.open" and reopened["state"] == "open"
    assert three == 2 and none == 0


def test_the_places_of_a_crashed_web_process_lapse_while_a_live_terminal_keeps_its_own(running, alice, settings,  # noqa: F811
                                                                                        monkeypatch):
    settings.TOPOLAB_MAX_TERMINALS_PER_USER = 2
    # A place lives 3 heartbeats + the open timeout unless renewed: about a second here.
    monkeypatch.setattr(ConsoleConsumer, "heartbeat", 0.2)
    monkeypatch.setattr(ConsoleConsumer, "open_timeout", 0.4)
    live = sockets.communicator(running.topology_id, user=alice)
    refused_ws = sockets.communicator(running.topology_id, "r1", user=alice)
    after = sockets.communicator(running.topology_id, "r1", user=alice)

    async def body():
        # What a web process that then crashed left: a place taken as a consumer takes it, never renewed.
        await database_sync_to_async(terminals.take)(alice.pk, 1.0)
        await sockets.play_relay(running, live)
        await live.receive_json_from(timeout=5)
        refused = await sockets.ended(refused_ws)
        await asyncio.sleep(2.5)  # past both lifetimes: only the renewed place remains
        remaining = await count(alice)
        await sockets.play_relay(running, after)
        reopened = await after.receive_json_from(timeout=5)
        for ws in (live, after):
            await ws.disconnect(code=1000)
        return refused, remaining, reopened

    refused, remaining, reopened = run(body)
    assert refused == (refusal(2), TOO_MANY)
    assert remaining == 1  # the live console, renewed at each heartbeat
    assert reopened["state"] == "open"


def test_a_reconnect_that_resumes_the_shell_does_not_count_twice(running, alice, settings):  # noqa: F811
    settings.TOPOLAB_MAX_TERMINALS_PER_USER = 1
    first = sockets.communicator(running.topology_id, user=alice)
    fresh = sockets.communicator(running.topology_id, "r1", user=alice)
    back = sockets.communicator(running.topology_id, user=alice, query="?session=tok-1")
    pretender = sockets.communicator(running.topology_id, "r1", user=alice, query="?session=tok-other")
    other_window = sockets.communicator(running.topology_id, user=alice, query="?session=tok-1")

    async def body():
        await sockets.play_relay(running, first)  # the relay names the shell tok-1
        await first.receive_json_from(timeout=5)
        await first.disconnect(code=1006)  # dropped: the shell waits on the relay, and still counts
        dropped = await count(alice)
        refused_new = await sockets.ended(fresh)
        request, _ = await sockets.play_relay(running, back, resumed=True)
        resumed = await back.receive_json_from(timeout=5)
        after_resume = await count(alice)
        refused_pretender = await sockets.ended(pretender)  # a token of no shell of hers is no way around the cap
        # The same shell opened in another window while this one is attached: it takes the place over.
        taken, _ = await sockets.play_relay(running, other_window, resumed=True)
        await other_window.receive_json_from(timeout=5)
        await sockets.layer().send(request["reply"], {"type": "console.status", "state": "closed",
                                              "message": "this console was opened in another window"})
        displaced = await back.receive_json_from(timeout=5)
        assert (await back.receive_output(timeout=5))["type"] == "websocket.close"
        await back.disconnect()
        after_takeover = await count(alice)
        await other_window.disconnect(code=1000)
        return (dropped, refused_new, request, resumed, after_resume, refused_pretender, taken, displaced,
                after_takeover, await count(alice))

    (dropped, refused_new, request, resumed, after_resume, refused_pretender, taken, displaced,
     after_takeover, closed) = run(body)
    assert dropped == 1
    assert refused_new == (refusal(1), TOO_MANY)
    assert request["resume"] == "tok-1" and resumed["resumed"] is True
    assert after_resume == 1
    assert refused_pretender == (refusal(1), TOO_MANY)
    assert taken["resume"] == "tok-1" and displaced["state"] == "closed"
    assert after_takeover == 1  # the window that lost the shell gave back nothing of the one that has it
    assert closed == 0


def test_a_log_takes_a_place_and_any_end_of_it_frees_the_place(running, alice, settings):  # noqa: F811
    settings.TOPOLAB_MAX_TERMINALS_PER_USER = 1
    logs = sockets.communicator(running.topology_id, user=alice, kind="logs")
    console = sockets.communicator(running.topology_id, user=alice)

    async def body():
        await sockets.play_relay(running, logs)
        await logs.receive_json_from(timeout=5)
        refused = await sockets.ended(console)
        await logs.disconnect(code=1006)  # a log has nothing to resume: any end frees its place
        return refused, await count(alice)

    refused, left = run(body)
    assert refused == (refusal(1), TOO_MANY)
    assert left == 0


def test_a_supervisors_watch_counts_for_the_supervisor(assigned, carol, settings):  # noqa: F811
    settings.TOPOLAB_MAX_TERMINALS_PER_USER = 1
    terminals.forget(carol.pk)
    watch = sockets.communicator(assigned.topology_id, user=carol, query="?mode=watch")
    logs = sockets.communicator(assigned.topology_id, "c2", user=carol, kind="logs")

    async def body():
        await sockets.play_relay(assigned, watch)
        await watch.receive_json_from(timeout=5)
        watching = await count(carol)
        refused = await sockets.ended(logs)
        await watch.disconnect(code=1006)  # a watcher's leaving, however it ends, keeps nothing
        return watching, refused, await count(carol)

    try:
        watching, refused, left = run(body)
    finally:
        terminals.forget(carol.pk)
    assert watching == 1
    assert refused == (refusal(1), TOO_MANY)
    assert left == 0
