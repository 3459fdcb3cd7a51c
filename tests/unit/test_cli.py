"""Unit tests of ``manage.py lab`` (and of :mod:`topology.services` behind it), without a worker.

Everything runs in the test database through ``call_command``. Nothing here
needs Docker or a Celery worker: where a deploy would be sent to the broker,
``topology.tasks.deploy_lab.apply_async`` is replaced by a recorder (a fake of
the broker). Leases live in the test run's own Redis database and are released
after each test.
"""
from __future__ import annotations

import copy
import dataclasses
import io
import json

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.documents import reference_document
from topology import kinds, leases, schema, services
from topology.models import Lab, LabEvent, LabNode, LabState, Topology

# The reference document of the spec (shared/examples/router-between-two-clients.json):
#
#     c1 eth0 ---- eth0 r1 eth1 ---- eth0 c2
#     192.168.10.2     (router)      192.168.11.2
#
REFERENCE = reference_document()

# Every part of the format, for the export/import round trip:
#
#     h6 eth0 ~~(delay, loss)~~ eth0 gw eth1 ---- p1 [sw br0] p2 ---- eth0 h4
#     2001:db8:1::2/64     2001:db8:1::1/64          (down, mtu 1400)  10.0.0.2/24
#                          gw eth1: 10.0.0.1/24
#
RICH = {
    "format": "topolab/v1",
    "name": "rich-round-trip",
    "description": "IPv6, a switch, impairment, files, env, exec, resources, annotations.",
    "nodes": [
        {"name": "h6", "image": "topolab/base:latest", "position": {"x": -1.5, "y": 2},
         "routes": [{"to": "default", "via": "2001:db8:1::1"}],
         "env": {"GREETING": "hello", "EMPTY": ""},
         "files": [{"path": "/etc/motd", "content": "héllo\n", "mode": "0600"},
                   {"path": "/usr/local/bin/hi", "content": "#!/bin/sh\necho hi\n", "mode": "755"}],
         "exec": ["hi", "ping -c1 2001:db8:1::1"],
         "resources": {"cpus": 0.5, "memory_mb": 64, "pids": 32}},
        {"name": "gw", "kind": "router", "sysctls": {"net.ipv4.conf.all.rp_filter": "0"},
         "routes": [{"to": "10.9.0.0/16", "dev": "eth1"}]},
        {"name": "sw", "kind": "switch"},
        {"name": "h4", "routes": [{"to": "default", "via": "10.0.0.1"}]},
    ],
    "links": [
        {"endpoints": [{"node": "h6", "interface": "eth0", "addresses": ["2001:db8:1::2/64"],
                        "mac": "02:00:00:00:00:01"},
                       {"node": "gw", "interface": "eth0", "addresses": ["2001:db8:1::1/64"]}],
         "impairment": {"delay_ms": 25, "jitter_ms": 2.5, "loss_percent": 0.1, "rate_kbit": 2048}},
        {"endpoints": [{"node": "gw", "interface": "eth1", "addresses": ["10.0.0.1/24"]},
                       {"node": "sw", "interface": "p1"}]},
        {"endpoints": [{"node": "sw", "interface": "p2"},
                       {"node": "h4", "interface": "eth0", "addresses": ["10.0.0.2/24"]}],
         "state": "down", "mtu": 1400},
    ],
    "annotations": {"editor": {"zoom": 1.25, "pan": [0, -10], "notes": None}},
}


def frr_document():
    # h1 eth0 ---- eth0 f1 (frr)
    return {"format": "topolab/v1", "name": "with-frr",
            "nodes": [{"name": "h1"}, {"name": "f1", "kind": "frr",
                                       "files": [{"path": "/etc/frr/frr.conf", "content": "hostname f1\n"}]}],
            "links": [{"endpoints": [{"node": "h1", "interface": "eth0", "addresses": ["10.1.0.2/24"]},
                                     {"node": "f1", "interface": "eth0", "addresses": ["10.1.0.1/24"]}]}]}


@pytest.fixture
def admin(db, django_user_model):
    return django_user_model.objects.create_superuser("admin", "admin@example.org", None)  # no password: no slow hashing


@pytest.fixture
def write(tmp_path):
    """Writes a document (or raw text) to a file and returns its path."""
    def write(data, name="lab.json"):
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
        return str(path)
    return write


