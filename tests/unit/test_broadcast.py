"""Live facts: what :mod:`topology.broadcast` publishes, and who publishes it (real Redis channel layer, no worker).

The reference lab of these tests::

    c1 eth0 ---- eth0 r1 eth1 ---- eth0 c2
    192.168.10.2     (router)      192.168.11.2

A test listens on the lab's group ``lab.<id>`` with a channel of its own,
runs something that changes the lab, and reads what arrived.
"""
from __future__ import annotations

import asyncio
import datetime
import logging
import threading
import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import channel_layers, get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user_model

from tests.documents import reference_document
from tests.unit.test_executor import FakeNetwork, FakeRuntime
from topology import broadcast as events
from topology import leases, operations, services
from topology.engine import names
from topology.engine.executor import Executor, Report
from topology.engine.states import NodeState
from topology.models import LabEvent, LabNode, LabState
from topology.recorder import Recorder

pytestmark = pytest.mark.django_db(transaction=True)  # the recorder writes from a thread of its own


@pytest.fixture
def lab():
    owner = get_user_model().objects.create_user("alice", password=None)
    lab = services.import_topology(owner, reference_document()).lab
    yield lab
    operation = leases.holder(lab.pk)
    if operation is not None:
        leases.release(lab.pk, operation)


def heard(lab_id: int, action, quiet: float = 0.3) -> list[dict]:
    """Run ``action`` (sync) while listening on the lab's group; every message that arrived, in order."""
    async def listen():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(events.group_name(lab_id), channel)
        try:
            await sync_to_async(action)()
            messages = []
            while True:
                try:
                    message = await asyncio.wait_for(layer.receive(channel), quiet)
                except asyncio.TimeoutError:
                    return messages
                assert message["type"] == events.HANDLER
                messages.extend(message["messages"])
        finally:
            await layer.group_discard(events.group_name(lab_id), channel)

    return async_to_sync(listen)()


def of_type(messages, kind):
    return [m for m in messages if m["type"] == kind]


# -- publish --------------------------------------------------------------------------


def test_it_uses_this_runs_own_channel_layer_prefix():
    assert settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] == f"topolab:{settings.TOPOLAB_SITE}:ws"
    assert settings.TOPOLAB_SITE.startswith("test-")


def test_it_publishes_to_the_labs_group_only():
    message = {"type": "node", "name": "c1", "state": "creating", "reason": ""}
    assert heard(41, lambda: events.publish(41, message)) == [message]
    assert heard(42, lambda: events.publish(41, message)) == []


def test_it_publishes_several_messages_in_order_and_skips_empty_ones():
    messages = [events.node_message(f"n{i}", "running") for i in range(20)]
    assert heard(43, lambda: events.publish_many(43, [None, *messages, events.events_message([])])) == messages


class BrokenLayer:
    def __init__(self, error):
        self.error = error

    async def group_send(self, group, message):
        raise self.error


class HungLayer:
    """A channel layer whose ``group_send`` never returns (Redis took the request and went silent).

    Only :meth:`release` (the test's cleanup) lets it go, so that a publish left hanging by a broken
    timeout does not keep the test process from exiting.
    """

    def __init__(self):
        self.calls = 0
        self.released = threading.Event()

    async def group_send(self, group, message):
        self.calls += 1
        while not self.released.is_set():
            await asyncio.sleep(0.01)

    def release(self):
        self.released.set()


def test_it_never_raises_into_the_engine_when_redis_is_down(monkeypatch, caplog):
    monkeypatch.setattr(events, "get_channel_layer", lambda: BrokenLayer(ConnectionError("Connection refused")))
    monkeypatch.setattr(events, "_last_warning", 0.0)
    with caplog.at_level(logging.DEBUG, logger="topology.broadcast"):
        events.publish(1, events.node_message("c1", "running"))
        events.publish(1, events.node_message("c1", "running"))  # logged once, not every 0.2 s
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Connection refused" in warnings[0].getMessage()


