"""The lab's websocket, ``/ws/topologies/<id>/``, through the whole ASGI stack (origin check, session, router).

Each test signs a user in with Django's test client and hands the session
cookie to Channels' ``WebsocketCommunicator``, as a browser would; messages
travel through the test run's own Redis channel layer.

The reference lab::

    c1 eth0 ---- eth0 r1 eth1 ---- eth0 c2
"""
from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from tests.classroom import assign, other_instructor
from tests.websockets import ORIGIN, accepted, browser_socket, refused, run
from topology import broadcast as events
from topology import services
from topology.models import Lab, LabEvent, LabNode, Topology
from topology.websockets.access import FORBIDDEN

pytestmark = pytest.mark.django_db(transaction=True)  # the consumer reads the database from another thread


def communicator(topology_id, user=None, origin=ORIGIN) -> WebsocketCommunicator:
    return browser_socket(f"/ws/topologies/{topology_id}/", user, origin)


# -- who may listen ------------------------------------------------------------------------


def test_it_sends_the_owner_a_snapshot_first(topology, alice):
    Lab.objects.filter(pk=topology.lab.pk).update(operation="op1")
    LabEvent.objects.create(lab=topology.lab, operation="op1", step="earlier", status="info")

    ws = communicator(topology.pk, alice)

    async def body():
        connected, _ = await ws.connect()
        assert connected
        message = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return message

    message = run(body)
    assert message["type"] == "snapshot"
    lab = message["lab"]
    assert set(lab) == {"state", "reason", "busy", "operation", "host_queue", "host_unreachable", "nodes", "events"}
    assert (lab["state"], lab["busy"], lab["operation"]) == ("stopped", False, "op1")
    assert [(n["name"], n["kind"], n["state"]) for n in lab["nodes"]] == [
        ("c1", "host", "stopped"), ("r1", "router", "stopped"), ("c2", "host", "stopped")]
    assert [e["step"] for e in lab["events"]] == ["earlier"]
    assert lab == events.lab_snapshot(topology.lab)


def test_it_refuses_another_user_with_4403(topology, bob):
    assert run(refused, communicator(topology.pk, bob)) == FORBIDDEN == 4403


def test_it_refuses_a_signed_out_visitor_with_4403(topology):
    assert run(refused, communicator(topology.pk)) == FORBIDDEN


def test_it_refuses_a_topology_that_does_not_exist_exactly_like_someone_elses(topology, alice, bob):
    missing = Topology.objects.order_by("-pk").first().pk + 1000
    assert run(refused, communicator(missing, alice)) == FORBIDDEN
    assert run(refused, communicator(topology.pk, bob)) == FORBIDDEN


@pytest.mark.parametrize("origin", ["https://evil.example", None], ids=["foreign-origin", "no-origin"])
def test_it_refuses_a_request_from_another_site_or_without_an_origin(topology, alice, origin):
    ws = communicator(topology.pk, alice, origin=origin)
    assert run(accepted, ws) is False


def test_it_has_no_route_for_other_paths(topology, alice):
    """Any other path is closed with 4404 (tests/unit/test_unknown_socket.py), never routed here."""
    ws = browser_socket(f"/ws/topologies/{topology.pk}/console/", alice)
    assert run(refused, ws) == 4404


# -- what it forwards ---------------------------------------------------------------------------


def test_it_forwards_what_is_published_for_the_lab(topology, alice):
    lab = topology.lab
    message = events.node_message("c1", "creating")

    ws = communicator(topology.pk, alice)

    async def body():
        assert (await ws.connect())[0]
        await ws.receive_json_from(timeout=5)  # the snapshot
        await sync_to_async(events.publish)(lab.pk, message)
        await sync_to_async(events.publish)(lab.pk + 1000, events.node_message("x", "running"))  # another lab
        received = await ws.receive_json_from(timeout=5)
        nothing_else = await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()
        return received, nothing_else

    received, nothing_else = run(body)
    assert received == message
    assert nothing_else


def test_it_keeps_a_quiet_lab_socket_open(topology, alice):
    """Nothing happens to a lab for longer than one blocking receive of the channel layer: the socket lives on.

    channels_redis waits for a message in BZPOPMIN for ``brpop_timeout`` (5 s) at a time; a Redis
    socket timeout no longer than that (redis-py's 5 s, before settings.CHANNEL_LAYERS set 30) ends
    the quiet websocket with a TimeoutError. What is tested is precisely that this much time passes
    with nothing to receive, so the test waits: one whole blocking receive, and a margin.
    """
    message = events.node_message("c1", "creating")
    ws = communicator(topology.pk, alice)

    async def body():
        assert (await ws.connect())[0]
        await ws.receive_json_from(timeout=5)
        layer = get_channel_layer()
        await asyncio.sleep(layer.brpop_timeout + 2)
        await sync_to_async(events.publish)(topology.lab.pk, message)
        received = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return received

    assert run(body) == message


