"""Probes (:mod:`topology.probes`) with a fake runtime: their refusals, their container and their lifecycle.

The refusals are run_in_node's; the container joins the node's network namespace and nothing else, with
every capability dropped but NET_RAW, small limits and the lab's labels; every probe made is removed.
"""
from __future__ import annotations

import threading
from types import SimpleNamespace

import docker
import pytest
from django.conf import settings

from tests.documents import reference_document
from topology import probes
from topology.engine import names
from topology.engine.docker_runtime import ContainerGone, DockerRuntime, RuntimeStepError
from topology.models import Lab, LabNode, LabState, NodeStatus

C1, R1 = "c" * 64, "r" * 64


@pytest.fixture
def lab(topology) -> Lab:
    """Alice's reference lab, looking deployed: running, c1 and r1 with containers."""
    lab = topology.lab
    Lab.objects.filter(pk=lab.pk).update(state=LabState.RUNNING, operation="op1")
    LabNode.objects.create(lab=lab, name="c1", state=NodeStatus.RUNNING, container_id=C1)
    LabNode.objects.create(lab=lab, name="r1", state=NodeStatus.RUNNING, container_id=R1)
    lab.refresh_from_db()
    return lab


@pytest.fixture
def engine(monkeypatch):
    """A fake Docker Engine behind every DockerRuntime the probes make; what it was asked is kept."""
    state = SimpleNamespace(created=[], started=[], removed=[], execs=[], ended=[], start_error=None,
                            create_error=None, exec=lambda cid, argv, stream: stream(b"ok\n") or 0)

    class FakeRuntime:
        def __init__(self, *args, **kwargs):
            pass

        def create_probe(self, **spec):
            if state.create_error:
                raise state.create_error
            state.created.append(spec)
            return f"probe-{len(state.created)}"

        def start_probe(self, container_id):
            if state.start_error:
                raise state.start_error
            state.started.append(container_id)

        def exec(self, container_id, argv, *, stream=None, user="", started=None):
            state.execs.append((container_id, list(argv)))
            if started is not None:
                started(f"exec-{len(state.execs)}")
            return state.exec(container_id, argv, stream)

        def end_exec(self, exec_id):
            state.ended.append(exec_id)

        def remove(self, container_id):
            state.removed.append(container_id)
            return True

    monkeypatch.setattr("topology.probes.docker_runtime.DockerRuntime", FakeRuntime)
    return state


@pytest.mark.parametrize("argv", [[], "ping", ["ping", 1], ["a\x00b"], None])
def test_a_bad_argv_is_refused_before_docker_is_asked(lab, engine, argv):
    assert probes.run_in_probe(lab.pk, "c1", argv, 5)["error"] == "bad_argv"
    assert engine.created == []


def test_an_unknown_node_or_lab_is_no_node(lab, engine):
    assert probes.run_in_probe(lab.pk, "nosuch", ["true"], 5)["error"] == "no_node"
    assert probes.run_in_probe(lab.pk + 1000, "c1", ["true"], 5)["error"] == "no_node"
    assert engine.created == []


def test_a_lab_or_node_that_the_records_say_is_not_running_is_refused_before_docker_is_asked(lab, engine):
    LabNode.objects.filter(lab=lab, name="c1").update(state=NodeStatus.EXITED)
    assert probes.run_in_probe(lab.pk, "c1", ["true"], 5)["error"] == "not_running"
    Lab.objects.filter(pk=lab.pk).update(state=LabState.STOPPED)
    assert probes.run_in_probe(lab.pk, "r1", ["true"], 5)["error"] == "not_running"
    assert engine.created == []


def test_a_node_container_gone_or_stopped_is_not_running_and_the_probe_is_removed(lab, engine):
    engine.start_error = ContainerGone("cannot start the probe: cannot join network of a non running container")
    answer = probes.run_in_probe(lab.pk, "c1", ["true"], 5)
    assert answer["error"] == "not_running"
    assert "non running container" in answer["detail"]
    assert engine.removed == ["probe-1"]


@pytest.mark.parametrize("error,detail", [
    (RuntimeStepError("image 'topolab/base' is not on this host"), "image 'topolab/base' is not on this host"),
    (OSError("connection refused"), "the probe failed: connection refused"),
])
def test_a_probe_that_cannot_be_made_is_exec_failed(lab, engine, error, detail):
    engine.create_error = error
    assert probes.run_in_probe(lab.pk, "c1", ["true"], 5) == {"error": "exec_failed", "detail": detail}


def test_a_command_runs_in_the_probe_never_in_the_node_and_the_probe_goes(lab, engine):
    answer = probes.run_in_probe(lab.pk, "c1", ["ip", "route"], 5)
    assert answer == {"exit_code": 0, "output": "ok\n", "timed_out": False, "truncated": False}
    assert engine.execs == [("probe-1", ["ip", "route"])]
    assert engine.removed == ["probe-1"]


def test_the_probe_spec_joins_the_nodes_namespace_with_the_labs_labels(lab, engine):
    probes.run_in_probe(lab.pk, "c1", ["true"], 5)
    spec = engine.created[0]
    assert spec["target"] == C1
    assert spec["image"] == "topolab/base"
    assert spec["labels"] == {names.LABEL_SITE: settings.TOPOLAB_SITE, names.LABEL_LAB: str(lab.pk),
                              names.LABEL_OWNER: "alice", probes.LABEL_PROBE: "1", probes.LABEL_PROBE_NODE: "c1"}
    assert spec["name"].startswith(names.container_name(settings.TOPOLAB_SITE, lab.pk, "c1") + "-probe-")
    assert spec["capabilities"] == ("NET_RAW",)
    assert (spec["memory_mb"], spec["pids"], spec["cpus"]) == (32, 64, 0.5)
    assert spec["command"] == ["sleep", str(probes.LIFETIME)]