def test_it_gives_up_on_a_hung_redis_after_a_timeout(monkeypatch, caplog):
    layer = HungLayer()
    monkeypatch.setattr(events, "get_channel_layer", lambda: layer)
    monkeypatch.setattr(events, "PUBLISH_TIMEOUT", 0.2)
    monkeypatch.setattr(events, "_last_warning", 0.0)
    took: list[float] = []

    def publish():
        started = time.monotonic()
        events.publish(1, events.node_message("c1", "running"))  # returns, does not raise
        took.append(time.monotonic() - started)

    # In a thread of its own: without the timeout, publish would never return, and the join's
    # bound turns that into a failure here (not a hang until pytest-timeout's 600 s).
    thread = threading.Thread(target=publish, name="publish-to-a-hung-redis", daemon=True)
    try:
        with caplog.at_level(logging.WARNING, logger="topology.broadcast"):
            thread.start()
            thread.join(events.PUBLISH_TIMEOUT + 5)
            hung = thread.is_alive()
    finally:
        layer.release()
        thread.join(5)
    assert not hung, "publish did not return: it waited on a Redis that never answers"
    assert layer.calls == 1
    assert 0.9 * events.PUBLISH_TIMEOUT <= took[0] < events.PUBLISH_TIMEOUT + 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "could not publish 1 message(s)" in warnings[0].getMessage()
    assert "TimeoutError" in warnings[0].getMessage()


def test_it_never_raises_with_an_unreachable_redis(settings, monkeypatch, caplog):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                           "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}}  # nothing listens
    monkeypatch.setattr(events, "_last_warning", 0.0)
    channel_layers.backends.clear()
    try:
        with caplog.at_level(logging.WARNING, logger="topology.broadcast"):
            events.publish(1, events.node_message("c1", "running"))
    finally:
        channel_layers.backends.clear()
    assert "could not publish" in caplog.text


# -- the recorder (root side) -----------------------------------------------------------


def test_it_publishes_what_each_flush_recorded_with_the_events_ids(lab):
    LabNode.objects.bulk_create(LabNode(lab=lab, name=name) for name in ("c1", "r1", "c2"))
    recorder = Recorder(lab, "op-1")

    def build():
        recorder(Report("create c1", "started", node="c1", index=1, total=3))
        recorder(Report("create c1", "ok", node="c1", elapsed_ms=12, index=1, total=3, node_state=NodeState.CREATING))
        recorder(Report("create r1", "failed", node="r1", message="No such image", elapsed_ms=3, index=2, total=3,
                        node_state=NodeState.FAILED))
        recorder.flush()

    messages = heard(lab.pk, build)
    batches = of_type(messages, "events")
    assert len(batches) == 1  # one message per flush
    sent = batches[0]["events"]
    stored = list(LabEvent.objects.filter(lab=lab, operation="op-1").order_by("id"))
    assert [e["id"] for e in sent] == [e.pk for e in stored] and all(sent_id for sent_id in (e["id"] for e in sent))
    assert sent[1] == {"id": stored[1].pk, "time": stored[1].created.isoformat(), "step": "create c1",
                       "node": "c1", "status": "ok", "message": "", "index": 1, "total": 3, "elapsed_ms": 12}
    assert datetime.datetime.fromisoformat(sent[0]["time"]).tzinfo is not None
    assert of_type(messages, "node") == [
        {"type": "node", "name": "c1", "state": "creating", "reason": ""},
        {"type": "node", "name": "r1", "state": "failed", "reason": "No such image"},
    ]
    assert dict(LabNode.objects.filter(lab=lab).values_list("name", "state")) == {
        "c1": "creating", "r1": "failed", "c2": "pending"}


def test_it_publishes_nothing_for_an_empty_flush(lab):
    assert heard(lab.pk, Recorder(lab, "op-1").flush) == []


# -- services (web side) ---------------------------------------------------------------------


def test_it_tells_watchers_a_deploy_began_and_every_node_is_pending(lab, broker):
    operation = None

    def deploy():
        nonlocal operation
        operation = services.request_deploy(lab)

    messages = heard(lab.pk, deploy)
    assert messages[0] == {"type": "lab", "state": "deploying", "reason": "", "busy": True, "operation": operation}
    assert [e["step"] for e in messages[1]["events"]] == ["deploy requested"]
    assert messages[1]["events"][0]["index"] is None
    assert sorted((m["name"], m["state"]) for m in of_type(messages, "node")) == [
        ("c1", "pending"), ("c2", "pending"), ("r1", "pending")]
    assert len(broker) == 1  # and the task was queued after


