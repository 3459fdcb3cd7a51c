"""The lines a deploy writes into each node's own log (:mod:`topology.engine.node_log`): what they say, and how
much of them is kept. The executor runs on fakes here; the real writes are in tests/integration/test_node_logs.py."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.unit.test_executor import LAB, FakeNetwork, FakeRuntime, Reports, executor, full_document, plan_of
from topology.engine import node_log
from topology.engine.node_log import PREFIX, NodeLog, Output


class Recorded(NodeLog):
    """A node log that keeps what it would write, by PID."""

    def __init__(self, limit=node_log.NODE_LIMIT):
        super().__init__(limit)
        self.out: dict[int, bytearray] = {}

    def _append(self, pid, data):
        self.out.setdefault(pid, bytearray()).extend(data)


def test_a_deploy_tells_each_node_what_was_done_to_it_in_order():
    runtime = FakeRuntime(results={"echo hi": (0, b"hi\n")})
    document = full_document()
    plan = plan_of(document)
    logs = Recorded()
    build = executor(runtime, FakeNetwork(), node_log=logs).deploy(LAB, plan, Reports())
    r1 = logs.out[build.pids["r1"]].decode()
    assert f"{PREFIX}sysctl net.ipv4.ip_forward=1\n" in r1
    assert f"{PREFIX}eth0: linked to c1:eth0\n" in r1 and f"{PREFIX}eth1: linked to c2:eth0\n" in r1
    c1 = logs.out[build.pids["c1"]].decode()
    assert f"{PREFIX}eth0: linked to r1:eth0\n" in c1
    assert re.search(r"^\[topolab\] eth0: address 10\.0\.1\.2/24, mac [0-9a-f:]{17}, up$", c1, re.M), c1
    assert f"{PREFIX}route 0.0.0.0/0 via 10.0.1.1\n" in c1
    assert f"{PREFIX}eth0: impairment delay_ms 10\n" in c1
    # Each exec command: the command, its output, its exit status; after the wiring.
    commands = [step for step in plan.steps if type(step).__name__ == "ExecSequence"]
    assert commands
    for step in commands:
        text = logs.out[build.pids[step.node]].decode()
        for command in step.commands:
            at = text.index(f"{PREFIX}$ {command}\n")
            assert text.index(f"{PREFIX}exit status 0\n", at) > at
            assert text.rindex("linked to") < at


def test_a_noisy_command_is_cut_and_a_failure_keeps_the_end_of_its_output():
    noisy = b"x" * 200_000 + b"\nthe end\n"
    out = Output(head=1000, tail=100)
    for i in range(0, len(noisy), 4096):
        out(noisy[i:i + 4096])
    logged = out.for_log()
    assert logged.startswith(b"x" * 1000 + b"\n") and len(logged) < 1100
    assert f"({len(noisy) - 1000} more bytes of output left out)".encode() in logged
    assert out.last().endswith(b"the end\n") and len(out.last()) == 100


def test_what_one_node_is_told_is_bounded_and_says_so_once():
    logs = Recorded(limit=500)
    for i in range(100):
        logs.say(4242, f"line {i:03d} " + "." * 20)
    written = logs.out[4242].decode()
    assert len(written.encode()) <= 500
    assert written.endswith(f"{PREFIX}(more was done; its lines are left out of this log)\n")
    assert written.count("left out") == 1 and written.startswith(f"{PREFIX}line 000")
    logs.say(4343, "another node has room of its own")
    assert logs.out[4343] == f"{PREFIX}another node has room of its own\n".encode()


def test_it_never_writes_to_a_process_of_its_own_pid_namespace():
    # A PID in the host's namespace is no container's (a stale PID reused): nothing is written to it.
    reader, writer = os.pipe()
    child = subprocess.Popen(["sleep", "30"], stdout=writer)
    os.close(writer)
    try:
        NodeLog().say(child.pid, "not for you")
        os.set_blocking(reader, False)
        try:
            got = os.read(reader, 100)
        except BlockingIOError:
            got = b""
        assert got == b""
    finally:
        child.kill()
        child.wait()
        os.close(reader)


def test_nothing_is_written_without_a_node_log():
    # The executor of the unit tests (fake PIDs) writes nowhere: only make_executor gives it a real NodeLog.
    assert executor(FakeRuntime(), FakeNetwork()).node_log is None


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="a PID namespace needs root")
def test_a_pid_that_changes_namespace_is_another_nodes_and_gets_nothing_more(monkeypatch):
    """A node's main process that died may leave its PID to another lab's container: the lines stop."""
    reader, writer = os.pipe()
    # PID 1 of a PID namespace of its own, as a container's main process is; its stdout is the pipe.
    child = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", "sleep", "30"], stdout=writer)
    os.close(writer)
    try:
        deadline = time.monotonic() + 5
        inner = None
        while inner is None and time.monotonic() < deadline:
            kids = Path(f"/proc/{child.pid}/task/{child.pid}/children").read_text().split()
            inner = int(kids[0]) if kids else None
            time.sleep(0.05)
        log = NodeLog()
        log.say(inner, "first")
        os.set_blocking(reader, False)
        time.sleep(0.1)
        assert os.read(reader, 100) == f"{PREFIX}first\n".encode()
        # The same PID seen in another namespace (as after a reuse): nothing more is written.
        real = node_log._pid_namespace
        monkeypatch.setattr(node_log, "_pid_namespace", lambda pid: real(pid) + 1 if pid == str(inner) else real(pid))
        log.say(inner, "second")
        time.sleep(0.1)
        with pytest.raises(BlockingIOError):
            os.read(reader, 100)
    finally:
        child.kill()
        child.wait()
        os.close(reader)
