"""A lab worker that is not there: said within a second, and a lab stuck behind a dead one is destroyable again.

Against real worker processes, each on a queue of its own test (topology/testing/worker.py), and the
real Docker Engine:

- no worker ever ran on the queue: deploy and destroy through the API answer 503 at once, saying so,
  and the lab stays as it was;
- a worker is killed, and the destroy queued for it in the instant before its heartbeat lapsed is
  lost with it: the lab reads "destroying" but not busy, a destroy says no worker runs, and once a
  worker is back the owner's destroy is accepted and tears the lab down.
"""
from __future__ import annotations

import json
import time
import uuid

import pytest
from django.conf import settings
from django.test import Client

from labsite.celery import app
from topology import labview, leases, services
from topology.models import ApiToken, Lab, LabState
from topology.testing.labs import wait_for
from topology.testing.worker import WorkerProcess

API = "/api/v1"


def pair(name: str) -> dict:
    return {"format": "topolab/v1", "name": name, "nodes": [{"name": "a"}, {"name": "b"}],
            "links": [{"endpoints": [{"node": "a", "interface": "eth0"}, {"node": "b", "interface": "eth0"}]}]}


def own_queue(what: str) -> str:
    return f"{settings.TOPOLAB_QUEUE}-{what}-{uuid.uuid4().hex[:6]}"


def on_queue(owner, document: dict, queue: str) -> Lab:
    topology = services.import_topology(owner, document)
    Lab.objects.filter(pk=topology.lab.pk).update(queue=queue)
    return Lab.objects.get(pk=topology.lab.pk)


@pytest.fixture
def api(owner):
    _, secret = ApiToken.issue(owner, "no-worker")
    return Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_deploy_and_destroy_say_at_once_that_no_worker_runs_and_change_nothing(owner, api):
    lab = on_queue(owner, pair("nobody-works-here"), own_queue("nobody"))
    for action in ("deploy", "destroy"):
        started = time.monotonic()
        response = api.post(f"{API}/topologies/{lab.topology_id}/{action}")
        took = time.monotonic() - started
        assert response.status_code == 503, response.content
        assert took < 1, f"{action} took {took:.2f} s to say no worker runs"
        assert response.json()["detail"].startswith("no lab worker is running for this host")
        lab.refresh_from_db()
        assert (lab.state, lab.operation, leases.holder(lab.pk)) == (LabState.STOPPED, "", None)
        assert not lab.events.exists()


def test_a_lab_stuck_behind_a_dead_worker_is_destroyed_once_a_worker_is_back(labs, owner, api, tmp_path):
    queue = own_queue("dies")
    first = WorkerProcess(queue, tmp_path / "first.log", lab_queue=queue)
    first.start()
    lab = on_queue(owner, pair("behind-a-dead-worker"), queue)
    labs.deployed.append(lab)  # torn down by the fixture (through the run's own worker) if the test fails
    try:
        stuck_then_destroyed(labs, api, lab, queue, first, tmp_path)
    finally:
        Lab.objects.filter(pk=lab.pk).update(queue=settings.TOPOLAB_QUEUE)


def stuck_then_destroyed(labs, api, lab: Lab, queue: str, first: WorkerProcess, tmp_path) -> None:
    try:
        lab = wait_for(lab, services.request_deploy(lab))
        assert lab.state == LabState.RUNNING, lab.reason
        assert len(labs.containers(lab)) == 2
    finally:
        first.kill()

    # Its heartbeat outlives it for a few seconds: a destroy is queued for it, and lost with it
    # (as a task the worker had taken from the queue would be).
    stuck = services.request_destroy(lab)
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge(queue)
    lab.refresh_from_db()
    assert (lab.state, lab.operation) == (LabState.DESTROYING, stuck)

    deadline = time.monotonic() + leases.HEARTBEAT_TTL_MS / 1000 + 5
    while leases.worker_alive(queue) is not None:
        assert time.monotonic() < deadline, "the dead worker's heartbeat never lapsed"
        time.sleep(0.2)
    # Not busy any more (the operation's worker is gone), though the lease has minutes to run...
    assert leases.holder(lab.pk) == stuck and not leases.is_held(lab.pk)
    body = api.get(f"{API}/topologies/{lab.topology_id}/lab").json()
    assert body["state"] == "destroying" and body["busy"] is False
    # ...and while no worker runs, a destroy says so within a second and leaves the lab as it was.
    started = time.monotonic()
    response = api.post(f"{API}/topologies/{lab.topology_id}/destroy")
    assert response.status_code == 503 and time.monotonic() - started < 1, response.content
    assert "no lab worker is running for this host" in response.json()["detail"]
    lab.refresh_from_db()
    assert (lab.state, lab.operation) == (LabState.DESTROYING, stuck)

    # A worker is back (it may already have reconciled the interrupted lab): the owner's destroy is
    # accepted and finishes the job.
    second = WorkerProcess(queue, tmp_path / "second.log", lab_queue=queue)
    second.start()
    try:
        response = api.post(f"{API}/topologies/{lab.topology_id}/destroy")
        assert response.status_code == 202, response.content
        retry = response.json()["operation"]
        lab = wait_for(lab, retry, timeout=60)
        assert lab.state == LabState.STOPPED, lab.reason
        assert labs.containers(lab) == []
        assert not labview.stale(lab) and not leases.is_held(lab.pk)
        assert json.loads(api.get(f"{API}/topologies/{lab.topology_id}/lab").content)["busy"] is False
    finally:
        second.stop()