def test_it_forwards_a_burst_bigger_than_a_channels_capacity_whole(topology, alice):
    # A flush of a 600-node lab: more messages than a channel holds (100) must still all arrive.
    burst = [events.node_message(f"n{i}", "creating") for i in range(600)]
    ws = communicator(topology.pk, alice)

    async def body():
        assert (await ws.connect())[0]
        await ws.receive_json_from(timeout=5)
        await sync_to_async(events.publish_many)(topology.lab.pk, burst)
        received = [await ws.receive_json_from(timeout=5) for _ in burst]
        await ws.disconnect()
        return received

    assert run(body) == burst


def test_it_forwards_a_deploy_request_to_the_owner_as_it_happens(topology, alice, monkeypatch):
    monkeypatch.setattr("topology.tasks.deploy_lab.apply_async", lambda *a, **kw: None)
    lab = topology.lab

    ws = communicator(topology.pk, alice)

    async def body():
        assert (await ws.connect())[0]
        await ws.receive_json_from(timeout=5)
        operation = await sync_to_async(services.request_deploy)(lab)
        received = [await ws.receive_json_from(timeout=5) for _ in range(5)]
        await ws.disconnect()
        return operation, received

    try:
        operation, received = run(body)
    finally:
        from topology import leases
        leases.release(lab.pk, leases.holder(lab.pk) or "")
    assert received[0] == {"type": "lab", "state": "deploying", "reason": "", "busy": True, "operation": operation}
    assert received[1]["type"] == "events" and received[1]["events"][0]["step"] == "deploy requested"
    assert sorted(m["name"] for m in received[2:]) == ["c1", "c2", "r1"]
    assert {m["state"] for m in received[2:]} == {"pending"}


def test_it_does_not_repeat_events_the_snapshot_already_held(topology, alice):
    lab = topology.lab
    Lab.objects.filter(pk=lab.pk).update(operation="op1")
    old = LabEvent.objects.create(lab=lab, operation="op1", step="in the snapshot", status="ok")

    ws = communicator(topology.pk, alice)

    async def body():
        assert (await ws.connect())[0]
        snapshot = await ws.receive_json_from(timeout=5)
        new = await sync_to_async(LabEvent.objects.create)(lab=lab, operation="op1", step="after", status="ok")
        # A flush that straddled the snapshot: its first event was already in it.
        await sync_to_async(events.publish)(lab.pk, events.events_message([old, new]))
        await sync_to_async(events.publish)(lab.pk, events.events_message([old]))  # nothing new: not sent at all
        await sync_to_async(events.publish)(lab.pk, events.node_message("c1", "creating"))
        received = [await ws.receive_json_from(timeout=5) for _ in range(2)]
        await ws.disconnect()
        return snapshot, received

    snapshot, received = run(body)
    assert [e["step"] for e in snapshot["lab"]["events"]] == ["in the snapshot"]
    assert [e["step"] for e in received[0]["events"]] == ["after"]
    assert received[1]["type"] == "node"


def test_it_ignores_what_the_client_sends(topology, alice):
    ws = communicator(topology.pk, alice)

    async def body():
        assert (await ws.connect())[0]
        await ws.receive_json_from(timeout=5)
        await ws.send_to(text_data='{"type": "lab", "state": "running"}')
        await ws.send_to(text_data="not json at all")
        await ws.send_to(bytes_data=b"\x00\x01")
        quiet = await ws.receive_nothing(timeout=0.3)
        await sync_to_async(events.publish)(topology.lab.pk, events.node_message("c1", "running"))
        still_open = await ws.receive_json_from(timeout=5)  # the connection survived
        await ws.disconnect()
        return quiet, still_open

    quiet, still_open = run(body)
    assert quiet
    assert still_open["name"] == "c1"
    assert not LabNode.objects.filter(state="running").exists()


def test_it_leaves_the_labs_group_when_the_client_leaves(topology, alice):
    group = events.group_name(topology.lab.pk)
    ws = communicator(topology.pk, alice)

    async def members():
        layer = get_channel_layer()
        return await layer.connection(layer.consistent_hash(group)).zrange(layer._group_key(group), 0, -1)

    async def body():
        before = await members()
        assert (await ws.connect())[0]
        await ws.receive_json_from(timeout=5)
        during = await members()
        await ws.disconnect()
        return before, during, await members()

    before, during, after = run(body)
    assert len(during) == len(before) + 1
    assert after == before


