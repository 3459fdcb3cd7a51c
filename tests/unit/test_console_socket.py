"""The console and logs websockets, ``/ws/topologies/<id>/nodes/<name>/console`` and ``.../logs``,
through the whole ASGI stack.

No root and no Docker here: where a relay is needed, the test plays it on the
run's own Redis channel layer (the consoles' pub/sub layer), so what the
consumer asks of the relay is seen exactly. (The real relay is in ``tests/integration/test_console.py``.)

The reference lab::

    c1 eth0 ---- eth0 r1 eth1 ---- eth0 c2
"""
from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from redis.asyncio.connection import DEFAULT_SOCKET_TIMEOUT

from tests import classroom
from tests.websockets import ORIGIN, accepted, browser_socket, fresh_channel_layer, refused, run  # noqa: F401 (autouse)
from topology.models import CourseMember, Lab, LabNode, Topology, UserFlags
from topology.relay import ACK_EVERY, LAYER, PROBE, channel_name, subscribe
from topology.relay.buffer import OutputBuffer
from topology.websockets.access import FORBIDDEN
from topology.websockets.console import NOT_AVAILABLE, ConsoleConsumer

pytestmark = pytest.mark.django_db(transaction=True)  # the consumer reads the database from another thread


@pytest.fixture
def running(topology) -> Lab:
    """The topology's lab as the worker leaves it once deployed (no containers really run)."""
    lab = topology.lab
    # A host of its own per test: nothing another test left on a relay channel is read here.
    Lab.objects.filter(pk=lab.pk).update(state="running", queue=f"lab.unit-{uuid.uuid4().hex[:12]}")
    for name in ("c1", "r1", "c2"):
        LabNode.objects.update_or_create(lab=lab, name=name,
                                         defaults={"state": "running", "container_id": f"cid-{name}-0123"})
    lab.refresh_from_db()
    return lab


def communicator(topology_id, node="c1", user=None, origin=ORIGIN, query="", kind="console") -> WebsocketCommunicator:
    return browser_socket(f"/ws/topologies/{topology_id}/nodes/{node}/{kind}{query}", user, origin)


async def ended(ws: WebsocketCommunicator, timeout: float = 5) -> tuple[dict, int]:
    """(the status a console sent, its close code) of a console that ends at once."""
    connected, _ = await ws.connect()
    assert connected
    status = await ws.receive_json_from(timeout=timeout)
    output = await ws.receive_output(timeout=timeout)
    assert output["type"] == "websocket.close", output
    await ws.disconnect()
    return status, output["code"]


def relay_channel(lab: Lab) -> str:
    return channel_name(settings.TOPOLAB_SITE, lab.queue)


def layer():
    return get_channel_layer(LAYER)


async def next_message(channel: str, timeout: float = 5) -> dict:
    """The next message on ``channel`` (already subscribed to), probes skipped."""
    while True:
        message = await asyncio.wait_for(layer().receive(channel), timeout)
        if message.get("type") != PROBE:
            return message


async def play_relay(lab: Lab, ws: WebsocketCommunicator, *, resumed: bool = False) -> tuple[dict, str]:
    """Connect ``ws`` with the test as the relay: (the consumer's "open" request, the session channel).

    The relay's channel is subscribed to before the browser connects: on pub/sub,
    a request sent earlier would reach nobody.
    """
    await subscribe(layer(), relay_channel(lab))
    assert (await ws.connect())[0]
    request = await next_message(relay_channel(lab))
    session = await layer().new_channel()
    await layer().send(request["reply"], {"type": "console.opened", "session": session, "token": "tok-1",
                                          "resumed": resumed})
    return request, session


async def ended_after(lab: Lab, ws: WebsocketCommunicator, event) -> tuple[dict, dict]:
    """Open ``ws`` with the test as the relay, await ``event(request)``: (the status sent, the close)."""
    request, _ = await play_relay(lab, ws)
    await ws.receive_json_from(timeout=5)
    await event(request)
    status = await ws.receive_json_from(timeout=5)
    output = await ws.receive_output(timeout=5)
    await ws.disconnect()
    return status, output

