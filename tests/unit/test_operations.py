"""Root-side operations: a lab deleted while its task was queued, the parts of a deploy said in the worker's log,
and one Docker client per worker thread."""
import json
import threading
import time

import pytest
from django.conf import settings

from tests.unit.test_executor import FakeNetwork, FakeRuntime
from topology import leases, operations, services
from topology.engine.executor import Executor


def test_it_does_nothing_for_a_lab_deleted_while_its_task_waited(db):
    assert operations.deploy(987654321, "some-operation") == operations.GONE
    assert operations.destroy(987654321, "some-operation") == operations.GONE


def test_a_deploy_says_its_parts_in_one_line_of_the_log(topology, broker, released, monkeypatch, caplog):
    monkeypatch.setattr(operations, "make_executor",
                        lambda: Executor(FakeRuntime(), FakeNetwork(), site=settings.TOPOLAB_SITE))
    monkeypatch.setattr(operations.netlink, "interfaces_of", lambda pid: [])
    operation = services.request_deploy(topology.lab)
    before = time.time()
    with caplog.at_level("INFO", logger="topology.operations"):
        assert operations.deploy(topology.lab.pk, operation) == "running"
    lines = [r.getMessage() for r in caplog.records if operations.PARTS_LINE in r.getMessage()]
    assert len(lines) == 1
    said = json.loads(lines[0].split(operations.PARTS_LINE, 1)[1])
    assert said["operation"] == operation and before <= said["picked_up"] <= time.time()
    assert {"lease taken", "parse and plan", "teardown check", "build", "interfaces read", "nodes' state written",
            "lab's state written", "lease given back", "broadcast at the end"} <= set(said["parts"])
    assert all(seconds >= 0 for seconds in said["parts"].values())


def test_a_worker_thread_keeps_its_docker_client_and_another_thread_gets_its_own(monkeypatch):
    made = []

    class Runtime:
        def __init__(self):
            made.append(self)

    monkeypatch.setattr(operations, "DockerRuntime", Runtime)
    monkeypatch.setattr(operations, "_runtimes", threading.local())
    first, again = operations._runtime(), operations._runtime()
    other = []
    thread = threading.Thread(target=lambda: other.append(operations._runtime()))
    thread.start()
    thread.join()
    assert first is again and other[0] is not first and len(made) == 2



@pytest.mark.django_db(transaction=True)  # gc writes from threads of its own
@pytest.mark.parametrize("request_it, said", [
    (services.request_deploy, "the deploy was interrupted (the lab worker stopped); what it had built was removed"),
    (services.request_destroy, "the destroy was interrupted (the lab worker stopped); what was left of the lab was removed"),
])
def test_gc_says_of_an_interrupted_operation_what_it_removed(topology, broker, released, monkeypatch, request_it, said):
    monkeypatch.setattr(operations, "make_executor",
                        lambda: Executor(FakeRuntime(), FakeNetwork(), site=settings.TOPOLAB_SITE))
    monkeypatch.setattr(operations.netlink, "host_interfaces_with_alias", lambda prefix: [])
    operation = request_it(topology.lab)
    leases.release(topology.lab.pk, operation)  # the worker died holding nothing
    assert operations.collect_garbage(queue=topology.lab.queue).interrupted == [topology.lab.pk]
    topology.lab.refresh_from_db()
    assert (topology.lab.state, topology.lab.reason) == ("failed", said)
