"""Workers that are there or not (topology/workers.py, topology/leases.py), in real Redis, without a worker.

Heartbeats say which queues a worker process consumes. A deploy or destroy for a queue without one is
refused at once (503, the lab left as it was), and an operation queued for a worker that died before
starting it no longer holds its lab: the owner's next destroy is accepted.
"""
from __future__ import annotations

import time
import uuid
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from tests.documents import reference_document
from topology import labview, leases, services, tasks, workers
from topology.models import Lab, LabEvent, LabState

API = "/api/v1"


def nobody_queue() -> str:
    return f"lab.unit-nobody-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def beats():
    """Heartbeats a test starts, stopped after it."""
    started: list[workers.Heartbeat] = []

    def start(*queues, instance=None) -> workers.Heartbeat:
        heartbeat = workers.Heartbeat(queues, instance=instance)
        heartbeat.beat()
        started.append(heartbeat)
        return heartbeat

    yield start
    for heartbeat in started:
        heartbeat.stop()


@pytest.fixture
def lab_without_worker(alice, released):
    """Alice's reference lab, on a queue no worker consumes."""
    topology = services.import_topology(alice, reference_document())
    Lab.objects.filter(pk=topology.lab.pk).update(queue=nobody_queue())
    topology.lab.refresh_from_db()
    return topology.lab


# -- heartbeats ----------------------------------------------------------------------------------------------------
def test_a_heartbeat_says_which_worker_consumes_a_queue_until_it_stops(beats):
    queue = nobody_queue()
    assert leases.worker_alive(queue) is None
    heartbeat = beats(queue, workers.exec_queue(queue))
    assert leases.worker_alive(queue) == leases.worker_alive(workers.exec_queue(queue)) == heartbeat.instance
    assert leases.instance_alive(heartbeat.instance)
    assert 0 < leases.client().pttl(leases.worker_key(queue)) <= leases.HEARTBEAT_TTL_MS
    heartbeat.stop()
    assert leases.worker_alive(queue) is None and not leases.instance_alive(heartbeat.instance)


def test_a_stopping_worker_leaves_another_workers_heartbeat_alone(beats):
    queue = nobody_queue()
    first = beats(queue)
    second = beats(queue)  # beat last: the queue names it
    first.stop()
    assert leases.worker_alive(queue) == second.instance


def test_a_heartbeat_is_renewed_from_its_thread_and_lapses_when_its_process_dies(monkeypatch):
    monkeypatch.setattr(workers, "HEARTBEAT_EVERY", 0.05)
    monkeypatch.setattr(leases, "HEARTBEAT_TTL_MS", 300)
    queue = nobody_queue()
    heartbeat = workers.Heartbeat([queue]).start()
    try:
        time.sleep(0.8)  # well past the TTL: only the thread's beats keep it
        assert leases.worker_alive(queue) == heartbeat.instance
    finally:
        heartbeat._stop.set()  # a crash: no goodbye, the beats just stop
        heartbeat._thread.join()
    time.sleep(0.4)
    assert leases.worker_alive(queue) is None and not leases.instance_alive(heartbeat.instance)


def test_the_worker_beats_for_the_queues_it_consumes_and_only_the_lab_worker_reconciles(monkeypatch, settings):
    started, collected = [], []
    monkeypatch.setattr(workers, "start_heartbeat", lambda queues: started.append(set(queues)))
    monkeypatch.setattr("topology.operations.collect_garbage", lambda queue: collected.append(queue))
    exec_consumer = SimpleNamespace(app=SimpleNamespace(amqp=SimpleNamespace(queues=SimpleNamespace(
        consume_from={workers.exec_queue(settings.TOPOLAB_QUEUE): object()}))))
    tasks.beat_on_start(sender=exec_consumer)
    tasks.reconcile_on_start(sender=exec_consumer)
    assert started == [{workers.exec_queue(settings.TOPOLAB_QUEUE)}]
    assert collected == []  # the exec worker leaves reconciling (and watching) to the lab worker


# -- no worker: refused at once, nothing changed -------------------------------------------------------------------
def _unchanged(lab: Lab) -> None:
    lab.refresh_from_db()
    assert (lab.state, lab.operation) == (LabState.STOPPED, "")
    assert leases.holder(lab.pk) is None and not LabEvent.objects.filter(lab=lab).exists()