# -- who may open a console ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["console", "logs"])
def test_it_refuses_another_user_with_4403(running, bob, kind):
    assert run(refused, communicator(running.topology_id, user=bob, kind=kind)) == FORBIDDEN == 4403


@pytest.mark.parametrize("kind", ["console", "logs"])
def test_it_refuses_a_signed_out_visitor_with_4403(running, kind):
    assert run(refused, communicator(running.topology_id, kind=kind)) == FORBIDDEN


def test_it_refuses_a_topology_that_does_not_exist_exactly_like_someone_elses(running, alice, bob):
    missing = Topology.objects.order_by("-pk").first().pk + 1000
    assert run(refused, communicator(missing, user=alice)) == FORBIDDEN
    assert run(refused, communicator(running.topology_id, user=bob)) == FORBIDDEN


@pytest.mark.parametrize("kind", ["console", "logs"])
def test_it_refuses_a_foreign_origin(running, alice, kind):
    ws = communicator(running.topology_id, user=alice, origin="https://evil.example", kind=kind)
    assert run(accepted, ws) is False


def test_it_never_asks_the_relay_for_someone_elses_console(running, bob):
    ws = communicator(running.topology_id, user=bob)

    async def body():
        await subscribe(layer(), relay_channel(running))
        assert await refused(ws) == FORBIDDEN
        try:
            return await next_message(relay_channel(running), 0.5)
        except asyncio.TimeoutError:
            return None

    assert run(body) is None


# -- when there is no console --------------------------------------------------------------


def test_it_says_why_when_the_lab_is_not_running(topology, alice):
    status, code = run(ended, communicator(topology.pk, user=alice))
    assert status == {"type": "status", "state": "error", "message": "the lab is stopped, not running"}
    assert code == NOT_AVAILABLE


def test_it_says_why_when_the_node_is_not_running(running, alice):
    LabNode.objects.filter(lab=running, name="r1").update(state="stopped")
    status, code = run(ended, communicator(running.topology_id, "r1", user=alice))
    assert status == {"type": "status", "state": "error", "message": "node 'r1' is stopped, not running"}
    assert code == NOT_AVAILABLE


def test_it_says_why_when_the_node_does_not_exist(running, alice):
    status, code = run(ended, communicator(running.topology_id, "zz9", user=alice))
    assert status["state"] == "error" and "no node 'zz9'" in status["message"]
    assert code == NOT_AVAILABLE


def test_it_gives_up_when_no_relay_answers(running, alice, monkeypatch):
    monkeypatch.setattr(ConsoleConsumer, "open_timeout", 0.3)
    status, code = run(ended, communicator(running.topology_id, user=alice))
    assert status == {"type": "status", "state": "error",
                      "message": "the console relay of this lab's host is not answering"}
    assert code == NOT_AVAILABLE


# -- what travels between the browser and the relay ------------------------------------------