def lab(*args):
    """Runs ``manage.py lab ARGS``: (stdout, stderr), or raises what the command raises."""
    out, err = io.StringIO(), io.StringIO()
    call_command("lab", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def lab_failing(*args):
    """Runs ``manage.py lab ARGS`` expecting it to fail: (CommandError, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("lab", *args, stdout=out, stderr=err)
    return caught.value, out.getvalue(), err.getvalue()


# -- import ---------------------------------------------------------------------------
def test_it_prints_every_problem_of_a_bad_file_and_exits_2(admin, write):
    bad = copy.deepcopy(REFERENCE)
    bad["name"] = "Bad Name"
    bad["links"][1]["endpoints"][1]["node"] = "r9"
    bad["links"][0]["endpoints"][0]["addresses"] = ["192.168.10.2"]
    bad["nodse"] = []
    error, out, err = lab_failing("import", write(bad))
    lines = err.splitlines()
    expected = schema.validate(bad).errors
    assert len(expected) >= 4
    assert lines == [f"{p.path}: {p.message}" for p in expected]
    for path in ("name", "links[1].endpoints[1].node", "links[0].endpoints[0].addresses[0]", "nodse"):
        assert any(line.startswith(f"{path}: ") for line in lines), (path, lines)
    assert "links[1].endpoints[1].node: no node named 'r9'" in lines
    assert error.returncode == 2
    assert f"{len(expected)} problems, nothing saved" in str(error)
    assert out == ""
    assert Topology.objects.count() == 0 and Lab.objects.count() == 0


def test_it_refuses_a_file_that_is_not_json_with_code_2(admin, write):
    error, _, err = lab_failing("import", write('{"format": "topolab/v1",'))
    assert error.returncode == 2 and err.startswith("not valid JSON")
    assert Topology.objects.count() == 0


def test_it_refuses_a_file_it_cannot_read_with_code_2(admin, tmp_path):
    error, _, _ = lab_failing("import", str(tmp_path / "missing.json"))
    assert error.returncode == 2 and "cannot read" in str(error)


def test_it_imports_a_good_file_for_the_first_superuser(admin, bob, write):
    out, err = lab("import", write(REFERENCE))
    assert out.strip() == "imported 'router-between-two-clients' for admin (3 nodes, 2 links)"
    assert err == ""
    topology = Topology.objects.get()
    assert (topology.owner, topology.name, topology.document) == (admin, REFERENCE["name"], REFERENCE)
    assert topology.lab.state == LabState.STOPPED


def test_it_imports_for_the_user_given(admin, bob, write):
    out, _ = lab("import", write(REFERENCE), "--user", "bob")
    assert "for bob" in out
    assert Topology.objects.get().owner == bob


def test_it_needs_replace_to_import_the_same_name_twice(admin, write):
    lab("import", write(REFERENCE))
    changed = {**REFERENCE, "description": "second version"}
    error, _, err = lab_failing("import", write(changed, "again.json"))
    assert error.returncode == 2
    assert err.startswith("name: you already have a topology named 'router-between-two-clients'")
    assert Topology.objects.get().document["description"] == REFERENCE["description"]

    lab_id = Topology.objects.get().lab.pk
    out, _ = lab("import", write(changed, "again.json"), "--replace")
    assert "imported 'router-between-two-clients'" in out
    topology = Topology.objects.get()
    assert topology.document["description"] == "second version"
    assert topology.lab.pk == lab_id  # the lab (and the names of its containers) stays


def test_it_prints_warnings_but_imports(admin, write):
    lonely = copy.deepcopy(REFERENCE)
    lonely["nodes"].append({"name": "alone"})
    out, err = lab("import", write(lonely))
    assert "imported" in out
    assert "warning: nodes[3]" in err


# -- export ---------------------------------------------------------------------------
@pytest.mark.parametrize("document", [REFERENCE, RICH], ids=["reference", "rich"])
def test_it_exports_what_imports_back_to_an_equal_document(admin, bob, write, document):
    assert schema.validate(document).ok
    lab("import", write(document))
    exported, _ = lab("export", document["name"])
    assert json.loads(exported) == document
    lab("import", write(exported, "exported.json"), "--user", "bob")
    again, _ = lab("export", document["name"], "--user", "bob")
    assert json.loads(again) == json.loads(exported)
    assert schema.parse(json.loads(again)) == schema.parse(document)


def test_it_says_which_topology_it_cannot_export(admin):
    error, _, _ = lab_failing("export", "nothing-here")
    assert "admin has no topology named 'nothing-here'" in str(error)


# -- list and status -----------------------------------------------------------------------
def test_it_lists_a_stopped_lab(admin, write):
    lab("import", write(REFERENCE))
    out, _ = lab("list")
    header, row = out.splitlines()
    assert header.split() == ["NAME", "NODES", "LINKS", "STATE"]
    assert row.split() == ["router-between-two-clients", "3", "2", "stopped"]


def test_it_lists_nothing_for_a_user_without_topologies(admin):
    out, _ = lab("list")
    assert "admin has no topologies yet" in out


def test_it_shows_a_stopped_lab_and_its_nodes_as_json(admin, write):
    lab("import", write(REFERENCE))
    out, _ = lab("status", "router-between-two-clients", "--json")
    assert json.loads(out) == {
        "name": "router-between-two-clients", "owner": "admin", "state": "stopped", "reason": "", "busy": False,
        "host_queue": settings.TOPOLAB_QUEUE, "host_unreachable": False,
        "nodes": [
            {"name": name, "kind": kind, "state": "stopped", "container": "", "reason": "", "interfaces": []}
            for name, kind in (("c1", "host"), ("r1", "router"), ("c2", "host"))
        ],
    }


def test_it_shows_a_stopped_lab_and_its_nodes_as_text(admin, write):
    lab("import", write(REFERENCE))
    out, _ = lab("status", "router-between-two-clients")
    lines = out.splitlines()
    assert lines[0] == "router-between-two-clients: stopped"
    assert [line.split() for line in lines[1:]] == [["c1", "host", "stopped", "-"], ["r1", "router", "stopped", "-"],
                                                   ["c2", "host", "stopped", "-"]]


# -- users ----------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [["list"], ["export", "x"], ["status", "x", "--json"], ["deploy", "x"],
                                  ["import", "-"]])
def test_it_errors_clearly_for_a_missing_user(admin, args):
    error, _, _ = lab_failing(*args, "--user", "ghost")
    assert str(error) == "no user named 'ghost'"


def test_it_asks_for_a_user_when_there_is_no_superuser(bob):
    error, _, _ = lab_failing("list")
    assert "no --user given and no superuser exists" in str(error)


@pytest.fixture
def frr_refused(monkeypatch):
    """The frr kind as it was before it could be deployed: a kind this engine refuses."""
    monkeypatch.setitem(kinds.KINDS, "frr", dataclasses.replace(kinds.KINDS["frr"],
                                                                deploy_refusal="FRR support has not landed yet"))


# -- deploy ----------------------------------------------------------------------------------
def test_it_refuses_to_deploy_a_kind_that_cannot_be_with_the_kind_problem_and_queues_nothing(
        admin, write, broker, released, frr_refused, django_capture_on_commit_callbacks):
    lab("import", write(frr_document()))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        error, out, err = lab_failing("deploy", "with-frr")
    assert err.splitlines() == ["nodes[1].kind: kind 'frr' cannot be deployed yet; use host, router or switch"]
    assert error.returncode == 2 and "cannot be deployed" in str(error)
    assert callbacks == [] and broker == []
    the_lab = Lab.objects.get()
    assert the_lab.state == LabState.STOPPED and the_lab.operation == ""
    assert leases.holder(the_lab.pk) is None
    assert not LabNode.objects.exists() and not LabEvent.objects.exists()


def test_it_queues_a_deploy_only_after_commit(admin, write, broker, released, django_capture_on_commit_callbacks):
    lab("import", write(REFERENCE))
    the_lab = Lab.objects.get()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        operation = services.request_deploy(the_lab)
        assert broker == []  # still inside the transaction: nothing sent yet
    assert len(callbacks) == 1
    assert broker == [("deploy", {"args": [the_lab.pk, operation], "queue": the_lab.queue})]
    assert the_lab.queue  # the host's queue, set at import

    the_lab.refresh_from_db()
    assert (the_lab.state, the_lab.operation) == (LabState.DEPLOYING, operation)
    assert leases.holder(the_lab.pk) == operation
    assert leases.is_held(the_lab.pk)
    assert sorted(LabNode.objects.filter(lab=the_lab).values_list("name", "state")) == [
        ("c1", "pending"), ("c2", "pending"), ("r1", "pending")]
    assert list(LabEvent.objects.filter(lab=the_lab).values_list("operation", "step")) == [
        (operation, "deploy requested")]


def test_it_refuses_a_second_deploy_while_the_first_holds_the_lease(admin, write, broker, released,
                                                                     django_capture_on_commit_callbacks):
    lab("import", write(REFERENCE))
    the_lab = Lab.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        first = services.request_deploy(the_lab)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(services.Conflict) as caught:
            services.request_deploy(the_lab)
    assert caught.value.status == 409 and "busy" in caught.value.message
    assert callbacks == [] and len(broker) == 1
    assert leases.holder(the_lab.pk) == first
    the_lab.refresh_from_db()
    assert the_lab.operation == first


def test_it_releases_the_lease_so_the_next_test_starts_clean(admin, write, broker, released):
    # Runs after the deploy tests above: the same primary key may come back in a fresh database.
    lab("import", write(REFERENCE))
    assert leases.holder(Lab.objects.get().pk) is None


def test_it_says_where_the_cli_queued_a_deploy(admin, write, broker, released, django_capture_on_commit_callbacks):
    lab("import", write(REFERENCE))
    the_lab = Lab.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        out, _ = lab("deploy", "router-between-two-clients")
    assert out.strip() == f"deploy of 'router-between-two-clients' queued on {the_lab.queue} (follow it with 'lab status')"
    assert [kwargs["queue"] for _, kwargs in broker] == [the_lab.queue]
    status, _ = lab("status", "router-between-two-clients", "--json")
    assert json.loads(status)["state"] == "deploying" and json.loads(status)["busy"] is True
    error, _, _ = lab_failing("deploy", "router-between-two-clients")
    assert error.returncode == 1 and "busy" in str(error)


# -- exec ----------------------------------------------------------------------------------
def test_it_refuses_exec_on_a_stopped_lab(admin, write):
    lab("import", write(REFERENCE))
    error, _, _ = lab_failing("exec", "router-between-two-clients", "c1", "--", "ip", "addr")
    assert "'c1' is not running" in str(error) and "the lab is stopped" in str(error)


def test_it_refuses_exec_on_a_node_the_lab_does_not_have(admin, write):
    lab("import", write(REFERENCE))
    error, _, _ = lab_failing("exec", "router-between-two-clients", "zz", "--", "true")
    assert "has no node 'zz'" in str(error) and "c1, r1, c2" in str(error)


def test_it_refuses_exec_without_a_command(admin, write):
    lab("import", write(REFERENCE))
    error, _, _ = lab_failing("exec", "router-between-two-clients", "c1", "--")
    assert error.returncode == 2 and "no command given" in str(error)


# -- ping-all ------------------------------------------------------------------------------
PING_ALL_ANSWER = {
    "sources": ["c1", "r1"],
    "targets": [{"node": "c1", "interface": "eth0", "address": "192.168.10.2"},
                {"node": "r1", "interface": "eth0", "address": "192.168.10.1"},
                {"node": "r1", "interface": "eth1", "address": "192.168.11.1"}],
    "results": {"c1": {"192.168.10.1": {"ok": True, "rtt_ms": 0.091, "error": ""},
                       "192.168.11.1": {"ok": False, "rtt_ms": None, "error": "Network is unreachable"}},
                "r1": {"192.168.10.2": {"ok": True, "rtt_ms": 0.05, "error": ""}}},
    "took_ms": 1200,
}


@pytest.fixture
def pinged(monkeypatch):
    """The reference lab looks running; ping all answers PING_ALL_ANSWER (the real one runs in
    tests/integration/test_pingall.py). Records the lab IDs it was asked for."""
    asked = []

    def ping_all(lab_id, deadline=30):
        asked.append(lab_id)
        return copy.deepcopy(pinged.answer)
    pinged = type("Pinged", (), {"answer": PING_ALL_ANSWER, "asked": asked})
    monkeypatch.setattr("topology.pingall.ping_all", ping_all)
    return pinged


def test_it_refuses_ping_all_on_a_stopped_lab(admin, write, pinged):
    lab("import", write(REFERENCE))
    error, _, _ = lab_failing("ping-all", "router-between-two-clients")
    assert "'router-between-two-clients' is not running (the lab is stopped" in str(error)
    assert pinged.asked == []


def test_it_prints_who_reaches_whom_and_exits_1_for_a_hole(admin, write, pinged):
    lab("import", write(REFERENCE))
    Lab.objects.update(state=LabState.RUNNING)
    out = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("lab", "ping-all", "router-between-two-clients", stdout=out)
    assert exited.value.code == 1 and pinged.asked == [Lab.objects.get().pk]
    lines = out.getvalue().splitlines()
    assert [line.split() for line in lines] == [
        ["c1", "->", "192.168.10.1", "r1:eth0", "0.091", "ms"],
        ["c1", "->", "192.168.11.1", "r1:eth1", "UNREACHABLE", "Network", "is", "unreachable"],
        ["r1", "->", "192.168.10.2", "c1:eth0", "0.050", "ms"],
        ["2", "of", "3", "reachable", "(1200", "ms)"]]


def test_it_exits_0_when_everyone_reaches_everyone_and_prints_json(admin, write, pinged):
    lab("import", write(REFERENCE))
    Lab.objects.update(state=LabState.RUNNING)
    pinged.answer = {**PING_ALL_ANSWER, "results": {"c1": {"192.168.10.1": {"ok": True, "rtt_ms": None, "error": ""}}}}
    out, _ = lab("ping-all", "router-between-two-clients")
    assert out.splitlines()[0].split()[-1] == "reached" and out.splitlines()[-1].startswith("1 of 1 reachable")
    out, _ = lab("ping-all", "router-between-two-clients", "--json")
    assert json.loads(out) == pinged.answer


def test_it_says_why_ping_all_was_refused(admin, write, pinged):
    lab("import", write(REFERENCE))
    Lab.objects.update(state=LabState.RUNNING)
    pinged.answer = {"error": "too_big", "detail": "this lab has 70 nodes with addresses"}
    error, _, _ = lab_failing("ping-all", "router-between-two-clients")
    assert str(error) == "this lab has 70 nodes with addresses"