def test_it_tells_watchers_when_the_lab_worker_cannot_be_reached(lab, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("broker down")
    monkeypatch.setattr("topology.tasks.destroy_lab.apply_async", down)

    def destroy():
        with pytest.raises(services.Conflict):
            services.request_destroy(lab)

    messages = heard(lab.pk, destroy)
    assert [(m["type"], m.get("state"), m.get("busy")) for m in of_type(messages, "lab")] == [
        ("lab", "destroying", True), ("lab", "failed", False)]
    assert "broker down" in messages[-1]["reason"]


# -- operations (root side), with a fake engine ----------------------------------------------


class FailingRuntime(FakeRuntime):
    def create(self, *, labels, **kwargs):
        if labels[names.LABEL_NODE] == "r1":
            raise RuntimeError("No such image: topolab/router")
        return super().create(labels=labels, **kwargs)


def fake_engine(monkeypatch, runtime):
    monkeypatch.setattr(operations, "make_executor",
                        lambda: Executor(runtime, FakeNetwork(), site=settings.TOPOLAB_SITE))
    monkeypatch.setattr(operations.netlink, "interfaces_of", lambda pid: [
        {"name": "eth0", "addresses": ["192.0.2.1/24"], "mac": "02:00:00:00:00:01", "mtu": 1500, "state": "up"}])


def test_it_streams_a_deploy_and_ends_with_the_lab_running(lab, broker, monkeypatch):
    fake_engine(monkeypatch, FakeRuntime())
    operation = services.request_deploy(lab)
    messages = heard(lab.pk, lambda: operations.deploy(lab.pk, operation))

    assert [e["step"] for e in messages[-2]["events"]] == ["lab running"]
    assert messages[-1] == {"type": "lab", "state": "running", "reason": "", "busy": False, "operation": operation}
    assert not leases.holder(lab.pk)  # told only once the lease was given back: the next click is not refused
    states = {}
    for message in of_type(messages, "node"):
        states.setdefault(message["name"], []).append(message["state"])
    assert states == {"c1": ["creating", "running"], "r1": ["creating", "running"], "c2": ["creating", "running"]}
    indexed = [e for batch in of_type(messages, "events") for e in batch["events"] if e["index"] is not None]
    total = indexed[0]["total"]
    assert max(e["index"] for e in indexed) == total
    ids = [e["id"] for batch in of_type(messages, "events") for e in batch["events"]]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    assert ids == list(LabEvent.objects.filter(lab=lab, operation=operation).exclude(
        step="deploy requested").values_list("id", flat=True))


@pytest.mark.parametrize("verb", ["deploy", "destroy"])
def test_it_says_the_operation_ended_only_once_the_lease_is_free(lab, broker, monkeypatch, verb):
    fake_engine(monkeypatch, FakeRuntime())
    operation = (services.request_deploy if verb == "deploy" else services.request_destroy)(lab)
    holders = []
    publish_many = events.publish_many

    def spy(lab_id, messages):
        messages = [m for m in messages if m]
        if any(m["type"] == "lab" for m in messages):
            holders.append(leases.holder(lab_id))
        publish_many(lab_id, messages)

    monkeypatch.setattr(events, "publish_many", spy)
    getattr(operations, verb)(lab.pk, operation)
    assert holders == [None]  # a browser that sees "busy": false may click again at once


def test_it_shows_a_failed_deploy_on_the_node_that_failed(lab, broker, monkeypatch):
    fake_engine(monkeypatch, FailingRuntime())
    operation = services.request_deploy(lab)
    messages = heard(lab.pk, lambda: operations.deploy(lab.pk, operation))

    final = of_type(messages, "lab")[-1]
    assert (final["state"], final["busy"]) == ("failed", False)
    assert "No such image" in final["reason"]
    last_state = {m["name"]: m for m in of_type(messages, "node")}
    assert last_state["r1"]["state"] == "failed" and "No such image" in last_state["r1"]["reason"]
    assert (last_state["c1"]["state"], last_state["c2"]["state"]) == ("stopped", "stopped")


def test_it_streams_a_destroy_and_ends_with_the_nodes_stopped(lab, broker, monkeypatch):
    fake_engine(monkeypatch, FakeRuntime())
    LabNode.objects.bulk_create(LabNode(lab=lab, name=name, state="running") for name in ("c1", "r1", "c2"))
    operation = services.request_destroy(lab)
    messages = heard(lab.pk, lambda: operations.destroy(lab.pk, operation))
    assert {m["name"]: m["state"] for m in of_type(messages, "node")} == {
        "c1": "stopped", "r1": "stopped", "c2": "stopped"}
    assert of_type(messages, "lab") == [
        {"type": "lab", "state": "stopped", "reason": "", "busy": False, "operation": operation}]


def test_it_tells_watchers_when_garbage_collection_marks_an_interrupted_lab_failed(lab, broker, monkeypatch):
    fake_engine(monkeypatch, FakeRuntime())
    operation = services.request_deploy(lab)
    leases.release(lab.pk, operation)  # the worker died: nobody holds the lab
    monkeypatch.setattr(operations.netlink, "host_interfaces_with_alias", lambda prefix: [])
    messages = heard(lab.pk, lambda: operations.collect_garbage(queue=lab.queue))
    final = of_type(messages, "lab")[-1]
    assert (final["state"], final["busy"], final["operation"]) == ("failed", False, operation)
    assert "interrupted" in final["reason"]
    assert {m["state"] for m in of_type(messages, "node")} == {"stopped"}


# -- the snapshot -------------------------------------------------------------------------------


def test_it_builds_a_snapshot_of_nodes_in_document_order_and_the_current_operations_last_events(lab):
    LabEvent.objects.bulk_create(LabEvent(lab=lab, operation="old", step=f"old {i}", status="ok") for i in range(3))
    LabEvent.objects.bulk_create(LabEvent(lab=lab, operation="now", step=f"step {i}", status="ok", index=i,
                                          total=510) for i in range(1, 511))
    lab.operation = "now"
    lab.state = LabState.RUNNING
    lab.save()
    LabNode.objects.create(lab=lab, name="r1", state="running", container_id="f" * 64, interfaces=[
        {"name": "eth0", "addresses": ["192.168.10.1/24"], "mac": "02:00:00:00:00:01", "mtu": 1500, "state": "up"}])
    LabNode.objects.create(lab=lab, name="gone", state="running")  # no longer in the document

    snapshot = events.lab_snapshot(lab)
    assert set(snapshot) == {"state", "reason", "busy", "operation", "host_queue", "host_unreachable", "nodes", "events"}
    assert (snapshot["state"], snapshot["busy"], snapshot["operation"]) == ("running", False, "now")
    assert [(n["name"], n["kind"], n["state"]) for n in snapshot["nodes"]] == [
        ("c1", "host", "stopped"), ("r1", "router", "running"), ("c2", "host", "stopped"), ("gone", "", "running")]
    r1 = snapshot["nodes"][1]
    assert r1["container"] == "f" * 12 and r1["reason"] == ""
    assert r1["interfaces"] == [{"name": "eth0", "state": "up", "mac": "02:00:00:00:00:01", "mtu": 1500,
                                 "addresses": ["192.168.10.1/24"]}]
    assert len(snapshot["events"]) == events.SNAPSHOT_EVENTS
    assert [e["step"] for e in snapshot["events"][:1] + snapshot["events"][-1:]] == ["step 11", "step 510"]
    assert set(snapshot["events"][0]) == {"id", "time", "step", "node", "status", "message", "index", "total",
                                          "elapsed_ms"}


def test_it_says_busy_only_while_an_operation_holds_a_deploying_lab(lab, broker):
    services.request_deploy(lab)
    assert events.lab_snapshot(lab)["busy"] is True
    leases.release(lab.pk, leases.holder(lab.pk))  # the worker died
    snapshot = events.lab_snapshot(lab)
    assert (snapshot["state"], snapshot["busy"]) == ("deploying", False)