@pytest.mark.parametrize("how", ["signed_out", "expired", "deleted"])
def test_it_says_goodbye_when_the_user_signs_out_or_the_topology_is_deleted(topology, alice, monkeypatch, how):
    """Signing out, the session expiring (its row is still there until ``clearsessions``) or deleting the
    topology ends the socket."""
    from django.contrib.sessions.models import Session

    from topology.websockets.lab import LabConsumer

    monkeypatch.setattr(LabConsumer, "recheck", 0.2)
    ws = communicator(topology.pk, user=alice)

    async def body():
        assert (await ws.connect())[0]
        assert (await ws.receive_json_from(timeout=5))["type"] == "snapshot"
        assert await ws.receive_nothing(timeout=0.6)  # a few checks: still there
        if how == "signed_out":
            await sync_to_async(lambda: Session.objects.all().delete())()
        elif how == "expired":
            await sync_to_async(lambda: Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1)))()
        else:
            await sync_to_async(services.delete_topology)(topology)
        goodbye = await ws.receive_json_from(timeout=5)
        closed = await ws.receive_output(timeout=5)
        await ws.disconnect()
        return goodbye, closed

    goodbye, closed = run(body)
    assert goodbye["type"] == "gone" and goodbye["reason"] == how.replace("expired", "signed_out") and goodbye["message"]
    assert closed == {"type": "websocket.close", "code": FORBIDDEN}


# -- supervisors, and users who must change their password ------------------------------------------------


@pytest.fixture
def dave(transactional_db):
    """An instructor of another course."""
    return other_instructor()


@pytest.fixture
def copy(topology, course, carol) -> Topology:
    """Alice's topology as her copy of an assignment of carol's course: carol supervises it."""
    assign(topology.pk, course, carol)
    return topology


async def first_message(ws: WebsocketCommunicator) -> dict:
    assert (await ws.connect())[0]
    message = await ws.receive_json_from(timeout=5)
    await ws.disconnect()
    return message


@pytest.mark.parametrize("who", ["alice", "carol", "bob", "dave", None],
                         ids=["owner", "supervisor", "other-student", "other-instructor", "anonymous"])
def test_the_owner_and_a_supervisor_follow_the_lab_and_nobody_else(copy, alice, bob, carol, dave, who):
    user = {"alice": alice, "bob": bob, "carol": carol, "dave": dave, None: None}[who]
    ws = communicator(copy.pk, user)
    if who in ("alice", "carol"):
        message = run(first_message, ws)
        assert message == {"type": "snapshot", "lab": events.lab_snapshot(copy.lab)}
    else:
        assert run(refused, ws) == FORBIDDEN


def test_an_instructor_supervises_only_assignment_copies(topology, course, carol):
    assert run(refused, communicator(topology.pk, carol)) == FORBIDDEN


@pytest.mark.parametrize("who", ["alice", "carol"], ids=["owner", "supervisor"])
def test_a_user_who_must_change_their_password_is_told_so_and_refused(copy, alice, carol, who):
    from topology.models import UserFlags

    user = {"alice": alice, "carol": carol}[who]
    UserFlags.objects.create(user=user, must_change_password=True)
    ws = communicator(copy.pk, user)

    async def body():
        assert (await ws.connect())[0]
        message = await ws.receive_json_from(timeout=5)
        closed = await ws.receive_output(timeout=5)
        await ws.disconnect()
        return message, closed

    message, closed = run(body)
    assert message == {"type": "gone", "reason": "change_password", "message": "change your password first"}
    assert closed == {"type": "websocket.close", "code": FORBIDDEN}


def test_a_supervisor_who_stops_teaching_the_course_is_let_go(copy, carol, monkeypatch):
    from topology.models import CourseMember
    from topology.websockets.lab import LabConsumer

    monkeypatch.setattr(LabConsumer, "recheck", 0.2)
    ws = communicator(copy.pk, carol)

    async def body():
        assert (await ws.connect())[0]
        assert (await ws.receive_json_from(timeout=5))["type"] == "snapshot"
        assert await ws.receive_nothing(timeout=0.5)
        await sync_to_async(lambda: CourseMember.objects.filter(user=carol).delete())()
        goodbye = await ws.receive_json_from(timeout=5)
        closed = await ws.receive_output(timeout=5)
        await ws.disconnect()
        return goodbye, closed

    goodbye, closed = run(body)
    assert goodbye == {"type": "gone", "reason": "deleted",
                       "message": "This topology was deleted, or you no longer look after it."}
    assert closed == {"type": "websocket.close", "code": FORBIDDEN}
