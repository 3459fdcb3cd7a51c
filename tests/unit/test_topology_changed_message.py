"""An editor hears at once that its topology changed or went away (issue 13, "Honest controls"), and a save
over a newer version is refused instead of overwriting it.

Through the whole ASGI stack and the test run's Redis channel layer, as in test_lab_socket.py: a save of
the document (services.update_topology, as the editor's PUT, the CLI, an apply and FRR's "Save configs"
call it; ``lab import --replace``) sends the lab's watchers ``{"type": "topology", "updated": ...}``; a
deletion ends the socket with "gone" at once, not at the next periodic check. The PUT's ``?expected=``
precondition answers 409 when the topology was saved since.
"""
from __future__ import annotations

from datetime import datetime

import pytest
from asgiref.sync import sync_to_async

from tests.documents import reference_document
from tests.websockets import ORIGIN, browser_socket, run
from topology import broadcast, services
from topology.models import Topology
from topology.websockets.access import FORBIDDEN
from topology.websockets.lab import LabConsumer

pytestmark = pytest.mark.django_db(transaction=True)  # the consumer reads the database from another thread


def communicator(topology_id, user):
    return browser_socket(f"/ws/topologies/{topology_id}/", user, ORIGIN)


def api_time(topology: Topology) -> str:
    """The topology's ``updated`` as its API answer writes it: the message carries the same string."""
    from django.test import Client

    client = Client()
    client.force_login(topology.owner)
    return client.get(f"/api/v1/topologies/{topology.pk}").json()["updated"]


def renamed(topology: Topology, name: str) -> dict:
    document = dict(topology.document)
    document["name"] = name
    return document


def test_a_save_tells_the_labs_watchers_the_new_updated_time(topology, alice):
    ws = communicator(topology.pk, alice)

    async def body():
        assert (await ws.connect())[0]
        assert (await ws.receive_json_from(timeout=5))["type"] == "snapshot"
        await sync_to_async(services.update_topology)(topology, renamed(topology, "triangle"))
        received = await ws.receive_json_from(timeout=5)
        nothing_else = await ws.receive_nothing(timeout=0.3)
        await ws.disconnect()
        return received, nothing_else

    received, nothing_else = run(body)
    topology.refresh_from_db()
    assert received == {"type": "topology", "name": "triangle", "updated": api_time(topology), "deleted": False}
    assert nothing_else


def test_an_import_that_replaces_the_topology_tells_its_watchers_too(topology, alice):
    ws = communicator(topology.pk, alice)
    before = topology.updated

    async def body():
        assert (await ws.connect())[0]
        await ws.receive_json_from(timeout=5)
        document = reference_document()
        document["description"] = "replaced from the command line"
        await sync_to_async(services.import_topology)(alice, document, replace=True)
        received = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return received

    received = run(body)
    topology.refresh_from_db()
    assert received["type"] == "topology" and received["deleted"] is False
    assert received["updated"] == api_time(topology)
    assert topology.updated > before


def test_a_deletion_says_gone_at_once_not_at_the_next_periodic_check(topology, alice, monkeypatch):
    # The periodic check is a minute away: only the deletion's own message can end the socket in time.
    monkeypatch.setattr(LabConsumer, "recheck", 60)
    ws = communicator(topology.pk, alice)

    async def body():
        assert (await ws.connect())[0]
        assert (await ws.receive_json_from(timeout=5))["type"] == "snapshot"
        await sync_to_async(services.delete_topology)(topology)
        goodbye = await ws.receive_json_from(timeout=3)
        closed = await ws.receive_output(timeout=3)
        await ws.disconnect()
        return goodbye, closed

    goodbye, closed = run(body)
    assert goodbye == {"type": "gone", "reason": "deleted", "message": "This topology was deleted."}
    assert closed == {"type": "websocket.close", "code": FORBIDDEN}


def test_the_broadcast_docstring_documents_the_message():
    assert '"type": "topology"' in broadcast.__doc__ and "deleted" in broadcast.__doc__


# -- the PUT's precondition ---------------------------------------------------------------------------------


def put(client, topology, document, expected=None):
    query = f"?expected={expected}" if expected is not None else ""
    return client.put(f"/api/v1/topologies/{topology.pk}{query}", document, content_type="application/json")


def test_a_put_with_the_current_updated_time_saves(client, topology):
    got = client.get(f"/api/v1/topologies/{topology.pk}").json()
    answer = put(client, topology, renamed(topology, "mine"), expected=got["updated"])
    assert answer.status_code == 200, answer.json()
    topology.refresh_from_db()
    assert topology.name == "mine"
    assert abs(datetime.fromisoformat(answer.json()["updated"].replace("Z", "+00:00")) - topology.updated).total_seconds() < 0.001


def test_a_put_over_a_version_saved_since_is_refused_with_409_and_saves_nothing(client, topology):
    opened = client.get(f"/api/v1/topologies/{topology.pk}").json()["updated"]
    assert put(client, topology, renamed(topology, "from-another-tab")).status_code == 200  # no precondition: saved
    answer = put(client, topology, renamed(topology, "mine"), expected=opened)
    assert answer.status_code == 409
    assert "changed elsewhere" in answer.json()["detail"]
    topology.refresh_from_db()
    assert topology.name == "from-another-tab"


def test_a_precondition_that_is_not_a_time_is_a_400_naming_it(client, topology):
    answer = put(client, topology, renamed(topology, "mine"), expected="yesterday")
    assert answer.status_code == 400
    assert [p["path"] for p in answer.json()["errors"]] == ["expected"]
    no_such_day = put(client, topology, renamed(topology, "mine"), expected="2026-13-40T00:00:00Z")
    assert no_such_day.status_code == 400 and [p["path"] for p in no_such_day.json()["errors"]] == ["expected"]
