"""The API's FRR tools (topology/api/frr.py) with the exec worker faked: what they send, how they refuse, what
"save configs" writes into the document. The real checker and nodes are tests/integration/test_frr.py's."""
from __future__ import annotations

import json

import pytest
from celery.exceptions import TimeoutError as CeleryTimeout
from django.conf import settings
from django.test import Client

from tests.celery_results import FakeResult
from topology import frr, frr_worker, leases, services, tasks, workers
from topology.api import frr as frr_api
from topology.models import Lab, LabNode, LabState, NodeStatus, Topology

API = "/api/v1"

#   h1 --/24-- f1 --/30-- f2
DOCUMENT = {
    "format": "topolab/v1", "name": "frr-pair",
    "nodes": [{"name": "h1"}, {"name": "f1", "kind": "frr",
                               "files": [{"path": frr.CONF, "content": "hostname f1\n"},
                                         {"path": "/etc/motd", "content": "hi\n"}]},
              {"name": "f2", "kind": "frr"}],
    "links": [{"endpoints": [{"node": "h1", "interface": "eth0", "addresses": ["192.168.1.2/24"]},
                             {"node": "f1", "interface": "eth1", "addresses": ["192.168.1.1/24"]}]},
              {"endpoints": [{"node": "f1", "interface": "eth0", "addresses": ["10.0.12.1/30"]},
                             {"node": "f2", "interface": "eth0", "addresses": ["10.0.12.2/30"]}]}],
}


@pytest.fixture
def pair(alice) -> Topology:
    return services.import_topology(alice, json.loads(json.dumps(DOCUMENT)))


@pytest.fixture
def running(pair) -> Lab:
    """The pair's lab, looking deployed: running, each node with a container."""
    lab = pair.lab
    Lab.objects.filter(pk=lab.pk).update(state=LabState.RUNNING, operation="op1")
    for i, name in enumerate(("h1", "f1", "f2")):
        LabNode.objects.create(lab=lab, name=name, state=NodeStatus.RUNNING, container_id=f"{i + 1:064x}")
    lab.refresh_from_db()
    return lab


class Sent(list):
    """The tasks sent, as (task name, args, options); each answers ``answer`` (a FakeResult)."""

    answer = FakeResult({"ok": True, "errors": []})


@pytest.fixture
def sent(monkeypatch, released):
    calls = Sent()
    for task in (tasks.frr_check, tasks.frr_running_configs):
        def apply_async(args=None, _name=task.name, **options):
            calls.append((_name, args, options))
            return calls.answer
        monkeypatch.setattr(task, "apply_async", apply_async)
    yield calls
    client = leases.client()
    for key in client.scan_iter("topolab:*:user:*:frr-check"):
        client.delete(key)


def post(client, path, body):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(f"{API}{path}", data, content_type="application/json")


def paths(response) -> list[str]:
    return [p["path"] for p in response.json()["errors"]]


# -- /frr/check ----------------------------------------------------------------------------------------------------
def test_a_check_goes_to_the_exec_worker_with_the_config_and_answers_its_verdict(client, sent, alice):
    sent.answer = FakeResult({"ok": False, "errors": [{"line": 2, "message": "% Unknown command: bogus"}]})
    response = post(client, "/frr/check", {"config": "hostname f1\nbogus\n"})
    assert response.status_code == 200, response.content
    assert response.json() == {"ok": False, "errors": [{"line": 2, "message": "% Unknown command: bogus"}]}
    [(name, args, options)] = sent
    assert name == "topology.frr_check" and args == ["hostname f1\nbogus\n"]
    assert options["queue"] == workers.exec_queue(settings.TOPOLAB_QUEUE)
    assert sent.answer.waited == frr_api.CHECK_WAIT
    assert workers.exec_slots_in_use(user=alice.pk) == 0  # given back
    assert leases.client().get(leases.user_mark_key(alice.pk, "frr-check")) is None


@pytest.mark.parametrize("body, where", [
    ("{not json", ""), ("[1]", ""), ({}, "config"), ({"config": 3}, "config"), ({"config": "a\x00b"}, "config"),
    ({"config": "x", "extra": 1}, "extra"), ({"config": "x" * (frr.MAX_CONFIG_BYTES + 1)}, "config"),
])
def test_a_check_refuses_a_body_that_is_not_a_config_with_its_path(client, sent, body, where):
    response = post(client, "/frr/check", body)
    assert response.status_code == 400 and where in paths(response), response.content
    assert sent == []


