"""Unit tests of the REST API (``/api/v1/``), without Docker or a worker.

Deploy and destroy go to a fake broker (``apply_async`` replaced by a
recorder); exec and the image list get a fake Celery result. Leases live in
the test run's own Redis database and are given back after each test.

Most tests use the spec's reference lab:

    c1 eth0 ---- eth0 r1 eth1 ---- eth0 c2
    192.168.10.2     (router)      192.168.11.2
"""
from __future__ import annotations

import copy
import dataclasses
import json

import pytest
from celery.exceptions import TimeoutError as CeleryTimeout
from django.conf import settings
from django.contrib.staticfiles import finders
from django.db import connection
from django.test import Client

from tests.celery_results import FakeResult
from tests.documents import reference_document
from topology import kinds, leases, services, tasks, workers
from topology.limits import EXEC_OUTPUT_CAP
from topology.models import ApiToken, Lab, LabEvent, LabNode, LabState, NodeStatus, Topology
from topology.schema.models import MAX_DOCUMENT_BYTES

REFERENCE = reference_document()
NAME = REFERENCE["name"]
API = "/api/v1"


# -- fixtures --------------------------------------------------------------------------------------------------
@pytest.fixture
def bob_client(bob):
    c = Client()
    c.force_login(bob)
    return c


@pytest.fixture(autouse=True)
def _released(released):
    """Every test here gives its leases back."""


@pytest.fixture(autouse=True)
def empty_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def worker(monkeypatch):
    """A fake lab worker: set ``worker.answers[task_name]`` to a FakeResult; ``worker.sent`` records requests."""

    class Worker:
        def __init__(self):
            self.sent, self.answers = [], {}

    w = Worker()

    def patch(task):
        def apply_async(args=None, kwargs=None, **options):
            w.sent.append((task.name, args, options))
            return w.answers[task.name]
        monkeypatch.setattr(task, "apply_async", apply_async)

    patch(tasks.exec_in_node)
    patch(tasks.list_images)
    return w


def call(client, method, url, body=None, **extra):
    """Any method with a JSON body (by default the reference document)."""
    return client.generic(method.upper(), url, json.dumps(body or REFERENCE), content_type="application/json",
                          **extra)


def create(client, document=None, **extra):
    return client.post(f"{API}/topologies", json.dumps(document or REFERENCE), content_type="application/json",
                       **extra)


@pytest.fixture
def topology(alice) -> Topology:
    return services.import_topology(alice, copy.deepcopy(REFERENCE))


def running(topology: Topology) -> Lab:
    """Make the lab look deployed: running, each node with a container and interfaces."""
    lab = topology.lab
    Lab.objects.filter(pk=lab.pk).update(state=LabState.RUNNING, operation="op1")
    for i, node in enumerate(("c1", "r1", "c2")):
        LabNode.objects.create(lab=lab, name=node, state=NodeStatus.RUNNING, container_id=f"{i:064x}",
                               interfaces=[{"name": "eth0", "mac": f"02:00:00:00:00:0{i}", "mtu": 1500,
                                            "state": "up", "addresses": [f"10.0.{i}.1/24"]}])
    lab.refresh_from_db()
    return lab


def errors(response) -> list[dict]:
    body = response.json()
    assert set(body) >= {"errors"}, body
    return body["errors"]


# -- authentication ------------------------------------------------------------------------------------------------
ENDPOINTS = [
    ("get", "/topologies"), ("post", "/topologies"), ("get", "/topologies/{id}"), ("put", "/topologies/{id}"),
    ("delete", "/topologies/{id}"), ("get", "/topologies/{id}/export"), ("post", "/validate"),
    ("post", "/topologies/{id}/deploy"), ("post", "/topologies/{id}/destroy"), ("get", "/topologies/{id}/lab"),
    ("post", "/topologies/{id}/nodes/c1/exec"), ("get", "/images"),
]


@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_it_answers_401_without_credentials(topology, broker, method, path):
    response = call(Client(), method, API + path.format(id=topology.pk))
    assert response.status_code == 401
    assert "detail" in response.json()
    assert Topology.objects.get().document == REFERENCE and broker == []


@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_it_answers_401_to_a_wrong_or_revoked_token(topology, alice, broker, method, path):
    token, secret = ApiToken.issue(alice, "script")
    ApiToken.objects.filter(pk=token.pk).update(revoked="2026-01-01T00:00:00Z")
    for header in (f"Bearer {secret}", "Bearer tl_nope", "Bearer ", "Token " + secret):
        response = call(Client(), method, API + path.format(id=topology.pk), HTTP_AUTHORIZATION=header)
        assert response.status_code == 401, header
    assert Topology.objects.get().document == REFERENCE and broker == []


def test_it_accepts_a_bearer_token_without_csrf_and_notes_its_use(alice):
    token, secret = ApiToken.issue(alice, "script")
    c = Client(enforce_csrf_checks=True)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert c.get(f"{API}/topologies", **auth).json() == []
    response = create(c, **auth)
    assert response.status_code == 201
    assert Topology.objects.get().owner == alice
    token.refresh_from_db()
    assert token.last_used is not None