def test_teardown_and_gc_select_probes_by_their_labels():
    labels = probes.probe_labels("site1", 7, "c1", "alice")
    for selector in names.lab_filter("site1", 7):
        key, value = selector.split("=")
        assert labels[key] == value
    assert names.LABEL_NODE not in labels  # the watcher ignores containers without a node label


class RecordingAPI:
    """docker-py's low-level API as far as create_probe uses it: real HostConfig, recorded create."""

    def __init__(self, error=None):
        self.error, self.created = error, []

    def create_host_config(self, **kwargs):
        return docker.types.HostConfig(version="1.41", **kwargs)

    def create_container(self, **kwargs):
        if self.error:
            raise self.error
        self.created.append(kwargs)
        return {"Id": "p" * 64}

    def start(self, container_id):
        raise self.error


def test_create_probe_asks_for_the_nodes_namespace_and_nothing_more():
    api = RecordingAPI()
    runtime = DockerRuntime(client=SimpleNamespace(api=api))
    spec = probes.probe_spec("site1", 7, "c1", "alice", C1, "topolab/base")
    assert runtime.create_probe(**spec) == "p" * 64
    created = api.created[0]
    host = created["host_config"]
    assert host["NetworkMode"] == f"container:{C1}"
    assert host["CapDrop"] == ["ALL"] and host["CapAdd"] == ["NET_RAW"]
    assert host["ReadonlyRootfs"] is True and host["Init"] is False and host["AutoRemove"] is True
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["Memory"] == host["MemorySwap"] == 32 * 1024 * 1024
    assert host["PidsLimit"] == 64 and host["NanoCpus"] == 500_000_000
    assert "Privileged" not in host and "PortBindings" not in host
    assert "hostname" not in created and created["labels"] == spec["labels"]
    assert created["command"] == ["sleep", str(probes.LIFETIME)]


def refusal(status: int, explanation: str):
    cls = docker.errors.NotFound if status == 404 else docker.errors.APIError
    return cls(f"{status} Client Error", response=SimpleNamespace(status_code=status, reason=""),
               explanation=explanation)


@pytest.mark.parametrize("error,gone", [
    (refusal(404, f"No such container: {C1}"), True),
    (refusal(409, f"cannot join network of a non running container: {C1}"), True),
    (refusal(500, "OCI runtime create failed"), False),
])
def test_start_probe_says_when_the_node_is_gone(error, gone):
    runtime = DockerRuntime(client=SimpleNamespace(api=RecordingAPI(error)))
    with pytest.raises(RuntimeStepError) as raised:
        runtime.start_probe("p" * 64)
    assert isinstance(raised.value, ContainerGone) is gone


@pytest.mark.parametrize("kind,image", [("host", "topolab/base"), ("router", "topolab/base"),
                                        ("frr", "topolab/frr"), ("nosuch", "topolab/base"), (3, "topolab/base")])
def test_the_image_is_the_kinds_never_the_documents(kind, image):
    document = reference_document()
    document["nodes"][0].update(kind=kind, image="evil/ping-always-passes")
    assert probes.image_of(document, document["nodes"][0]["name"]) == image
    assert probes.image_of({"nodes": "bad"}, "c1") == "topolab/base"


def test_a_session_keeps_one_probe_per_node_and_removes_them_all(lab, engine):
    with probes.Session(lab.pk) as session:
        for _ in range(3):
            assert session.run("c1", ["true"], 5)["exit_code"] == 0
            assert session.run("r1", ["true"], 5)["exit_code"] == 0
        assert [spec["target"] for spec in engine.created] == [C1, R1]
        assert engine.removed == []
    assert sorted(engine.removed) == ["probe-1", "probe-2"]


def test_a_session_replaces_a_probe_that_went(lab, engine):
    def gone_once(container_id, argv, stream):
        if container_id == "probe-1":
            raise ContainerGone("the node's container is gone")
        stream(b"again")
        return 0

    engine.exec = gone_once
    with probes.Session(lab.pk) as session:
        assert session.run("c1", ["true"], 5)["output"] == "again"
    assert engine.removed == ["probe-1", "probe-2"]


def test_a_command_still_running_at_its_timeout_is_ended(lab, engine):
    release = threading.Event()

    def hangs(container_id, argv, stream):
        stream(b"partial")
        release.wait(10)
        return 0

    engine.exec = hangs
    answer = probes.run_in_probe(lab.pk, "c1", ["sleep", "60"], 1)
    release.set()
    assert answer == {"exit_code": 124, "output": "partial", "timed_out": True, "truncated": False}
    assert engine.ended == ["exec-1"] and engine.removed == ["probe-1"]


def test_output_is_capped(lab, engine, monkeypatch):
    monkeypatch.setattr("topology.node_exec.EXEC_OUTPUT_CAP", 10)  # the cap of every command, probes too
    engine.exec = lambda cid, argv, stream: stream(b"0123456789abcdef") or 0
    answer = probes.run_in_probe(lab.pk, "c1", ["cat"], 5)
    assert answer["output"] == "0123456789" and answer["truncated"] is True