def test_one_check_per_user_at_a_time_and_the_workers_refusals(client, sent, alice):
    leases.client().set(leases.user_mark_key(alice.pk, "frr-check"), "another request", px=10_000)
    response = post(client, "/frr/check", {"config": "hostname f1\n"})
    assert response.status_code == 429 and response["Retry-After"] == str(frr_api.CHECK_RETRY_AFTER)
    assert sent == []
    leases.client().delete(leases.user_mark_key(alice.pk, "frr-check"))
    sent.answer = FakeResult({"error": "exec_failed", "detail": "image 'topolab/frr' is not on this host"})
    response = post(client, "/frr/check", {"config": "hostname f1\n"})
    assert response.status_code == 502 and "not on this host" in response.json()["detail"]
    sent.answer = FakeResult(error=CeleryTimeout())
    assert post(client, "/frr/check", {"config": "hostname f1\n"}).status_code == 504


def test_a_check_takes_an_exec_slot_of_the_user_and_gives_back_its_mark_when_none_is_free(client, sent, alice,
                                                                                          settings):
    settings.TOPOLAB_MAX_EXECS_PER_USER = 1
    slot = workers.take_exec_slot(user=alice.pk, lab=10 ** 6, queue=workers.exec_queue(settings.TOPOLAB_QUEUE),
                                  seconds=10)
    try:
        response = post(client, "/frr/check", {"config": "hostname f1\n"})
        assert response.status_code == 429 and "you already run 1 command" in response.json()["detail"]
        assert sent == [] and leases.client().get(leases.user_mark_key(alice.pk, "frr-check")) is None
    finally:
        slot.release()


def test_a_check_needs_a_signed_in_user():
    assert post(Client(), "/frr/check", {"config": "hostname f1\n"}).status_code == 401


# -- starting configurations ------------------------------------------------------------------------------------------
def test_a_starting_config_is_made_from_the_saved_document(client, pair, sent):
    response = post(client, f"/topologies/{pair.pk}/frr/starting-config", {"node": "f1", "daemons": ["ospf", "bgp"]})
    assert response.status_code == 200, response.content
    files = response.json()["files"]
    assert [f["path"] for f in files] == [frr.CONF, frr.DAEMONS]
    assert " neighbor 10.0.12.2 remote-as 64514" in files[0]["content"] and "ospfd=yes" in files[1]["content"]
    assert sent == []  # no worker needed
    pair.refresh_from_db()
    assert pair.document["nodes"][1]["files"][0]["content"] == "hostname f1\n"  # nothing saved


@pytest.mark.parametrize("body, where", [
    ({"node": "h1", "daemons": ["ospf"]}, "node"), ({"node": "nosuch", "daemons": ["ospf"]}, "node"),
    ({"node": "f1", "daemons": []}, "daemons"), ({"node": "f1", "daemons": ["rip"]}, "daemons"),
    ({"node": "f1"}, "daemons"), ({"node": "f1", "daemons": ["ospf"], "x": 1}, "x"),
])
def test_a_starting_config_refuses_a_node_that_is_not_frr_and_unknown_daemons(client, pair, body, where):
    response = post(client, f"/topologies/{pair.pk}/frr/starting-config", body)
    assert response.status_code == 400 and paths(response) == [where], response.content


def test_another_users_topology_does_not_exist(bob, pair, running, sent):
    other = Client()
    other.force_login(bob)
    assert post(other, f"/topologies/{pair.pk}/frr/starting-config", {"node": "f1", "daemons": ["ospf"]}).status_code == 404
    assert post(other, f"/topologies/{pair.pk}/frr/save", {"dry_run": True}).status_code == 404
    assert sent == []


# -- save configs ------------------------------------------------------------------------------------------------------
RUNNING_F1 = "frr defaults traditional\nhostname f1\n!\nrouter ospf\nexit\n!\nend\n"
RUNNING_F2 = "frr defaults traditional\nhostname f2\n!\nend\n"


def test_save_configs_refuses_a_lab_that_does_not_run_and_a_bad_body(client, pair, sent):
    response = post(client, f"/topologies/{pair.pk}/frr/save", {"dry_run": True})
    assert response.status_code == 409 and response.json() == {"detail": "the lab is stopped; deploy it first"}
    assert paths(post(client, f"/topologies/{pair.pk}/frr/save", {"dry_run": "yes"})) == ["dry_run"]
    assert paths(post(client, f"/topologies/{pair.pk}/frr/save", {})) == ["dry_run"]
    assert sent == []


