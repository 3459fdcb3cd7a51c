"""What the reliability drills (tests/drills/) found, pinned down one by one against real Redis and the database.

- A worker restarted at once after a ``kill -9`` reconciles a lab its dead predecessor left busy as soon as
  that lab's lease lapses, not only at its start (when the lease was still alive).
- The relay takes its one-per-host lock back when a Redis restarted empty lost it, but not from another relay.
- The kernel's capabilities are put back when a Redis restarted empty lost them, and a newer probe is kept.
"""
from __future__ import annotations

import json
import threading
import time
import uuid

from django.conf import settings
from django.contrib.auth import get_user_model

from tests.websockets import run
from topology import kernel, leases, operations, services, tasks
from topology.engine import impair
from topology.models import Lab
from topology.operations import Collected
from topology.relay import singleton


def test_a_lab_left_busy_by_a_killed_worker_is_reconciled_once_its_lease_lapses(transactional_db, monkeypatch):
    owner = get_user_model().objects.create_user("killed", password="pw-killed-1")
    document = {"format": "topolab/v1", "name": "left-busy", "nodes": [{"name": "a"}], "links": []}
    lab = services.import_topology(owner, document).lab
    queue = f"{settings.TOPOLAB_QUEUE}-lapse-{uuid.uuid4().hex[:6]}"
    Lab.objects.filter(pk=lab.pk).update(queue=queue, state="deploying", operation="dead-one")
    # The dead worker renewed the lease just before it died: alive for a moment more.
    assert leases.acquire(lab.pk, "dead-one", ttl_ms=1500)
    monkeypatch.setattr(leases, "WORKER_TTL_MS", 1500)
    monkeypatch.setattr(leases, "HEARTBEAT_TTL_MS", 1500)
    calls = []

    def collect(queue=None):
        calls.append((queue, leases.is_held(lab.pk), time.monotonic()))
        return Collected(interrupted=[lab.pk])

    monkeypatch.setattr(operations, "collect_garbage", collect)
    started = time.monotonic()
    thread = threading.Thread(target=tasks._reconcile_when_leases_lapse, args=(queue,))
    thread.start()
    thread.join(20)
    assert not thread.is_alive()
    assert len(calls) == 1, calls
    called_queue, held, when = calls[0]
    assert called_queue == queue and held is False
    assert 1.0 < when - started < 5


def test_the_reconcile_leaves_alone_a_lab_whose_operation_changed_meanwhile(transactional_db, monkeypatch):
    owner = get_user_model().objects.create_user("moved", password="pw-moved-1")
    document = {"format": "topolab/v1", "name": "moved-on", "nodes": [{"name": "a"}], "links": []}
    lab = services.import_topology(owner, document).lab
    queue = f"{settings.TOPOLAB_QUEUE}-moved-{uuid.uuid4().hex[:6]}"
    Lab.objects.filter(pk=lab.pk).update(queue=queue, state="destroying", operation="dead-one")
    monkeypatch.setattr(leases, "WORKER_TTL_MS", 1000)
    monkeypatch.setattr(leases, "HEARTBEAT_TTL_MS", 1000)
    assert leases.acquire(lab.pk, "dead-one", ttl_ms=5000)
    calls = []
    monkeypatch.setattr(operations, "collect_garbage", lambda queue=None: calls.append(queue) or Collected())
    thread = threading.Thread(target=tasks._reconcile_when_leases_lapse, args=(queue,))
    thread.start()
    time.sleep(0.5)
    Lab.objects.filter(pk=lab.pk).update(operation="a-new-one")  # a user's new operation took the lab
    leases.release(lab.pk, "dead-one")
    thread.join(20)
    assert not thread.is_alive() and calls == []


def test_the_relay_takes_its_lock_back_when_redis_lost_it_but_not_from_another_relay(monkeypatch):
    monkeypatch.setattr(singleton, "RENEW_EVERY", 0.05)
    key = f"topolab:test:relay-lock:{uuid.uuid4().hex}"

    async def body():
        import asyncio

        lock = singleton.SingletonLock(key)
        await lock.acquire(wait=0)
        await lock.client.delete(key)  # Redis restarted empty
        await asyncio.sleep(0.3)
        back = await lock.client.get(key)
        await lock.client.set(key, "other-host:4242", px=5000)  # another relay took it meanwhile
        await asyncio.sleep(0.3)
        kept = await lock.client.get(key)
        await lock.client.delete(key)
        await lock.release()
        return back, kept, lock.me

    back, kept, me = run(body)
    assert back == me
    assert kept == "other-host:4242"


def test_the_kernels_capabilities_are_put_back_when_redis_lost_them_and_a_newer_probe_is_kept():
    queue = f"lab.caps-{uuid.uuid4().hex[:6]}"
    key = impair.capabilities_key(settings.TOPOLAB_SITE, queue)
    found = {"probed": "then", "netem": True}
    client = leases.client()
    client.delete(key)
    stop = threading.Event()
    keeper = kernel.keep_published(found, queue, every=0.05, stop=stop)
    deadline = time.monotonic() + 5
    while client.get(key) is None:
        assert time.monotonic() < deadline, "the capabilities were not put back"
        time.sleep(0.02)
    assert json.loads(client.get(key)) == found
    client.set(key, json.dumps({"probed": "now"}))
    time.sleep(0.3)
    assert json.loads(client.get(key)) == {"probed": "now"}
    stop.set()
    keeper.join(5)
    assert not keeper.is_alive()
    client.delete(key)