def test_it_talks_to_the_relay_on_the_browsers_behalf(running, alice):
    ws = communicator(running.topology_id, "r1", user=alice, query="?cols=100&rows=30")

    async def body():
        await subscribe(layer(), relay_channel(running))
        assert (await ws.connect())[0]
        request = await next_message(relay_channel(running))
        # Typed before the relay answered: held, then delivered in order.
        await ws.send_to(text_data=json.dumps({"type": "input", "data": "early"}))
        session = await layer().new_channel()
        await layer().send(request["reply"], {"type": "console.opened", "session": session, "token": "tok-1",
                                              "resumed": False})
        opened = await ws.receive_json_from(timeout=5)
        await ws.send_to(text_data=json.dumps({"type": "input", "data": "ls\n"}))
        await ws.send_to(text_data=json.dumps({"type": "resize", "cols": 99999, "rows": "x"}))
        await ws.send_to(text_data="not json")
        await ws.send_to(bytes_data=b"\x00")
        await ws.send_to(text_data=json.dumps({"type": "ack", "bytes": 5}))  # no flow=1: ignored
        relayed = [await next_message(session) for _ in range(3)]
        await layer().send(request["reply"], {"type": "console.output", "data": b"\x1b[1mhi\xff"})
        frame = await ws.receive_output(timeout=5)
        await layer().send(request["reply"], {"type": "console.status", "state": "dropped", "message": "10 bytes"})
        dropped = await ws.receive_json_from(timeout=5)
        await ws.disconnect(code=1000)  # the user closed the console
        closing = await next_message(session)
        return request, opened, relayed, frame, dropped, closing

    request, opened, relayed, frame, dropped, closing = run(body)
    assert {k: request[k] for k in ("type", "lab", "node", "container", "cols", "rows", "resume")} == {
        "type": "console.open", "lab": running.pk, "node": "r1", "container": "cid-r1-0123", "cols": 100,
        "rows": 30, "resume": ""}
    me = request["reply"]
    assert opened == {"type": "status", "state": "open", "message": "connected", "session": "tok-1",
                      "resumed": False}
    assert relayed == [{"type": "console.input", "data": "early", "reply": me},
                       {"type": "console.input", "data": "ls\n", "reply": me},
                       {"type": "console.resize", "cols": 1000, "rows": 24, "reply": me}]
    assert frame == {"type": "websocket.send", "bytes": b"\x1b[1mhi\xff"}
    assert dropped == {"type": "status", "state": "dropped", "message": "10 bytes"}
    assert closing == {"type": "console.close", "reply": me}


def test_a_lost_connection_leaves_the_shell_waiting_and_a_reconnect_asks_for_it_back(running, alice):
    first = communicator(running.topology_id, user=alice)
    second = communicator(running.topology_id, user=alice, query="?session=tok-1")
    late = communicator(running.topology_id, user=alice, query="?session=tok-gone")

    async def body():
        _, session = await play_relay(running, first)
        await first.receive_json_from(timeout=5)
        await first.disconnect(code=1006)  # no close frame: the network went away
        leaving = await next_message(session)
        request, _ = await play_relay(running, second, resumed=True)
        back = await second.receive_json_from(timeout=5)
        await second.disconnect(code=1000)
        _, _ = await play_relay(running, late, resumed=False)
        renewed = await late.receive_json_from(timeout=5)
        await late.disconnect(code=1000)
        return leaving, request, back, renewed

    leaving, request, back, renewed = run(body)
    assert leaving["type"] == "console.detach"
    assert request["resume"] == "tok-1"
    assert back == {"type": "status", "state": "open", "message": "reconnected to the same shell",
                    "session": "tok-1", "resumed": True}
    assert renewed["resumed"] is False
    assert renewed["message"] == ("the previous shell is gone (it ended, or waited over a minute for you): "
                                  "this is a new shell")


def test_it_passes_the_browsers_acknowledgements_on_when_it_paces_itself(running, alice):
    ws = communicator(running.topology_id, user=alice, query="?flow=1")

    async def body():
        request, session = await play_relay(running, ws)
        await ws.receive_json_from(timeout=5)
        await layer().send(request["reply"], {"type": "console.output", "data": b"x" * 1000})
        await ws.receive_output(timeout=5)
        await ws.send_to(text_data=json.dumps({"type": "ack", "bytes": 600}))
        await ws.send_to(text_data=json.dumps({"type": "ack", "bytes": 99999}))  # more than it got: capped
        await ws.send_to(text_data=json.dumps({"type": "ack", "bytes": 10}))     # going back: ignored
        acks = [await next_message(session) for _ in range(2)]
        await ws.disconnect(code=1000)
        return acks

    assert [a["bytes"] for a in run(body)] == [600, 1000]


