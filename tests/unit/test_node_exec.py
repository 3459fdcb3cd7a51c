"""How a command's failure in a node is reported (:func:`topology.node_exec.run_in_node`), with a fake runtime.

A container that is gone or stopped is "not_running" (the API's 409); any other
failure of Docker or of its socket is "exec_failed" with the reason (the API's 502).
"""
from __future__ import annotations

import socket

import pytest
import requests

from topology import node_exec
from topology.engine.docker_runtime import ContainerGone, RuntimeStepError
from topology.models import Lab, LabNode, LabState, NodeStatus


@pytest.fixture
def lab(topology) -> Lab:
    """Alice's reference lab, looking deployed: running, c1 with a container."""
    lab = topology.lab
    Lab.objects.filter(pk=lab.pk).update(state=LabState.RUNNING, operation="op1")
    LabNode.objects.create(lab=lab, name="c1", state=NodeStatus.RUNNING, container_id="c" * 64)
    lab.refresh_from_db()
    return lab


class RaisingRuntime:
    """A DockerRuntime whose exec prints a little, then fails with ``error``."""

    error: Exception = RuntimeError("unset")
    ended: list = []

    def __init__(self, *args, **kwargs):
        pass

    def exec(self, container_id, argv, *, stream=None, user="", started=None):
        if started is not None:
            started("exec-1")
        stream(b"partial ")
        raise RaisingRuntime.error

    def end_exec(self, exec_id):
        RaisingRuntime.ended.append(exec_id)


@pytest.fixture
def runtime(monkeypatch):
    RaisingRuntime.ended = []
    monkeypatch.setattr("topology.node_exec.docker_runtime.DockerRuntime", RaisingRuntime)
    return RaisingRuntime


@pytest.mark.parametrize("error,detail", [
    (ContainerGone("the node's container is gone"), "the node's container is gone"),
    (ContainerGone("cannot run the command: Container 0123 is not running"),
     "cannot run the command: Container 0123 is not running"),
])
def test_a_container_gone_or_stopped_is_not_running(lab, runtime, error, detail):
    runtime.error = error
    assert node_exec.run_in_node(lab.pk, "c1", ["ls"], 5) == {"error": "not_running", "detail": detail}


@pytest.mark.parametrize("error,detail", [
    (RuntimeStepError("cannot run the command: Container 0123 is paused, unpause the container before exec"),
     "cannot run the command: Container 0123 is paused, unpause the container before exec"),
    (RuntimeStepError("cannot run the command: 500 Server Error: OCI runtime exec failed"),
     "cannot run the command: 500 Server Error: OCI runtime exec failed"),
    (requests.exceptions.ReadTimeout("UnixHTTPConnectionPool(host='localhost', port=None): Read timed out."),
     "the command failed: UnixHTTPConnectionPool(host='localhost', port=None): Read timed out."),
    (requests.exceptions.ConnectionError("Connection aborted."), "the command failed: Connection aborted."),
    (socket.timeout("timed out"), "the command failed: timed out"),
])
def test_any_other_failure_of_docker_or_its_socket_is_exec_failed_with_the_reason(lab, runtime, error, detail):
    runtime.error = error
    assert node_exec.run_in_node(lab.pk, "c1", ["ls"], 5) == {"error": "exec_failed", "detail": detail}
    assert runtime.ended == []  # it ended by itself: nothing to kill


def test_an_engine_that_cannot_be_reached_is_exec_failed(lab, monkeypatch):
    def unreachable(*args, **kwargs):
        raise RuntimeStepError("cannot reach the Docker Engine: connection refused")

    monkeypatch.setattr("topology.node_exec.docker_runtime.DockerRuntime", unreachable)
    assert node_exec.run_in_node(lab.pk, "c1", ["ls"], 5) == {
        "error": "exec_failed", "detail": "cannot reach the Docker Engine: connection refused"}


def test_the_lab_records_still_say_not_running_before_docker_is_asked(lab, runtime):
    LabNode.objects.filter(lab=lab, name="c1").update(state=NodeStatus.STOPPED)
    runtime.error = AssertionError("Docker must not be asked")
    assert node_exec.run_in_node(lab.pk, "c1", ["ls"], 5)["error"] == "not_running"