def test_it_stops_accepting_a_token_once_revoked(alice):
    token, secret = ApiToken.issue(alice, "script")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert Client().get(f"{API}/topologies", **auth).status_code == 200
    token.revoked = "2026-01-01T00:00:00Z"
    token.save()
    assert Client().get(f"{API}/topologies", **auth).status_code == 401


def test_it_refuses_the_token_of_a_deactivated_user(alice):
    _, secret = ApiToken.issue(alice, "script")
    alice.is_active = False
    alice.save()
    assert Client().get(f"{API}/topologies", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401


def test_it_enforces_csrf_on_session_posts(alice):
    c = Client(enforce_csrf_checks=True)
    c.force_login(alice)
    assert c.get(f"{API}/topologies").status_code == 200  # safe methods need no token
    refused = create(c)
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert Topology.objects.count() == 0
    c.get("/tokens/")  # any page with a form sets the csrftoken cookie
    csrf = c.cookies["csrftoken"].value
    assert create(c, HTTP_X_CSRFTOKEN=csrf).status_code == 201


@pytest.mark.parametrize("method,path", [(m, p) for m, p in ENDPOINTS if m in ("post", "put", "delete")])
def test_it_enforces_csrf_on_every_unsafe_session_request(topology, alice, broker, method, path):
    c = Client(enforce_csrf_checks=True)
    c.force_login(alice)
    response = call(c, method, API + path.format(id=topology.pk))
    assert response.status_code == 403
    assert Topology.objects.get().document == REFERENCE and broker == []


# -- topologies ------------------------------------------------------------------------------------------------------
def test_it_lists_only_your_topologies_by_name(client, alice, bob):
    for name in ("zeta", "alpha"):
        services.import_topology(alice, {**REFERENCE, "name": name})
    services.import_topology(bob, {**REFERENCE, "name": "bobs"})
    response = client.get(f"{API}/topologies")
    assert response.status_code == 200
    items = response.json()
    assert [t["name"] for t in items] == ["alpha", "zeta"]
    item = items[0]
    assert set(item) == {"id", "name", "description", "node_count", "link_count", "lab", "created", "updated"}
    assert (item["node_count"], item["link_count"]) == (3, 2)
    assert item["description"] == REFERENCE["description"]
    assert item["lab"] == {"state": "stopped", "busy": False, "reason": "", "host_queue": settings.TOPOLAB_QUEUE,
                           "host_unreachable": False}


def test_it_creates_a_topology_from_a_document(client, alice):
    response = create(client)
    assert response.status_code == 201
    body = response.json()
    topology = Topology.objects.get()
    assert body["id"] == topology.pk and body["name"] == NAME and topology.owner == alice
    assert body["document"] == REFERENCE == topology.document
    assert body["warnings"] == [] and body["lab"]["state"] == "stopped"
    assert topology.lab.queue


def test_it_returns_warnings_with_a_created_topology(client):
    lonely = copy.deepcopy(REFERENCE)
    lonely["nodes"].append({"name": "alone"})
    response = create(client, lonely)
    assert response.status_code == 201
    assert any(w["path"] == "nodes[3]" for w in response.json()["warnings"])


def test_it_lists_every_problem_of_a_bad_document_and_saves_nothing(client):
    bad = copy.deepcopy(REFERENCE)
    bad["name"] = "Bad Name"
    bad["links"][1]["endpoints"][1]["node"] = "r9"
    bad["nodse"] = []
    response = create(client, bad)
    assert response.status_code == 400
    body = response.json()
    paths = {p["path"] for p in body["errors"]}
    assert {"name", "links[1].endpoints[1].node", "nodse"} <= paths
    assert all(set(p) == {"path", "message"} for p in body["errors"])
    assert "warnings" in body
    assert Topology.objects.count() == 0 and Lab.objects.count() == 0


@pytest.mark.parametrize("text", ['{"format": "topolab/v1",', "", "[1, 2]", '{"a": NaN}'])
def test_it_refuses_a_body_that_is_not_a_json_object(client, text):
    response = client.post(f"{API}/topologies", text, content_type="application/json")
    assert response.status_code == 400
    assert errors(response)[0]["path"] == ""
    assert Topology.objects.count() == 0


def test_it_refuses_a_name_you_already_use(client, topology):
    response = create(client, {**REFERENCE, "description": "another"})
    assert response.status_code == 400
    assert [p["path"] for p in errors(response)] == ["name"]
    assert Topology.objects.get().document == REFERENCE


def test_it_lets_two_users_use_the_same_name(client, bob_client):
    assert create(client).status_code == 201
    assert create(bob_client).status_code == 201
    assert Topology.objects.count() == 2


def big_document(size: int) -> str:
    """The reference lab padded (in its annotations) to exactly ``size`` bytes of JSON."""
    doc = {**REFERENCE, "annotations": {"pad": ""}}
    base = len(json.dumps(doc).encode())
    doc["annotations"]["pad"] = "x" * (size - base)
    text = json.dumps(doc)
    assert len(text.encode()) == size
    return text


def test_it_accepts_a_document_of_5_mib(client):
    response = client.post(f"{API}/topologies", big_document(MAX_DOCUMENT_BYTES), content_type="application/json")
    assert response.status_code == 201, response.content[:300]
    assert len(Topology.objects.get().document["annotations"]["pad"]) > 5_000_000
    response = client.put(f"{API}/topologies/{response.json()['id']}", big_document(MAX_DOCUMENT_BYTES - 10),
                          content_type="application/json")
    assert response.status_code == 200, response.content[:300]


def test_it_reads_bodies_under_asgi_too(transactional_db, alice):
    """The server runs the API under ASGI (daphne): bodies come through its request class."""
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    _, secret = ApiToken.issue(alice, "asgi")
    c, auth = AsyncClient(), {"Authorization": f"Bearer {secret}"}
    response = async_to_sync(c.post)(f"{API}/topologies", json.dumps(REFERENCE), content_type="application/json",
                                     headers=auth)
    assert response.status_code == 201, response.content
    too_big = async_to_sync(c.post)(f"{API}/validate", big_document(MAX_DOCUMENT_BYTES + 1),
                                    content_type="application/json", headers=auth)
    assert too_big.json()["valid"] is False and "5 MiB" in too_big.json()["errors"][0]["message"]


@pytest.mark.parametrize("path", ["/topologies", "/validate", "/topologies/{id}"])
def test_it_refuses_a_document_over_5_mib(client, topology, path):
    text = big_document(MAX_DOCUMENT_BYTES + 1)
    url = API + path.format(id=topology.pk)
    send = client.put if "{id}" in path else client.post
    response = send(url, text, content_type="application/json")
    body = response.json()
    if path == "/validate":
        assert response.status_code == 200 and body["valid"] is False
    else:
        assert response.status_code == 400
    assert body["errors"][0]["path"] == ""
    assert "5 MiB" in body["errors"][0]["message"]
    assert Topology.objects.count() == 1 and "annotations" not in Topology.objects.get().document


def test_it_reads_a_topology_with_its_document_and_warnings(client, topology):
    response = client.get(f"{API}/topologies/{topology.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["document"] == REFERENCE and body["warnings"] == [] and body["id"] == topology.pk
    assert body["lab"] == {"state": "stopped", "busy": False, "reason": "", "host_queue": settings.TOPOLAB_QUEUE,
                           "host_unreachable": False}


def test_it_answers_404_for_a_topology_that_does_not_exist(client):
    for url in (f"{API}/topologies/999", f"{API}/topologies/999/lab", f"{API}/topologies/999/export"):
        response = client.get(url)
        assert response.status_code == 404 and "detail" in response.json()


def test_it_replaces_a_document(client, topology):
    changed = copy.deepcopy(REFERENCE)
    changed["description"] = "v2"
    changed["nodes"].append({"name": "extra"})
    response = client.put(f"{API}/topologies/{topology.pk}", json.dumps(changed), content_type="application/json")
    assert response.status_code == 200
    body = response.json()
    assert body["document"] == changed and body["node_count"] == 4
    assert any(w["path"] == "nodes[3]" for w in body["warnings"])
    topology.refresh_from_db()
    assert topology.document == changed


def test_it_renames_with_a_put_and_keeps_the_lab(client, topology):
    lab_id = topology.lab.pk
    response = client.put(f"{API}/topologies/{topology.pk}", json.dumps({**REFERENCE, "name": "renamed"}),
                          content_type="application/json")
    assert response.status_code == 200 and response.json()["name"] == "renamed"
    topology.refresh_from_db()
    assert topology.name == "renamed" and topology.lab.pk == lab_id


def test_it_refuses_a_rename_to_a_name_you_use(client, alice, topology):
    services.import_topology(alice, {**REFERENCE, "name": "other"})
    response = client.put(f"{API}/topologies/{topology.pk}", json.dumps({**REFERENCE, "name": "other"}),
                          content_type="application/json")
    assert response.status_code == 400
    assert [p["path"] for p in errors(response)] == ["name"]
    topology.refresh_from_db()
    assert topology.name == NAME


def test_it_refuses_a_bad_replacement_and_keeps_the_document(client, topology):
    bad = copy.deepcopy(REFERENCE)
    bad["links"][0]["endpoints"][0]["addresses"] = ["192.168.10.2"]
    response = client.put(f"{API}/topologies/{topology.pk}", json.dumps(bad), content_type="application/json")
    assert response.status_code == 400
    assert errors(response)[0]["path"] == "links[0].endpoints[0].addresses[0]"
    topology.refresh_from_db()
    assert topology.document == REFERENCE


def test_it_deletes_a_stopped_topology(client, topology):
    response = client.delete(f"{API}/topologies/{topology.pk}")
    assert response.status_code == 204
    assert Topology.objects.count() == 0 and Lab.objects.count() == 0


def test_it_deletes_a_failed_lab_that_left_nothing_running(client, topology):
    Lab.objects.filter(pk=topology.lab.pk).update(state=LabState.FAILED, reason="deploy failed")
    LabNode.objects.create(lab=topology.lab, name="c1", state=NodeStatus.FAILED, container_id="")
    assert client.delete(f"{API}/topologies/{topology.pk}").status_code == 204
    assert Topology.objects.count() == 0


def test_it_refuses_to_delete_a_running_lab(client, topology):
    running(topology)
    response = client.delete(f"{API}/topologies/{topology.pk}")
    assert response.status_code == 409
    assert "destroy it first" in response.json()["detail"]
    assert Topology.objects.count() == 1


def test_it_refuses_to_delete_a_failed_lab_with_containers_left(client, topology):
    running(topology)
    Lab.objects.filter(pk=topology.lab.pk).update(state=LabState.FAILED, reason="destroy failed: boom")
    assert client.delete(f"{API}/topologies/{topology.pk}").status_code == 409
    assert Topology.objects.count() == 1


def test_it_refuses_to_delete_a_busy_lab(client, topology, broker):
    services.request_deploy(topology.lab)
    response = client.delete(f"{API}/topologies/{topology.pk}")
    assert response.status_code == 409 and "busy" in response.json()["detail"]
    assert Topology.objects.count() == 1


def test_it_exports_the_bare_document_as_a_download(client, topology):
    response = client.get(f"{API}/topologies/{topology.pk}/export")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"] == f'attachment; filename="{NAME}.json"'
    assert json.loads(response.content) == REFERENCE


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL's jsonb cannot hold a lone surrogate: only a "
                                                          "SQLite database can have such an old document")
def test_it_exports_a_document_saved_with_a_lone_surrogate_before_they_were_refused(client, topology):
    old = {**REFERENCE, "description": "broken \ud800 text"}
    Topology.objects.filter(pk=topology.pk).update(document=old)  # as an older Topolab may have stored it
    response = client.get(f"{API}/topologies/{topology.pk}/export")
    assert response.status_code == 200
    assert b"\\ud800" in response.content and json.loads(response.content) == old


def test_it_validates_without_saving(client):
    response = client.post(f"{API}/validate", json.dumps(REFERENCE), content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {"valid": True, "errors": [], "warnings": []}
    bad = {**REFERENCE, "nodse": []}
    body = client.post(f"{API}/validate", json.dumps(bad), content_type="application/json").json()
    assert body["valid"] is False and [p["path"] for p in body["errors"]] == ["nodse"]
    assert Topology.objects.count() == 0


def test_it_validates_invalid_json_as_invalid_with_path_empty(client):
    response = client.post(f"{API}/validate", "{not json", content_type="application/json")
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False and body["errors"][0]["path"] == "" and "JSON" in body["errors"][0]["message"]


# -- trailing slashes ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/topologies/", "/topologies/{id}/", "/topologies/{id}/export/",
                                  "/topologies/{id}/lab/"])