def test_a_dry_run_shows_each_running_frr_nodes_diff_and_saves_nothing(client, pair, running, sent):
    sent.answer = FakeResult({"configs": {"f1": {"config": RUNNING_F1}, "f2": {"config": RUNNING_F2}}})
    before = Topology.objects.get(pk=pair.pk).document
    response = post(client, f"/topologies/{pair.pk}/frr/save", {"dry_run": True})
    assert response.status_code == 200, response.content
    [(name, args, options)] = sent
    assert name == "topology.frr_running_configs" and args == [running.pk, ["f1", "f2"]]  # not the host
    assert options["queue"] == workers.exec_queue(running.queue)
    entries = {e["node"]: e for e in response.json()}
    assert entries["f1"]["changed"] and entries["f1"]["path"] == frr.CONF and entries["f1"]["error"] == ""
    assert "+router ospf\n" in entries["f1"]["diff"] and "-hostname f1\n" not in entries["f1"]["diff"]
    assert entries["f2"]["changed"] and "+hostname f2\n" in entries["f2"]["diff"]  # it had no frr.conf
    assert Topology.objects.get(pk=pair.pk).document == before


def test_saving_writes_the_running_configs_into_the_nodes_files_and_keeps_the_others(client, pair, running, sent):
    sent.answer = FakeResult({"configs": {"f1": {"config": RUNNING_F1},
                                          "f2": {"error": "vtysh_failed", "detail": "'show running-config' exited 1"}}})
    response = post(client, f"/topologies/{pair.pk}/frr/save", {"dry_run": False})
    assert response.status_code == 200, response.content
    entries = {e["node"]: e for e in response.json()}
    assert entries["f2"] == {"node": "f2", "path": frr.CONF, "diff": "", "changed": False,
                             "error": "'show running-config' exited 1"}
    nodes = {n["name"]: n for n in Topology.objects.get(pk=pair.pk).document["nodes"]}
    assert nodes["f1"]["files"] == [{"path": frr.CONF, "content": RUNNING_F1}, {"path": "/etc/motd", "content": "hi\n"}]
    assert "files" not in nodes["f2"]  # unread: left as it was


def test_saved_configs_are_what_the_lab_runs_so_apply_changes_has_nothing_to_redo(client, pair, running, sent,
                                                                                    monkeypatch):
    from topology import apply

    Lab.objects.filter(pk=running.pk).update(running_document=Topology.objects.get(pk=pair.pk).document)
    sent.answer = FakeResult({"configs": {"f1": {"config": RUNNING_F1}, "f2": {"config": RUNNING_F2}}})
    assert post(client, f"/topologies/{pair.pk}/frr/save", {"dry_run": False}).status_code == 200
    topology = Topology.objects.get(pk=pair.pk)
    answer = apply.apply(topology, topology.document, dry_run=True)
    assert answer["nothing_to_do"] is True, answer["changes"]


def test_a_lab_without_running_frr_nodes_has_nothing_to_save(client, pair, running, sent):
    LabNode.objects.filter(lab=running, name__in=["f1", "f2"]).update(state=NodeStatus.STOPPED)
    response = post(client, f"/topologies/{pair.pk}/frr/save", {"dry_run": False})
    assert response.status_code == 200 and response.json() == []
    assert sent == []


# -- the worker's side, its commands faked ----------------------------------------------------------------------------
def test_the_worker_reads_each_nodes_running_config_cleaned_and_says_why_one_could_not_be_read(monkeypatch):
    calls = []

    def fake(lab_id, node, argv, timeout):
        calls.append((lab_id, node, argv, timeout))
        if node == "f2":
            return {"error": "not_running", "detail": "'f2' is not running"}
        if node == "f3":
            return {"exit_code": 1, "output": "Exiting: failed to connect to any daemons.\n", "timed_out": False,
                    "truncated": False}
        return {"exit_code": 0, "output": "Building configuration...\n\nCurrent configuration:\n!\nfrr version 8.4.4\n"
                                          "hostname f1\n!\nend\n", "timed_out": False, "truncated": False}
    monkeypatch.setattr(frr_worker, "run_in_node", fake)
    answer = frr_worker.running_configs(7, ["f1", "f2", "f3"])
    assert answer["configs"]["f1"] == {"config": "hostname f1\n!\nend\n"}
    assert answer["configs"]["f2"] == {"error": "not_running", "detail": "'f2' is not running"}
    assert answer["configs"]["f3"]["error"] == "vtysh_failed" and "failed to connect" in answer["configs"]["f3"]["detail"]
    assert sorted(c[1] for c in calls) == ["f1", "f2", "f3"]
    assert all(c[2] == ["vtysh", "-c", "show running-config"] and c[3] == frr_worker.RUNNING_TIMEOUT for c in calls)
    assert frr_worker.running_configs(7, []) == {"configs": {}}


def test_the_worker_refuses_a_config_it_cannot_check_without_making_a_container(monkeypatch):
    monkeypatch.setattr(frr_worker.docker_runtime, "DockerRuntime", None)  # any container made would fail loudly
    assert frr_worker.check_config("a\x00b")["error"] == "bad_config"
    assert frr_worker.check_config("x" * (frr.MAX_CONFIG_BYTES + 1))["error"] == "bad_config"
    assert frr_worker.check_config(3)["error"] == "bad_config"
