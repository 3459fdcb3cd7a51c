"""The reference lab, watched live over its websocket while the real worker builds and tears it down.

    c1 (192.168.10.2/24) --eth0-- r1 --eth1-- c2 (192.168.11.2/24)
                         .10.1/24    .11.1/24

The browser's path end to end: the lab worker's recorder publishes to the
channel layer (real Redis), the consumer (the web tier's ASGI application,
with its origin check and session) forwards to a ``WebsocketCommunicator``.
"""
from __future__ import annotations

import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from labsite.asgi import application
from tests.documents import reference_document
from topology import services

NODES = {"c1", "r1", "c2"}


def session_headers(user) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return [(b"origin", b"http://localhost"), (b"cookie", cookie.encode())]


async def until(ws: WebsocketCommunicator, done, timeout: float = 120) -> list[dict]:
    """Every message until (and including) the first for which ``done`` is true."""
    deadline = time.monotonic() + timeout
    messages = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"gave up waiting; got {messages}")
        message = await ws.receive_json_from(timeout=left)
        messages.append(message)
        if done(message):
            return messages


def lab_states(messages):
    return [m["state"] for m in messages if m["type"] == "lab"]


def node_states(messages):
    states: dict[str, list[str]] = {}
    for m in messages:
        if m["type"] == "node":
            states.setdefault(m["name"], []).append(m["state"])
    return states


def all_events(messages):
    return [e for m in messages if m["type"] == "events" for e in m["events"]]


@pytest.mark.django_db(transaction=True)
def test_it_streams_a_deploy_and_a_destroy_to_the_owners_websocket(labs, owner):
    topology = services.import_topology(owner, reference_document(), replace=True)
    lab = topology.lab
    labs.deployed.append(lab)  # destroyed after the test whatever happens
    ws = WebsocketCommunicator(application, f"/ws/topologies/{topology.pk}/", headers=session_headers(owner))

    def is_lab(state):
        return lambda m: m["type"] == "lab" and m["state"] == state

    async def watch():
        connected, _ = await ws.connect()
        assert connected
        snapshot = await ws.receive_json_from(timeout=10)
        deploy = await sync_to_async(services.request_deploy)(lab)
        built = await until(ws, is_lab("running"))
        destroy = await sync_to_async(services.request_destroy)(lab)
        gone = await until(ws, is_lab("stopped"))
        late = WebsocketCommunicator(application, f"/ws/topologies/{topology.pk}/", headers=headers_late)
        assert (await late.connect())[0]
        late_snapshot = await late.receive_json_from(timeout=10)
        await late.disconnect()
        await ws.disconnect()
        return snapshot, deploy, built, destroy, gone, late_snapshot

    headers_late = session_headers(owner)
    snapshot, deploy, built, destroy, gone, late_snapshot = async_to_sync(watch)()

    assert snapshot["type"] == "snapshot"
    assert snapshot["lab"]["state"] == "stopped"

    # The deploy: lab deploying, every node pending -> creating -> running, steps counted up to the total.
    assert built[0] == {"type": "lab", "state": "deploying", "reason": "", "busy": True, "operation": deploy}
    assert lab_states(built) == ["deploying", "running"]
    assert built[-1] == {"type": "lab", "state": "running", "reason": "", "busy": False, "operation": deploy}
    assert node_states(built) == {name: ["pending", "creating", "running"] for name in NODES}
    events = all_events(built)
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert events[0]["step"] == "deploy requested"
    assert events[-1]["step"] == "lab running"
    counted = [e for e in events if e["index"] is not None]
    total = counted[0]["total"]
    assert total and all(e["total"] == total for e in counted)
    indexes = [e["index"] for e in counted]
    assert indexes == sorted(indexes), "steps arrive in the order they were counted"
    assert max(indexes) == total
    assert ("create c1", "ok") in {(e["step"], e["status"]) for e in events}
    assert all(e["time"] for e in events)
    # The whole operation's log, exactly as the database keeps it.
    assert ids == list(lab.events.filter(operation=deploy).values_list("id", flat=True))

    # The destroy: lab destroying, every node stopped, lab stopped.
    assert lab_states(gone) == ["destroying", "stopped"]
    assert gone[0]["operation"] == destroy and gone[0]["busy"] is True
    assert gone[-1] == {"type": "lab", "state": "stopped", "reason": "", "busy": False, "operation": destroy}
    assert {name: states[-1] for name, states in node_states(gone).items()} == {name: "stopped" for name in NODES}
    assert all_events(gone)[-1]["step"] == "lab stopped"

    # A client that connects late sees it all in its snapshot.
    late = late_snapshot["lab"]
    assert (late["state"], late["busy"], late["operation"]) == ("stopped", False, destroy)
    assert {n["name"]: n["state"] for n in late["nodes"]} == {name: "stopped" for name in NODES}
    assert [e["id"] for e in late["events"]] == [e["id"] for e in all_events(gone)]