def test_it_answers_gets_with_a_trailing_slash(client, topology, path):
    response = client.get(API + path.format(id=topology.pk))
    assert response.status_code == 200


def test_it_answers_every_other_method_with_a_trailing_slash(client, topology, broker, worker):
    base = f"{API}/topologies/{topology.pk}"
    assert client.post(f"{API}/validate/", json.dumps(REFERENCE), content_type="application/json").json()["valid"]
    assert client.post(f"{API}/topologies/", json.dumps({**REFERENCE, "name": "second"}),
                       content_type="application/json").status_code == 201
    assert client.put(f"{base}/", json.dumps(REFERENCE), content_type="application/json").status_code == 200
    assert client.post(f"{base}/deploy/").status_code == 202
    Lab.objects.filter(pk=topology.lab.pk).update(state=LabState.STOPPED)
    leases.release(topology.lab.pk, leases.holder(topology.lab.pk))
    assert client.post(f"{base}/destroy/").status_code == 202
    leases.release(topology.lab.pk, leases.holder(topology.lab.pk))
    LabNode.objects.filter(lab=topology.lab).delete()
    running(topology)
    worker.answers["topology.exec_in_node"] = FakeResult({"exit_code": 0, "output": "hi\n", "timed_out": False,
                                                          "truncated": False})
    assert client.post(f"{base}/nodes/c1/exec/", json.dumps({"argv": ["echo", "hi"]}),
                       content_type="application/json").status_code == 200
    worker.answers["topology.list_images"] = FakeResult({"images": []})
    assert client.get(f"{API}/images/").status_code == 200
    Lab.objects.filter(pk=topology.lab.pk).update(state=LabState.STOPPED)
    LabNode.objects.filter(lab=topology.lab).update(container_id="")
    assert client.delete(f"{base}/").status_code == 204