def test_it_acknowledges_for_a_browser_that_does_not_pace_itself(running, alice):
    ws = communicator(running.topology_id, user=alice)

    async def body():
        request, session = await play_relay(running, ws)
        await ws.receive_json_from(timeout=5)
        chunk = b"y" * (ACK_EVERY // 2)
        for _ in range(3):
            await layer().send(request["reply"], {"type": "console.output", "data": chunk})
            await ws.receive_output(timeout=5)
        ack = await next_message(session)
        await ws.disconnect(code=1000)
        return ack

    assert run(body)["bytes"] == ACK_EVERY  # after the second chunk, not before


def test_it_pings_the_relay_and_closes_when_the_lab_is_destroyed(running, alice, monkeypatch):
    # The relay says "closed" itself when a node stops; the consumer's own check is the safety net.
    monkeypatch.setattr(ConsoleConsumer, "heartbeat", 0.2)
    ws = communicator(running.topology_id, user=alice)

    async def body():
        _, session = await play_relay(running, ws)
        await ws.receive_json_from(timeout=5)
        ping = await next_message(session)
        await database_sync_to_async(Lab.objects.filter(pk=running.pk).update)(state="stopped")
        status = await ws.receive_json_from(timeout=5)
        output = await ws.receive_output(timeout=5)
        messages = [await next_message(session) for _ in range(2)]
        await ws.disconnect()
        return ping, status, output, messages

    ping, status, output, messages = run(body)
    assert ping["type"] == "console.ping"
    assert status == {"type": "status", "state": "closed", "message": "the lab was destroyed"}
    assert output == {"type": "websocket.close", "code": 1000}
    assert {"type": "console.close", "reply": ping["reply"]} in messages  # the relay ends the shell


def test_it_closes_when_the_user_signs_out(running, alice, monkeypatch):
    # Signing out in another tab ends the session in the database: open consoles end with it.
    from django.contrib.sessions.models import Session

    monkeypatch.setattr(ConsoleConsumer, "heartbeat", 0.2)

    async def sign_out(request):
        await asyncio.sleep(0.5)  # a few heartbeats: still open
        await database_sync_to_async(lambda: Session.objects.all().delete())()

    status, output = run(ended_after, running, communicator(running.topology_id, user=alice), sign_out)
    assert status == {"type": "status", "state": "closed", "message": "you signed out"}
    assert output == {"type": "websocket.close", "code": 1000}


def test_logs_ask_the_relay_for_the_nodes_output_and_ignore_typing(running, alice):
    ws = communicator(running.topology_id, "c2", user=alice, kind="logs")

    async def body():
        request, session = await play_relay(running, ws)
        opened = await ws.receive_json_from(timeout=5)
        await ws.send_to(text_data=json.dumps({"type": "input", "data": "rm -rf /\n"}))
        await ws.send_to(text_data=json.dumps({"type": "resize", "cols": 10, "rows": 10}))
        await layer().send(request["reply"], {"type": "console.output", "data": b"booted\n"})
        frame = await ws.receive_output(timeout=5)
        await ws.disconnect(code=1006)  # a log has nothing to keep: any end closes it
        return request, opened, frame, await next_message(session)

    request, opened, frame, closing = run(body)
    assert {k: request[k] for k in ("type", "lab", "node", "container")} == {
        "type": "logs.open", "lab": running.pk, "node": "c2", "container": "cid-c2-0123"}
    assert "cols" not in request and "resume" not in request
    assert opened == {"type": "status", "state": "open", "message": "connected"}
    assert frame == {"type": "websocket.send", "bytes": b"booted\n"}
    assert closing["type"] == "console.close"  # not the typing, not the resize: the close came first


def test_it_closes_when_the_relay_says_the_console_ended(running, alice):

    async def node_stops(request):
        await layer().send(request["reply"], {"type": "console.status", "state": "closed",
                                              "message": "the node stopped"})

    status, output = run(ended_after, running, communicator(running.topology_id, user=alice), node_stops)
    assert status == {"type": "status", "state": "closed", "message": "the node stopped"}
    assert output == {"type": "websocket.close", "code": 1000}


def test_it_cancels_the_open_when_the_browser_leaves_first(running, alice):
    ws = communicator(running.topology_id, user=alice)

    async def body():
        await subscribe(layer(), relay_channel(running))
        assert (await ws.connect())[0]
        request = await next_message(relay_channel(running))
        await ws.disconnect()
        return request, await next_message(relay_channel(running))

    request, cancel = run(body)
    assert cancel == {"type": "console.cancel", "reply": request["reply"]}


# -- the relay's output buffer ---------------------------------------------------------------------


def test_it_keeps_output_in_order_and_drops_the_oldest_beyond_the_limit():
    buffer = OutputBuffer(10)
    buffer.append(b"abcd")
    buffer.append(b"efgh")
    start, chunk = buffer.peek(6)
    assert (start, chunk) == (0, b"abcdef")
    buffer.append(b"ijklmn")  # 14 bytes: the oldest 4 go, but they are being sent: none is lost
    assert len(buffer) == 10 and buffer.take_dropped() == 0
    buffer.consume(start + len(chunk))  # the send in flight covered bytes already dropped: only "ef" go now
    assert buffer.peek(100) == (6, b"ghijklmn")
    buffer.consume(100)
    assert len(buffer) == 0 and buffer.peek(5) == (14, b"")
    buffer.append(b"0123456789")
    buffer.append(b"abc")  # nothing in flight: 3 bytes lost, and counted
    assert buffer.take_dropped() == 3 and buffer.take_dropped() == 0
    assert buffer.peek(100) == (17, b"3456789abc")


def consoles_socket_timeout() -> float:
    """The read timeout of the consoles layer's Redis connections: its own setting, else redis-py's default."""
    host = settings.CHANNEL_LAYERS[LAYER]["CONFIG"]["hosts"][0]
    return (host.get("socket_timeout") if isinstance(host, dict) else None) or DEFAULT_SOCKET_TIMEOUT


def test_it_keeps_a_quiet_console_open(running, alice, monkeypatch):
    """Nobody types and the shell prints nothing for longer than a Redis socket's read timeout: still open.

    The point is that this much time passes in silence, so the test waits; but for an event, not a
    fixed time: the consumer's first keep-alive round (its ping to the relay, then its re-check of the
    node), set to come just after the socket timeout. A console that died quietly sends no ping.
    """
    quiet = consoles_socket_timeout() + 1
    monkeypatch.setattr(ConsoleConsumer, "heartbeat", quiet)
    ws = communicator(running.topology_id, user=alice)

    async def body():
        request, session = await play_relay(running, ws)
        await ws.receive_json_from(timeout=5)
        loop = asyncio.get_running_loop()
        began = loop.time()
        ping = await next_message(session, timeout=quiet + 5)  # nothing else travels meanwhile
        waited = loop.time() - began
        still_open = await ws.receive_nothing(timeout=0.5)  # the re-check found the node running
        await layer().send(request["reply"], {"type": "console.output", "data": b"still here"})
        frame = await ws.receive_output(timeout=5)
        await ws.disconnect()
        return ping, waited, still_open, frame

    ping, waited, still_open, frame = run(body)
    assert ping == {"type": "console.ping", "reply": ping["reply"]}
    assert waited > consoles_socket_timeout()
    assert still_open
    assert frame == {"type": "websocket.send", "bytes": b"still here"}


# -- supervisors: the logs, and watching or taking over the student's console ----------------------------


@pytest.fixture
def instructors(transactional_db):
    """The group "instructors" (it survives the flush of a transactional test: topology/apps.py)."""
    return classroom.instructors()


@pytest.fixture
def dave(instructors):
    """An instructor of another course: nothing of carol's course is his to see."""
    return classroom.other_instructor()


@pytest.fixture
def assigned(instructors, running, course, carol) -> Lab:
    """Alice's running lab is her copy of an assignment of carol's course: carol supervises it."""
    classroom.assign(running.topology_id, course, carol)
    return running


def flag_password(user) -> None:
    UserFlags.objects.update_or_create(user=user, defaults={"must_change_password": True})


async def asked_of_relay(lab: Lab, ws: WebsocketCommunicator) -> dict:
    """What the consumer asks the relay when ``ws`` connects (the test plays the relay's channel)."""
    await subscribe(layer(), relay_channel(lab))
    assert (await ws.connect())[0]
    request = await next_message(relay_channel(lab))
    await ws.disconnect()
    return request


WHO = ["alice", "carol", "bob", "dave", None]


@pytest.mark.parametrize("query, allowed", [("", "alice"), ("?mode=watch", "carol"), ("?mode=control", "carol"),
                                            ("?mode=other", None)], ids=["own", "watch", "control", "bad-mode"])
@pytest.mark.parametrize("who", WHO, ids=["owner", "supervisor", "other-student", "other-instructor", "anonymous"])
def test_a_console_opens_for_the_owner_and_the_watch_modes_for_a_supervisor_only(assigned, alice, bob, carol, dave,
                                                                                   who, query, allowed):
    user = {"alice": alice, "bob": bob, "carol": carol, "dave": dave, None: None}[who]
    ws = communicator(assigned.topology_id, user=user, query=query)
    if who is None or who != allowed:
        assert run(refused, ws) == FORBIDDEN
        return
    request = run(asked_of_relay, assigned, ws)
    if who == "alice":
        assert request["type"] == "console.open"
    else:
        assert {k: request[k] for k in ("type", "lab", "node", "container", "mode", "name", "owner")} == {
            "type": "console.watch", "lab": assigned.pk, "node": "c1", "container": "cid-c1-0123",
            "mode": query.split("=")[1], "name": "Carol Teacher", "owner": "alice"}
        assert "resume" not in request and "cols" not in request  # never a shell of its own


@pytest.mark.parametrize("who", WHO, ids=["owner", "supervisor", "other-student", "other-instructor", "anonymous"])
def test_logs_open_for_the_owner_and_a_supervisor_only(assigned, alice, bob, carol, dave, who):
    user = {"alice": alice, "bob": bob, "carol": carol, "dave": dave, None: None}[who]
    ws = communicator(assigned.topology_id, user=user, kind="logs")
    if who not in ("alice", "carol"):
        assert run(refused, ws) == FORBIDDEN
        return
    assert run(asked_of_relay, assigned, ws)["type"] == "logs.open"


def test_a_topology_that_is_no_assignments_copy_has_no_supervisor(instructors, running, carol, course):
    assert run(refused, communicator(running.topology_id, user=carol, query="?mode=watch")) == FORBIDDEN
    assert run(refused, communicator(running.topology_id, user=carol, kind="logs")) == FORBIDDEN


@pytest.mark.parametrize("who, kind, query", [("alice", "console", ""), ("alice", "logs", ""),
                                              ("carol", "console", "?mode=watch"), ("carol", "logs", "")])
def test_a_user_who_must_change_their_password_is_told_so_and_refused(assigned, alice, carol, who, kind, query):
    user = {"alice": alice, "carol": carol}[who]
    flag_password(user)
    ws = communicator(assigned.topology_id, user=user, kind=kind, query=query)

    async def body():
        await subscribe(layer(), relay_channel(assigned))
        status, code = await ended(ws)
        try:
            asked = await next_message(relay_channel(assigned), 0.3)
        except asyncio.TimeoutError:
            asked = None
        return status, code, asked

    status, code, asked = run(body)
    assert status == {"type": "status", "state": "error", "message": "change your password first"}
    assert code == FORBIDDEN
    assert asked is None  # the relay was never asked


def test_the_heartbeat_ends_a_console_once_its_user_must_change_their_password(running, alice, monkeypatch):
    monkeypatch.setattr(ConsoleConsumer, "heartbeat", 0.2)

    async def flagged(request):
        await asyncio.sleep(0.5)  # a few heartbeats: still open
        await database_sync_to_async(flag_password)(alice)

    status, output = run(ended_after, running, communicator(running.topology_id, user=alice), flagged)
    assert status == {"type": "status", "state": "closed", "message": "change your password first"}
    assert output == {"type": "websocket.close", "code": FORBIDDEN}


def test_the_heartbeat_ends_a_watch_once_the_watcher_no_longer_teaches_the_course(assigned, carol, monkeypatch):
    monkeypatch.setattr(ConsoleConsumer, "heartbeat", 0.2)

    async def demoted(request):
        await asyncio.sleep(0.5)
        await database_sync_to_async(lambda: CourseMember.objects.filter(user=carol).delete())()

    ws = communicator(assigned.topology_id, user=carol, query="?mode=watch")
    status, output = run(ended_after, assigned, ws, demoted)
    assert status == {"type": "status", "state": "closed", "message": "you no longer look after this topology"}
    assert output == {"type": "websocket.close", "code": FORBIDDEN}


@pytest.mark.parametrize("mode", ["watch", "control"])
def test_a_watcher_forwards_typing_only_in_control_mode_and_never_a_resize(assigned, carol, mode):
    ws = communicator(assigned.topology_id, user=carol, query=f"?mode={mode}&flow=1")

    async def body():
        request, session = await play_relay(assigned, ws)
        opened = await ws.receive_json_from(timeout=5)
        await ws.send_to(text_data=json.dumps({"type": "resize", "cols": 10, "rows": 10}))
        await ws.send_to(text_data=json.dumps({"type": "input", "data": "touch /tmp/marker\n"}))
        await layer().send(request["reply"], {"type": "console.output", "data": b"screen"})
        await ws.receive_output(timeout=5)
        await ws.send_to(text_data=json.dumps({"type": "ack", "bytes": 6}))  # then its acknowledgement
        relayed = [await next_message(session)]
        if relayed[0]["type"] != "console.ack":
            relayed.append(await next_message(session))
        await ws.disconnect(code=1000)
        relayed.append(await next_message(session))
        return opened, [{k: v for k, v in m.items() if k != "reply"} for m in relayed]

    opened, relayed = run(body)
    assert opened["state"] == "open" and opened["mode"] == mode and "session" not in opened
    assert opened["message"] == ("watching alice's console: you cannot type" if mode == "watch"
                                 else "you can type in alice's console; they see that you joined")
    typed = [{"type": "console.input", "data": "touch /tmp/marker\n"}] if mode == "control" else []
    assert relayed == [*typed, {"type": "console.ack", "bytes": 6}, {"type": "console.close"}]


def test_the_student_is_shown_who_joined_and_left(assigned, alice):
    ws = communicator(assigned.topology_id, user=alice)

    async def body():
        request, _ = await play_relay(assigned, ws)
        await ws.receive_json_from(timeout=5)
        news = [{"type": "console.status", "state": "joined", "message": "Carol Teacher joined your console and can type",
                 "by": "w1", "mode": "control"},
                {"type": "console.status", "state": "left", "message": "Carol Teacher left your console", "by": "w1"}]
        shown = []
        for message in news:
            await layer().send(request["reply"], message)
            shown.append(await ws.receive_json_from(timeout=5))
        await ws.disconnect(code=1000)
        return news, shown

    news, shown = run(body)
    assert shown == [{**m, "type": "status"} for m in news]