@pytest.mark.parametrize("request_", [services.request_deploy, services.request_destroy])
def test_it_refuses_to_queue_for_a_queue_no_worker_consumes(lab_without_worker, broker, request_,
                                                            django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(services.NoWorker) as refused:
            request_(lab_without_worker)
    assert refused.value.status == 503
    assert refused.value.message.startswith("no lab worker is running for this host")
    assert lab_without_worker.queue in refused.value.message
    assert broker == [] and callbacks == []
    _unchanged(lab_without_worker)


@pytest.mark.parametrize("action", ["deploy", "destroy"])
def test_the_api_answers_503_within_a_second(lab_without_worker, client, broker, action):
    started = time.monotonic()
    response = client.post(f"{API}/topologies/{lab_without_worker.topology_id}/{action}")
    assert response.status_code == 503 and time.monotonic() - started < 1
    assert response.json()["detail"].startswith("no lab worker is running for this host")
    assert broker == []
    _unchanged(lab_without_worker)


def test_the_schema_documents_503_for_deploy_and_destroy():
    paths = Client().get(f"{API}/openapi.json").json()["paths"]
    for action in ("deploy", "destroy"):
        assert "503" in paths[f"/api/v1/topologies/{{topology_id}}/{action}"]["post"]["responses"]


def test_the_cli_says_no_worker_runs_and_exits_1(lab_without_worker, broker):
    with pytest.raises(CommandError) as refused:
        call_command("lab", "deploy", lab_without_worker.topology.name, "--user", "alice")
    assert refused.value.returncode == 1
    assert str(refused.value).startswith("no lab worker is running for this host")
    _unchanged(lab_without_worker)


def test_the_images_route_answers_503_when_no_lab_worker_runs(client, settings, monkeypatch):
    settings.TOPOLAB_QUEUE = nobody_queue()
    monkeypatch.setattr(tasks.list_images, "apply_async", lambda **kw: pytest.fail("queued for nobody"))
    response = client.get(f"{API}/images")
    assert response.status_code == 503 and "no lab worker is running for this host" in response.json()["detail"]


# -- an operation queued for a worker that died --------------------------------------------------------------------
LAB = 876543


@pytest.fixture
def lease():
    client = leases.client()
    client.delete(leases._key(LAB), leases._queued_key(LAB))
    yield
    client.delete(leases._key(LAB), leases._queued_key(LAB))


def test_a_queued_operation_holds_its_lab_while_its_worker_lives(lease, beats):
    worker = beats(nobody_queue())
    assert leases.acquire(LAB, "queued", worker=worker.instance)
    assert leases.is_held(LAB) and not leases.abandoned(LAB)
    assert not leases.acquire(LAB, "another", worker=worker.instance)
    assert leases.holder(LAB) == "queued"


def test_it_lets_go_of_an_operation_whose_worker_died_before_starting_it(lease, beats):
    dead = beats(nobody_queue())
    assert leases.acquire(LAB, "lost", worker=dead.instance)
    dead.stop()  # its task was lost with it (or waits in a queue nobody reads)
    assert leases.abandoned(LAB) and not leases.is_held(LAB)
    assert leases.holder(LAB) == "lost"
    alive = beats(nobody_queue())
    assert leases.acquire(LAB, "retry", worker=alive.instance)  # taken over
    assert leases.holder(LAB) == "retry" and leases.is_held(LAB) and not leases.abandoned(LAB)
    with pytest.raises(leases.LeaseLost):  # should the lost task still turn up, it does nothing
        with leases.held(LAB, "lost"):
            raise AssertionError("the body must not run")
    assert leases.holder(LAB) == "retry"


def test_an_operation_a_worker_started_holds_its_lab_by_its_renewals_only(lease, beats, monkeypatch):
    monkeypatch.setattr(leases, "WORKER_TTL_MS", 600)
    worker = beats(nobody_queue())
    assert leases.acquire(LAB, "working", worker=worker.instance)
    with leases.held(LAB, "working"):
        worker.stop()  # its heartbeat lapses (a blip), but the operation runs and renews its lease
        assert leases.is_held(LAB) and not leases.abandoned(LAB)
        assert not leases.acquire(LAB, "another")
    assert leases.holder(LAB) is None


def test_the_owner_destroys_a_lab_stuck_behind_a_dead_worker(alice, released, broker, beats, client,
                                                            django_capture_on_commit_callbacks):
    queue = nobody_queue()
    topology = services.import_topology(alice, reference_document())
    Lab.objects.filter(pk=topology.lab.pk).update(queue=queue)
    lab = Lab.objects.get(pk=topology.lab.pk)
    dead = beats(queue)
    with django_capture_on_commit_callbacks(execute=True):
        stuck = services.request_destroy(lab)
    dead.stop()  # ...and the task went with it
    lab.refresh_from_db()
    assert lab.state == LabState.DESTROYING and leases.holder(lab.pk) == stuck
    assert labview.stale(lab) and not labview.summary(lab)["busy"]
    # No worker yet: said at once, and the lab stays as it was.
    response = client.post(f"{API}/topologies/{topology.pk}/destroy")
    assert response.status_code == 503
    lab.refresh_from_db()
    assert (lab.state, lab.operation) == (LabState.DESTROYING, stuck)
    # A worker is back: the owner's destroy is accepted and queued for it.
    beats(queue)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{API}/topologies/{topology.pk}/destroy")
    assert response.status_code == 202, response.content
    retry = response.json()["operation"]
    assert retry != stuck and leases.holder(lab.pk) == retry and leases.is_held(lab.pk)
    assert [(action, kwargs["args"][1], kwargs["queue"]) for action, kwargs in broker] == [
        ("destroy", stuck, queue), ("destroy", retry, queue)]
    assert labview.summary(Lab.objects.get(pk=lab.pk))["busy"] is True