# -- deploy and destroy ------------------------------------------------------------------------------------------
def test_it_queues_a_deploy_on_the_labs_queue(client, topology, broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{API}/topologies/{topology.pk}/deploy")
    assert response.status_code == 202
    body = response.json()
    lab = Lab.objects.get()
    assert body == {"state": "deploying", "operation": lab.operation}
    assert broker == [("deploy", {"args": [lab.pk, lab.operation], "queue": lab.queue})]
    assert client.get(f"{API}/topologies/{topology.pk}/lab").json()["busy"] is True


def test_it_refuses_a_second_operation_while_one_runs(client, topology, broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{API}/topologies/{topology.pk}/deploy").status_code == 202
    operation = Lab.objects.get().operation
    for action in ("deploy", "destroy"):
        response = client.post(f"{API}/topologies/{topology.pk}/{action}")
        assert response.status_code == 409 and "busy" in response.json()["detail"]
    assert len(broker) == 1 and Lab.objects.get().operation == operation


def test_it_refuses_to_deploy_a_running_lab(client, topology, broker):
    running(topology)
    response = client.post(f"{API}/topologies/{topology.pk}/deploy")
    assert response.status_code == 409 and "already running" in response.json()["detail"]
    assert broker == [] and Lab.objects.get().state == LabState.RUNNING


def test_it_refuses_to_deploy_what_cannot_be_deployed(client, alice, broker, monkeypatch):
    monkeypatch.setitem(kinds.KINDS, "frr", dataclasses.replace(kinds.KINDS["frr"], deploy_refusal="not here"))
    frr = {"format": "topolab/v1", "name": "with-frr", "nodes": [{"name": "h1"}, {"name": "f1", "kind": "frr"}],
           "links": [{"endpoints": [{"node": "h1", "interface": "eth0", "addresses": ["10.1.0.2/24"]},
                                    {"node": "f1", "interface": "eth0", "addresses": ["10.1.0.1/24"]}]}]}
    topology = services.import_topology(alice, frr)
    response = client.post(f"{API}/topologies/{topology.pk}/deploy")
    assert response.status_code == 400
    assert errors(response) and all(set(p) == {"path", "message"} for p in errors(response))
    assert broker == [] and Lab.objects.get().state == LabState.STOPPED


def test_it_queues_a_destroy(client, topology, broker, django_capture_on_commit_callbacks):
    running(topology)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{API}/topologies/{topology.pk}/destroy")
    assert response.status_code == 202
    lab = Lab.objects.get()
    assert response.json() == {"state": "destroying", "operation": lab.operation}
    assert broker == [("destroy", {"args": [lab.pk, lab.operation], "queue": lab.queue})]


# -- the lab ------------------------------------------------------------------------------------------------------
def test_it_shows_a_stopped_lab(client, topology):
    response = client.get(f"{API}/topologies/{topology.pk}/lab")
    assert response.status_code == 200
    assert response.json() == {
        "state": "stopped", "reason": "", "busy": False, "operation": "", "events": [],
        "host_queue": settings.TOPOLAB_QUEUE, "host_unreachable": False,
        "nodes": [{"name": n, "kind": k, "state": "stopped", "container": "", "reason": "", "interfaces": []}
                  for n, k in (("c1", "host"), ("r1", "router"), ("c2", "host"))],
    }


def test_it_shows_a_running_lab_with_interfaces_and_the_current_operations_events(client, topology):
    lab = running(topology)
    LabEvent.objects.create(lab=lab, operation="old", step="from before", status="ok")
    for i in range(510):
        LabEvent.objects.create(lab=lab, operation="op1", step=f"step {i}", node="c1", status="ok",
                                index=i + 1, total=510, elapsed_ms=i)
    body = client.get(f"{API}/topologies/{topology.pk}/lab").json()
    assert body["state"] == "running" and body["operation"] == "op1"
    c1 = body["nodes"][0]
    assert c1["name"] == "c1" and c1["state"] == "running" and c1["container"] == f"{0:064x}"[:12]
    assert c1["interfaces"] == [{"name": "eth0", "state": "up", "mac": "02:00:00:00:00:00", "mtu": 1500,
                                 "addresses": ["10.0.0.1/24"]}]
    events = body["events"]
    assert len(events) == 500
    assert events[0]["step"] == "step 10" and events[-1]["step"] == "step 509"
    assert set(events[0]) == {"id", "time", "step", "node", "status", "message", "index", "total", "elapsed_ms"}
    assert events[-1]["index"] == 510 and events[-1]["elapsed_ms"] == 509


# -- exec -------------------------------------------------------------------------------------------------------
def exec_(client, topology, body, node="c1"):
    return client.post(f"{API}/topologies/{topology.pk}/nodes/{node}/exec",
                       body if isinstance(body, str) else json.dumps(body), content_type="application/json")


def test_it_runs_a_command_in_a_node_through_the_worker(client, topology, worker):
    lab = running(topology)
    answer = FakeResult({"exit_code": 0, "output": "64 bytes from 10.0.0.1: ttl=63\n", "timed_out": False,
                         "truncated": False})
    worker.answers["topology.exec_in_node"] = answer
    response = exec_(client, topology, {"argv": ["ping", "-c", "1", "10.0.0.1"], "timeout": 5})
    assert response.status_code == 200
    assert response.json()["exit_code"] == 0 and "ttl=63" in response.json()["output"]
    [(name, args, options)] = worker.sent
    assert name == "topology.exec_in_node"
    assert args == [lab.pk, "c1", ["ping", "-c", "1", "10.0.0.1"], 5.0]  # IDs and argv only
    assert options["queue"] == workers.exec_queue(lab.queue)  # the exec worker's, not the lab worker's
    assert answer.waited == 15 and answer.forgotten


def test_it_waits_30_seconds_by_default(client, topology, worker):
    running(topology)
    worker.answers["topology.exec_in_node"] = answer = FakeResult({"exit_code": 1, "output": ""})
    assert exec_(client, topology, {"argv": ["false"]}).json()["exit_code"] == 1
    assert worker.sent[0][1][3] == 30.0 and answer.waited == 40


@pytest.mark.parametrize("body,path", [
    ({"argv": []}, "argv"), ({"argv": "ping -c 1 x"}, "argv"), ({}, "argv"), ({"argv": ["ping", 1]}, "argv[1]"),
    ({"argv": ["ping", "a\x00b"]}, "argv[1]"), ({"argv": [""]}, "argv[0]"), ({"argv": ["ls"], "timeout": 0}, "timeout"),
    ({"argv": ["ls"], "timeout": "5"}, "timeout"), ({"argv": ["ls"], "timeout": 301}, "timeout"),
    ({"argv": ["ls"], "shell": True}, "shell"), ("[1]", ""), ("{nope", ""), ({"argv": ["x" * 70000]}, ""),
])
def test_it_refuses_a_bad_argv(client, topology, worker, body, path):
    running(topology)
    response = exec_(client, topology, body)
    assert response.status_code == 400
    assert path in [p["path"] for p in errors(response)] or (path == "" and errors(response))
    assert worker.sent == []


def test_it_answers_404_for_an_unknown_node(client, topology, worker):
    running(topology)
    response = exec_(client, topology, {"argv": ["ls"]}, node="c9")
    assert response.status_code == 404 and "c9" in response.json()["detail"]
    assert worker.sent == []


def test_it_answers_409_when_the_node_is_not_running(client, topology, worker):
    response = exec_(client, topology, {"argv": ["ls"]})
    assert response.status_code == 409 and "not running" in response.json()["detail"]
    lab = running(topology)
    LabNode.objects.filter(lab=lab, name="c1").update(state=NodeStatus.FAILED)
    assert exec_(client, topology, {"argv": ["ls"]}).status_code == 409
    assert worker.sent == []


def test_it_answers_409_when_the_worker_finds_the_node_stopped(client, topology, worker):
    running(topology)
    worker.answers["topology.exec_in_node"] = FakeResult({"error": "not_running", "detail": "'c1' is not running"})
    response = exec_(client, topology, {"argv": ["ls"]})
    assert response.status_code == 409 and response.json()["detail"] == "'c1' is not running"


@pytest.mark.parametrize("answer,status", [
    ({"error": "not_running", "detail": "the node's container is gone"}, 409),
    ({"error": "exec_failed", "detail": "the command failed: Read timed out."}, 502),
    ({"error": "exec_failed", "detail": "cannot run the command: OCI runtime exec failed"}, 502),
], ids=["container-gone", "socket-timeout", "docker-error"])
def test_it_answers_409_only_when_the_node_is_gone_and_502_with_the_reason_when_docker_failed(
        client, topology, worker, answer, status):
    running(topology)
    worker.answers["topology.exec_in_node"] = FakeResult(answer)
    response = exec_(client, topology, {"argv": ["ls"]})
    assert response.status_code == status
    assert response.json() == {"detail": answer["detail"]}


def test_it_documents_every_answer_of_exec():
    schema = Client().get(f"{API}/openapi.json").json()
    answers = schema["paths"]["/api/v1/topologies/{topology_id}/nodes/{name}/exec"]["post"]["responses"]
    assert {"200", "400", "404", "409", "502", "504"} <= set(answers)


def test_it_refuses_an_exec_body_over_djangos_upload_limit_as_too_large(client, topology, worker, settings):
    running(topology)
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # Django's default (2.5 MiB): labsite.settings keeps it
    assert limit == 2_621_440
    response = exec_(client, topology, {"argv": ["echo", "x" * limit]})
    assert response.status_code == 400
    assert errors(response) == [{"path": "", "message": "the request body is too large"}]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000  # the limit it is about, not the size
    response = exec_(client, topology, {"argv": ["echo", "x" * 1000]})
    assert response.status_code == 400
    assert errors(response) == [{"path": "", "message": "the request body is too large"}]
    assert worker.sent == []


def test_it_does_not_call_any_failure_to_read_the_body_too_large(client, topology, worker, monkeypatch):
    from django.http import HttpRequest, UnreadablePostError

    running(topology)

    def broken(request):
        raise UnreadablePostError("the client went away mid-body")

    monkeypatch.setattr(HttpRequest, "body", property(broken))
    with pytest.raises(UnreadablePostError):
        exec_(client, topology, {"argv": ["ls"]})
    assert worker.sent == []


def test_it_answers_504_when_no_worker_answers_an_exec(client, topology, worker):
    running(topology)
    worker.answers["topology.exec_in_node"] = FakeResult(error=CeleryTimeout("late"))
    response = exec_(client, topology, {"argv": ["ls"]})
    assert response.status_code == 504 and "worker" in response.json()["detail"]
    assert worker.sent[0][2]["expires"] == 40  # a worker that comes up later does not run it


def test_it_answers_504_when_the_queue_cannot_be_reached(client, topology, monkeypatch):
    running(topology)

    def down(*args, **kwargs):
        raise OSError("connection refused")
    monkeypatch.setattr(tasks.exec_in_node, "apply_async", down)
    response = exec_(client, topology, {"argv": ["ls"]})
    assert response.status_code == 504 and "cannot be reached" in response.json()["detail"]


# -- images -----------------------------------------------------------------------------------------------------
IMAGES = [{"name": "topolab/base", "kinds": ["host", "router", "switch"], "present": True, "up_to_date": True,
           "size_bytes": 123},
          {"name": "topolab/frr", "kinds": ["frr"], "present": False, "up_to_date": False, "size_bytes": None}]


def test_it_lists_images_from_this_hosts_worker_and_caches_them(client, worker, settings):
    worker.answers["topology.list_images"] = FakeResult({"images": IMAGES})
    response = client.get(f"{API}/images")
    assert response.status_code == 200 and response.json() == IMAGES
    assert worker.sent == [("topology.list_images", [], {"queue": settings.TOPOLAB_QUEUE, "expires": 20})]
    assert client.get(f"{API}/images").json() == IMAGES
    assert len(worker.sent) == 1  # the second answer came from the cache


def test_it_answers_504_when_no_worker_lists_images(client, worker):
    worker.answers["topology.list_images"] = FakeResult(error=CeleryTimeout("late"))
    response = client.get(f"{API}/images")
    assert response.status_code == 504 and "detail" in response.json()
    worker.answers["topology.list_images"] = FakeResult({"images": IMAGES})
    assert client.get(f"{API}/images").status_code == 200  # a failure is not cached


def test_it_answers_502_when_the_worker_cannot_reach_docker(client, worker):
    worker.answers["topology.list_images"] = FakeResult({"error": "cannot reach the Docker Engine"})
    response = client.get(f"{API}/images")
    assert response.status_code == 502 and "Docker" in response.json()["detail"]


# -- another user's topology -----------------------------------------------------------------------------------------
def test_it_hides_another_users_topology_from_every_endpoint(bob_client, topology, broker, worker):
    lab = running(topology)
    before = (Topology.objects.get().document, Topology.objects.get().name)
    base = f"{API}/topologies/{topology.pk}"
    attempts = [
        bob_client.get(base), bob_client.get(f"{base}/"), bob_client.get(f"{base}/export"),
        bob_client.get(f"{base}/lab"),
        bob_client.put(base, json.dumps({**REFERENCE, "name": "stolen"}), content_type="application/json"),
        bob_client.post(f"{base}/deploy"), bob_client.post(f"{base}/destroy"), bob_client.delete(base),
        exec_(bob_client, topology, {"argv": ["id"]}),
    ]
    for response in attempts:
        assert response.status_code == 404, response.request
        assert response.json() == {"detail": "Not Found"}  # the same as for a topology that does not exist
    assert bob_client.get(f"{API}/topologies").json() == []
    lab.refresh_from_db()
    assert (Topology.objects.get().document, Topology.objects.get().name) == before
    assert lab.state == LabState.RUNNING and lab.operation == "op1"
    assert broker == [] and worker.sent == []


def test_it_hides_another_users_topology_from_a_token_too(bob, topology):
    _, secret = ApiToken.issue(bob, "bob's script")
    response = Client().get(f"{API}/topologies/{topology.pk}", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 404


# -- schema and docs -------------------------------------------------------------------------------------------
def test_it_serves_an_openapi_schema_of_every_route():
    response = Client().get(f"{API}/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths) == {
        "/api/v1/topologies", "/api/v1/topologies/{topology_id}", "/api/v1/topologies/{topology_id}/export",
        "/api/v1/topologies/import",  # interop: containerlab and Kathará labs
        "/api/v1/validate", "/api/v1/topologies/{topology_id}/deploy", "/api/v1/topologies/{topology_id}/destroy",
        "/api/v1/topologies/{topology_id}/lab", "/api/v1/topologies/{topology_id}/nodes/{name}/exec",
        "/api/v1/images",
        "/api/v1/courses", "/api/v1/courses/{course_id}", "/api/v1/courses/join", "/api/v1/courses/{course_id}/code",
        "/api/v1/courses/{course_id}/students", "/api/v1/courses/{course_id}/students/csv",
        "/api/v1/courses/{course_id}/students/{username}/remove",
        "/api/v1/courses/{course_id}/instructors", "/api/v1/courses/{course_id}/instructors/{username}/remove",
        # classrooms: assignments, their checks and results, the course's labs, limits
        "/api/v1/courses/{course_id}/assignments", "/api/v1/assignments/{assignment_id}",
        "/api/v1/assignments/{assignment_id}/publish", "/api/v1/assignments/{assignment_id}/unpublish",
        "/api/v1/assignments/{assignment_id}/start", "/api/v1/assignments/{assignment_id}/reset",
        "/api/v1/topologies/{topology_id}/assignment", "/api/v1/markdown",
        "/api/v1/topologies/{topology_id}/checks", "/api/v1/assignments/{assignment_id}/checks/try",
        "/api/v1/assignments/{assignment_id}/results", "/api/v1/assignments/{assignment_id}/results/rerun",
        "/api/v1/assignments/{assignment_id}/results.csv",
        "/api/v1/courses/{course_id}/grid", "/api/v1/courses/{course_id}/labs/destroy",
        "/api/v1/courses/{course_id}/students/{username}/topologies/{topology_id}/destroy",
        "/api/v1/limits",
        "/api/v1/topologies/{topology_id}/ping-all",
        "/api/v1/topologies/{topology_id}/links/{end}", "/api/v1/capabilities",
        "/api/v1/topologies/{topology_id}/nodes/{node}/{action}", "/api/v1/topologies/{topology_id}/apply",
        "/api/v1/frr/check", "/api/v1/topologies/{topology_id}/frr/starting-config",
        "/api/v1/topologies/{topology_id}/frr/save",
        "/api/v1/routes/compute", "/api/v1/topologies/{topology_id}/routes",
        "/api/v1/convert/to-clab", "/api/v1/convert/from-clab",  # the editor's text view
        "/api/v1/topologies/{topology_id}/captures", "/api/v1/topologies/{topology_id}/captures/{capture_id}",
        "/api/v1/topologies/{topology_id}/captures/{capture_id}.pcap",
    }
    assert set(paths["/api/v1/topologies/{topology_id}"]) == {"get", "put", "delete"}
    assert "requestBody" in paths["/api/v1/topologies"]["post"]
    schemes = response.json()["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}


def test_it_serves_the_docs_page_from_local_static_files():
    response = Client().get(f"{API}/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html and "/static/ninja/swagger-ui.css" in html
    assert "cdn" not in html.lower() and "https://" not in html
    for name in ("ninja/swagger-ui-bundle.js", "ninja/swagger-ui.css", "ninja/swagger-ui-init.js"):
        assert finders.find(name), name


# -- the worker's side of exec and images (a fake Docker runtime) ----------------------------------------------------
class FakeRuntime:
    """Stands in for DockerRuntime: records exec calls and streams the given chunks."""

    calls: list = []
    ended: list = []
    chunks: list[bytes] = []
    code = 0
    delay = 0.0

    def __init__(self, *args, **kwargs):
        self.timeout = kwargs.get("timeout")

    def exec(self, container_id, argv, *, stream=None, user="", started=None):
        import time

        FakeRuntime.calls.append((container_id, argv, self.timeout))
        if started is not None:
            started(f"exec-{len(FakeRuntime.calls)}")
        for chunk in FakeRuntime.chunks:
            stream(chunk)
        time.sleep(FakeRuntime.delay)
        return FakeRuntime.code

    def end_exec(self, exec_id):
        FakeRuntime.ended.append(exec_id)


@pytest.fixture
def fake_runtime(monkeypatch):
    FakeRuntime.calls, FakeRuntime.chunks, FakeRuntime.code, FakeRuntime.delay = [], [b"ok\n"], 0, 0.0
    FakeRuntime.ended = []
    monkeypatch.setattr("topology.engine.docker_runtime.DockerRuntime", FakeRuntime)
    return FakeRuntime


def test_it_runs_exec_in_the_container_the_worker_finds_itself(topology, fake_runtime):
    lab = running(topology)
    fake_runtime.chunks, fake_runtime.code = [b"hello ", "w\u00f6rld\n".encode()], 7
    answer = tasks.exec_in_node(lab.pk, "r1", ["echo", "hello"], 5)
    assert answer == {"exit_code": 7, "output": "hello w\u00f6rld\n", "timed_out": False, "truncated": False}
    assert fake_runtime.calls == [(f"{1:064x}", ["echo", "hello"], 10)]


def test_it_refuses_exec_in_a_node_that_is_not_running(topology, fake_runtime):
    lab = topology.lab
    assert tasks.exec_in_node(lab.pk, "c1", ["ls"], 5)["error"] == "no_node"  # never deployed
    running(topology)
    Lab.objects.filter(pk=lab.pk).update(state=LabState.DESTROYING)
    assert tasks.exec_in_node(lab.pk, "c1", ["ls"], 5)["error"] == "not_running"
    assert tasks.exec_in_node(lab.pk, "c9", ["ls"], 5)["error"] == "no_node"
    assert tasks.exec_in_node(999, "c1", ["ls"], 5)["error"] == "no_node"
    assert tasks.exec_in_node(lab.pk, "c1", "ls -l", 5)["error"] == "bad_argv"
    assert fake_runtime.calls == []


def test_it_caps_exec_output_at_1_mib(topology, fake_runtime):
    lab = running(topology)
    fake_runtime.chunks = [b"x" * 700_000, b"y" * 700_000, b"z" * 10]
    answer = tasks.exec_in_node(lab.pk, "c1", ["yes"], 5)
    assert answer["truncated"] is True and len(answer["output"]) == EXEC_OUTPUT_CAP
    assert answer["output"].endswith("y") and answer["exit_code"] == 0


def test_it_stops_waiting_for_a_command_at_its_timeout(topology, fake_runtime):
    import time

    lab = running(topology)
    fake_runtime.delay = 3
    started = time.monotonic()
    answer = tasks.exec_in_node(lab.pk, "c1", ["sleep", "60"], 1)
    assert time.monotonic() - started < 2.5
    assert answer == {"exit_code": 124, "output": "ok\n", "timed_out": True, "truncated": False}
    assert fake_runtime.ended == ["exec-1"]  # and the command was ended, not left running


def test_it_lists_images_in_the_apis_shape(monkeypatch):
    from topology import images

    monkeypatch.setattr(images, "list_images", lambda runtime=None: [
        images.ImageStatus("topolab/base", ("host", "router"), True, True, "sha256:1", 100, "now")])
    assert tasks.list_images() == {"images": [{"name": "topolab/base", "kinds": ["host", "router"], "present": True,
                                               "up_to_date": True, "size_bytes": 100}]}

    def broken(runtime=None):
        raise images.ImageBuildError("cannot reach the Docker Engine")
    monkeypatch.setattr(images, "list_images", broken)
    assert tasks.list_images() == {"error": "cannot reach the Docker Engine"}
