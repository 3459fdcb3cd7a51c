"""What :class:`DockerRuntime` raises for the engine's refusals, with a fake docker-py client (no Docker here).

A container that is gone (404) or stopped (409 "is not running") is
:class:`ContainerGone`; any other refusal is a plain :class:`RuntimeStepError`.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from docker.errors import APIError, NotFound

from topology.engine.docker_runtime import ContainerGone, DockerRuntime, RuntimeStepError

CID = "0123abcd" * 8


def refusal(status: int, explanation: str) -> APIError:
    cls = NotFound if status == 404 else APIError
    return cls(f"{status} Client Error", response=SimpleNamespace(status_code=status, reason=""),
               explanation=explanation)


GONE = refusal(404, f"No such container: {CID}")
STOPPED = refusal(409, f"Container {CID} is not running")
PAUSED = refusal(409, f"Container {CID} is paused, unpause the container before exec")
BROKEN = refusal(500, "OCI runtime exec failed")


class FakeAPI:
    """docker-py's low-level API, every call failing with ``error`` (inspect answers ``inspected``)."""

    def __init__(self, error=None, inspected=None):
        self.error, self.inspected = error, inspected

    def _fail(self, *args, **kwargs):
        raise self.error

    exec_create = logs = _fail

    def inspect_container(self, container_id):
        if self.error:
            raise self.error
        return self.inspected


def runtime_failing_with(error=None, inspected=None) -> DockerRuntime:
    return DockerRuntime(client=SimpleNamespace(api=FakeAPI(error, inspected)))


def run_exec(runtime):
    return runtime.exec(CID, ["ls"], stream=lambda chunk: None)


def open_console(runtime):
    return runtime.open_console(CID, ["/bin/sh"], 80, 24)


def follow_logs(runtime):
    return runtime.follow_logs(CID)


@pytest.mark.parametrize("call,error,message", [
    (run_exec, GONE, "the node's container is gone"),
    (run_exec, STOPPED, f"cannot run the command: Container {CID} is not running"),
    (open_console, GONE, "the node's container is gone"),
    (open_console, STOPPED, f"cannot open a console: Container {CID} is not running"),
    (follow_logs, GONE, "the node's container is gone"),
])
def test_a_container_gone_or_stopped_is_container_gone(call, error, message):
    with pytest.raises(ContainerGone) as raised:
        call(runtime_failing_with(error))
    assert str(raised.value) == message
    assert isinstance(raised.value, RuntimeStepError)  # what callers that do not care already catch


@pytest.mark.parametrize("call,error,message", [
    (run_exec, PAUSED, f"cannot run the command: Container {CID} is paused, unpause the container before exec"),
    (run_exec, BROKEN, "cannot run the command: OCI runtime exec failed"),
    (open_console, BROKEN, "cannot open a console: OCI runtime exec failed"),
    (follow_logs, BROKEN, "cannot read the node's output: OCI runtime exec failed"),
])
def test_any_other_refusal_is_a_runtime_step_error_only(call, error, message):
    with pytest.raises(RuntimeStepError) as raised:
        call(runtime_failing_with(error))
    assert not isinstance(raised.value, ContainerGone)
    assert str(raised.value) == message


def test_it_gives_a_containers_labels_and_whether_it_runs():
    inspected = {"Config": {"Labels": {"topolab.node": "c1"}}, "State": {"Running": True}}
    assert runtime_failing_with(inspected=inspected).labels_and_running(CID) == ({"topolab.node": "c1"}, True)
    assert runtime_failing_with(inspected={"Config": {}, "State": {}}).labels_and_running(CID) == ({}, False)
    assert runtime_failing_with(GONE).labels_and_running(CID) is None
    assert not hasattr(DockerRuntime, "labels_of")  # the name said only half of what it returns


class ExecAPI:
    """docker-py's exec calls: the output ends at once; ``exec_inspect`` answers ``states`` one after another."""

    def __init__(self, *states):
        self.states = list(states)
        self.inspected = 0

    def exec_create(self, container_id, argv, **kwargs):
        return {"Id": "e1"}

    def exec_start(self, exec_id, **kwargs):
        return iter([b"out\n"])

    def exec_inspect(self, exec_id):
        self.inspected += 1
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]


def test_an_exit_status_is_waited_for_once_the_output_has_ended():
    """The engine may close the stream before it records the end: "still running" is not a success."""
    api = ExecAPI({"Running": True, "ExitCode": None}, {"Running": True, "ExitCode": None},
                  {"Running": False, "ExitCode": 3})
    assert DockerRuntime(client=SimpleNamespace(api=api)).exec(CID, ["ls"]) == 3
    assert api.inspected == 3


def test_a_command_whose_end_is_never_seen_is_an_error_not_a_success():
    runtime = DockerRuntime(client=SimpleNamespace(api=ExecAPI({"Running": True, "ExitCode": None})))
    with pytest.raises(RuntimeStepError, match="never said how it exited"):
        runtime._exit_code("e1", patience=0.1)
