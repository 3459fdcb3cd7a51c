"""Unit tests of Compute routes from the API (``POST /routes/compute``, ``POST /topologies/{id}/routes``) and
the command line (``lab routes``), in the test database, without Docker or a worker."""
from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from tests.unit.test_routes import triangle, without_routes
from topology import services
from topology.models import ApiToken, Lab, LabState, Topology
from topology.schema.models import MAX_DOCUMENT_BYTES

API = "/api/v1"
TRIANGLE_ROUTES = 3 * 3 + 3  # three routes per router, a default per host


@pytest.fixture(autouse=True)
def _released(released):
    """Every test here gives its leases back."""


def post(client, path: str, body=None):
    text = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(API + path, text, content_type="application/json")


def test_compute_answers_the_routes_the_notes_and_the_document_with_them_saving_nothing(client):
    data = triangle()
    data["nodes"].append({"name": "f1", "kind": "frr"})
    data["links"].append({"endpoints": [{"node": "f1", "interface": "eth0", "addresses": ["10.7.0.1/24"]},
                                        {"node": "r1", "interface": "eth7", "addresses": ["10.7.0.2/24"]}]})
    response = post(client, "/routes/compute", data)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert set(answer) == {"routes", "notes", "document"}
    assert {"node": "r1", "to": "192.168.2.0/24", "via": "10.0.12.2"} in answer["routes"]
    assert {"node": "h1", "to": "default", "via": "192.168.1.1"} in answer["routes"]
    assert all(set(r) == {"node", "to", "via"} for r in answer["routes"])
    assert "f1 is an frr router: its daemons route it (no static routes proposed)" in answer["notes"]
    routers = {n["name"]: n.get("routes", []) for n in answer["document"]["nodes"]}
    assert {"to": "10.7.0.0/24", "via": "10.0.12.1"} in routers["r2"]
    assert routers["f1"] == []
    assert post(client, "/validate", answer["document"]).json()["valid"] is True
    assert Topology.objects.count() == 0
    # Trailing slash too, as every route.
    assert post(client, "/routes/compute/", data).status_code == 200


def test_compute_refuses_a_bad_document_as_validate_does_with_its_paths(client):
    bad = {**triangle(), "nodse": []}
    bad["links"][0]["endpoints"][0]["node"] = "r9"
    response = post(client, "/routes/compute", bad)
    assert response.status_code == 400
    paths = {p["path"] for p in response.json()["errors"]}
    assert paths == {p["path"] for p in post(client, "/validate", bad).json()["errors"]}
    assert {"nodse", "links[0].endpoints[0].node"} <= paths
    response = post(client, "/routes/compute", "{not json")
    assert response.status_code == 400 and response.json()["errors"][0]["path"] == ""
    response = post(client, "/routes/compute", b" " * (MAX_DOCUMENT_BYTES + 1))
    assert response.status_code == 400 and "5 MiB" in response.json()["errors"][0]["message"]


def test_compute_needs_a_signed_in_caller():
    assert post(Client(), "/routes/compute", triangle()).status_code == 401


def test_a_saved_topology_gets_routes_shown_then_applied_by_its_owner_only(client, alice, bob):
    data = triangle()
    data["nodes"][0]["routes"] = [{"to": "192.168.3.0/24", "via": "10.0.12.2"}]  # r1's own: kept, first
    topology = services.import_topology(alice, data)
    path = f"/topologies/{topology.pk}/routes"
    shown = post(client, path).json()
    assert shown["applied"] is False and len(shown["routes"]) == TRIANGLE_ROUTES - 1
    topology.refresh_from_db()
    assert topology.document == data  # nothing saved

    _, secret = ApiToken.issue(bob, "bob")
    as_bob = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert post(as_bob, path).status_code == 404
    assert post(as_bob, path + "?apply=true").status_code == 404
    topology.refresh_from_db()
    assert topology.document == data

    applied = post(client, path + "?apply=true").json()
    assert applied["applied"] is True and applied["routes"] == shown["routes"]
    topology.refresh_from_db()
    assert topology.document == applied["document"] == shown["document"]
    assert topology.document["nodes"][0]["routes"][0] == {"to": "192.168.3.0/24", "via": "10.0.12.2"}
    assert topology.warnings == []
    again = post(client, path + "?apply=true").json()  # nothing left to add: nothing saved
    assert again["routes"] == [] and again["applied"] is False
    assert post(client, "/topologies/999999/routes").status_code == 404


def test_applying_to_a_running_lab_says_when_the_routes_take_effect(client, alice):
    topology = services.import_topology(alice, triangle())
    Lab.objects.filter(pk=topology.lab.pk).update(state=LabState.RUNNING)
    answer = post(client, f"/topologies/{topology.pk}/routes?apply=true").json()
    assert answer["applied"] is True
    assert answer["notes"][-1] == "saved; the running lab gets these routes with Apply changes or at its next deploy"


# -- the command line ---------------------------------------------------------------------------------------------
def lab(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("lab", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_lab_routes_prints_them_and_saves_them_with_apply(alice):
    services.import_topology(alice, without_routes(triangle()))
    out, _ = lab("routes", "triangle", "--user", "alice")
    lines = out.splitlines()
    assert "+ r1  192.168.2.0/24 via 10.0.12.2" in lines
    assert "+ h1  default via 192.168.1.1" in lines
    assert lines[-1] == f"{TRIANGLE_ROUTES} routes proposed, nothing saved (--apply saves them)"
    assert Topology.objects.get(name="triangle").document == triangle()

    out, _ = lab("routes", "triangle", "--user", "alice", "--json")
    answer = json.loads(out)
    assert answer["applied"] is False and len(answer["routes"]) == TRIANGLE_ROUTES

    out, _ = lab("routes", "triangle", "--user", "alice", "--apply")
    assert out.splitlines()[-1] == f"{TRIANGLE_ROUTES} routes added and saved"
    assert Topology.objects.get(name="triangle").document == answer["document"]
    out, _ = lab("routes", "triangle", "--user", "alice", "--apply")
    assert out.splitlines() == ["no routes to add"]


def test_lab_routes_names_a_missing_topology(alice):
    with pytest.raises(CommandError, match="alice has no topology named 'nope'"):
        lab("routes", "nope", "--user", "alice")
