"""Unit tests of :mod:`topology.engine.executor` against a fake runtime and a fake kernel.

The fakes keep what a real Docker Engine and netlink would: containers with
labels (so teardown can select them), and a journal of every call, in order,
so a test can check which phase ran when and what was undone.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest

from topology.engine import names
from topology.engine.executor import OUTPUT_TAIL, Executor, Report, StepFailed
from topology.engine.plan import (
    AddRoute,
    ConfigureInterface,
    Context,
    CreateBridge,
    CreateContainer,
    CreateLink,
    ExecSequence,
    Impair,
    SetSysctls,
    StartContainer,
    build_plan,
)
from topology.engine.states import NodeState
from topology.schema import parse

SITE, LAB = "unit", 7
ALIAS = names.interface_alias(SITE, LAB)


@dataclass(frozen=True)
class Info:
    """What the real runtime's ``list`` returns (``docker_runtime.ContainerInfo``)."""

    id: str
    name: str
    labels: dict
    state: str = "running"


class FakeRuntime:
    """Containers in a dict; ``exec`` answers from ``results`` (command -> (code, output))."""

    def __init__(self, results=None, fail_create=None):
        self.containers: dict[str, Info] = {}
        self.journal: list[tuple] = []
        self.removed: list[str] = []
        self.results = results or {}
        self.fail_create = fail_create
        self.lock = threading.Lock()
        self._pid = 1000

    def _log(self, *entry):
        with self.lock:
            self.journal.append(entry)

    def create(self, *, name, image, labels, env, command, cpus, memory_mb, pids, capabilities, files=()):
        if name == self.fail_create:
            raise RuntimeError(f"No such image: {image}")
        self._log("create", labels[names.LABEL_NODE], image)
        cid = f"cid-{name}"
        with self.lock:
            self.containers[cid] = Info(cid, name, dict(labels), "created")
        return cid

    def start(self, container_id):
        self._log("start", self.containers[container_id].labels[names.LABEL_NODE])
        with self.lock:
            self._pid += 1
            return self._pid

    def stop(self, container_id):
        self._log("stop", self.containers[container_id].labels[names.LABEL_NODE])
        with self.lock:
            self.containers[container_id] = Info(container_id, self.containers[container_id].name,
                                                 self.containers[container_id].labels, "exited")

    def list(self, label_filters):
        wanted = dict(f.split("=", 1) for f in label_filters if "=" in f)
        present = [f for f in label_filters if "=" not in f]  # a bare key: the label is there, whatever its value
        self._log("list", tuple(label_filters))
        return [c for c in list(self.containers.values())
                if all(c.labels.get(k) == v for k, v in wanted.items()) and all(k in c.labels for k in present)]

    def remove(self, container_id):
        with self.lock:
            gone = self.containers.pop(container_id, None)
            if gone is not None:
                self.removed.append(gone.name)
        return gone is not None

    def exec(self, container_id, argv, *, stream=None, user=""):
        command = argv[-1]
        self._log("exec", self.containers[container_id].labels[names.LABEL_NODE], tuple(argv))
        code, output = self.results.get(command, (0, b""))
        if stream is not None:
            for i in range(0, len(output), 1000):  # in chunks, as Docker streams it
                stream(output[i:i + 1000])
        return code

    def add_foreign(self, site, lab_id, node):
        """A container of another lab or site, which teardown must leave alone."""
        name = f"topolab-{site}-{lab_id}-{node}"
        self.containers[f"cid-{name}"] = Info(f"cid-{name}", name, names.labels(site, lab_id, node, "mallory"))


class FakeNetwork:
    """Records every call; ``fail`` maps (method, first interface-ish arg) to an exception to raise."""

    def __init__(self, fail=None, host_interfaces=None):
        self.calls: list[tuple] = []
        self.fail = fail or {}
        self.host = dict(host_interfaces or {})  # name -> alias
        self.lock = threading.Lock()

    def _call(self, method, *args, **kwargs):
        with self.lock:
            self.calls.append((method, args, kwargs))
        error = self.fail.get((method, args[1] if len(args) > 1 and isinstance(args[1], str) else None))
        if error is not None:
            raise error

    def create_veth(self, pid, ifname, peer_pid, peer_ifname, alias):
        self._call("create_veth", pid, ifname, peer_pid, peer_ifname, alias)

    def create_bridge(self, pid, name, alias):
        self._call("create_bridge", pid, name, alias)

    def configure_interface(self, pid, ifname, **kwargs):
        self._call("configure_interface", pid, ifname, **kwargs)

    def set_sysctls(self, pid, values):
        self._call("set_sysctls", pid, values)

    def add_route(self, pid, to, via=None, dev=None, exist_ok=False):
        self._call("add_route", pid, to, via=via, dev=dev, **({"exist_ok": True} if exist_ok else {}))

    def unplug(self, pid, alias):
        self._call("unplug", pid, alias)

    def impair(self, pid, ifname, impairment):
        self._call("impair", pid, ifname, impairment=impairment)

    def host_interfaces_with_alias(self, prefix):
        return [(name, alias) for name, alias in self.host.items() if alias.startswith(prefix)]

    def delete_host_interface(self, name):
        with self.lock:
            self.calls.append(("delete_host_interface", (name,), {}))
        return self.host.pop(name, None) is not None

    def methods(self):
        return [method for method, _, _ in self.calls]


@dataclass
class Reports:
    """A reporter that keeps what it is told (from several threads)."""

    seen: list[Report] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, report: Report) -> None:
        with self.lock:
            self.seen.append(report)

    def by_status(self, status):
        return [r for r in self.seen if r.status == status]


def document(nodes, links=()):
    return parse({"format": "topolab/v1", "name": "unit-lab", "nodes": nodes, "links": list(links)})


def plan_of(doc):
    return build_plan(doc, Context(site=SITE, lab_id=LAB, owner="alice"))


# The topology most tests build:
#
#     c1 eth0 ---- eth0 r1 eth1 ---- eth0 c2        sw1 (switch) p1 ---- eth1 c1
#     (c1 pings c2 once its routes are up)         (p1 is a port of sw1's br0)
#
def full_document():
    return document(
        [
            {"name": "c1", "routes": [{"to": "default", "via": "10.0.1.1"}], "exec": ["ping -c1 10.0.2.2", "true"]},
            {"name": "r1", "kind": "router"},
            {"name": "c2", "routes": [{"to": "default", "via": "10.0.2.1"}]},
            {"name": "sw1", "kind": "switch"},
        ],
        [
            {"endpoints": [{"node": "c1", "interface": "eth0", "addresses": ["10.0.1.2/24"]},
                           {"node": "r1", "interface": "eth0", "addresses": ["10.0.1.1/24"]}],
             "impairment": {"delay_ms": 10}},
            {"endpoints": [{"node": "c2", "interface": "eth0", "addresses": ["10.0.2.2/24"]},
                           {"node": "r1", "interface": "eth1", "addresses": ["10.0.2.1/24"]}]},
            {"endpoints": [{"node": "sw1", "interface": "p1"}, {"node": "c1", "interface": "eth1"}]},
        ],
    )


def executor(runtime, network, **kwargs):
    return Executor(runtime, network, site=SITE, **kwargs)


# -- a build that works --------------------------------------------------------------
@pytest.mark.parametrize("concurrency", [1, 8])
def test_it_runs_phases_in_order(concurrency):
    plan = plan_of(full_document())
    runtime, network = FakeRuntime(), FakeNetwork()
    executor(runtime, network, start_concurrency=concurrency, netlink_concurrency=concurrency).deploy(
        LAB, plan, Reports())
    kind_of_call = {"create": CreateContainer, "start": StartContainer, "create_veth": CreateLink,
                    "create_bridge": CreateBridge, "set_sysctls": SetSysctls,
                    "configure_interface": ConfigureInterface, "add_route": AddRoute, "impair": Impair,
                    "exec": ExecSequence}
    phase_of_kind = {type(step): i for i, p in enumerate(plan.phases) for step in p.steps}
    # The runtime's and the kernel's journals, each in call order, map to non-decreasing phases.
    runtime_phases = [phase_of_kind[kind_of_call[e[0]]] for e in runtime.journal if e[0] != "list"]
    network_phases = [phase_of_kind[kind_of_call[m]] for m in network.methods()]
    assert runtime_phases == sorted(runtime_phases) and network_phases == sorted(network_phases)
    # Every container is started before the first netlink call, and commands run after the last one.
    assert [e[0] for e in runtime.journal if e[0] != "list"] == ["create"] * 4 + ["start"] * 4 + ["exec"] * 2
    assert len(network.calls) == len(plan) - 4 - 4 - 1


def test_it_reports_every_step_ok_with_index_and_total():
    plan = plan_of(full_document())
    reports = Reports()
    executor(FakeRuntime(), FakeNetwork()).deploy(LAB, plan, reports)
    titles = {step.title for step in plan.steps}
    step_oks = [r for r in reports.by_status("ok") if r.title in titles]
    assert sorted(r.title for r in step_oks) == sorted(step.title for step in plan.steps)
    assert sorted(r.index for r in step_oks) == list(range(1, len(plan) + 1))
    assert {r.total for r in reports.seen} == {len(plan)}
    assert reports.by_status("failed") == []
    # Each phase is announced, then closed with the count of steps done so far.
    phase_reports = [(r.title, r.status, r.index) for r in reports.seen if r.title in {p.name for p in plan.phases}]
    expected, done = [], 0
    for p in plan.phases:
        expected.append((p.name, "started", done))
        done += len(p)
        expected.append((p.name, "ok", done))
    assert phase_reports == expected


def test_it_gives_each_node_its_own_container_and_namespace():
    runtime, network = FakeRuntime(), FakeNetwork()
    build = executor(runtime, network).deploy(LAB, plan_of(full_document()), Reports())
    assert build.containers == {n: f"cid-topolab-{SITE}-{LAB}-{n}" for n in ("c1", "r1", "c2", "sw1")}
    assert len(set(build.pids.values())) == 4
    pid = build.pids
    veths = [args for method, args, _ in network.calls if method == "create_veth"]
    assert sorted(veths) == sorted([(pid["c1"], "eth0", pid["r1"], "eth0", ALIAS),
                                    (pid["c2"], "eth0", pid["r1"], "eth1", ALIAS),
                                    (pid["sw1"], "p1", pid["c1"], "eth1", ALIAS)])
    assert ("create_bridge", (pid["sw1"], "br0", ALIAS), {}) in network.calls
    assert ("add_route", (pid["c1"], "0.0.0.0/0"), {"via": "10.0.1.1", "dev": None}) in network.calls
    configured = {(args[0], args[1]): kwargs for method, args, kwargs in network.calls
                  if method == "configure_interface"}
    assert configured[(pid["sw1"], "p1")]["master"] == "br0"
    assert configured[(pid["c1"], "eth0")]["addresses"] == ("10.0.1.2/24",)
    impaired = sorted((args[:2], kwargs["impairment"].delay_ms) for m, args, kwargs in network.calls if m == "impair")
    assert impaired == sorted([((pid["c1"], "eth0"), 10), ((pid["r1"], "eth0"), 10)])


def test_it_runs_exec_commands_in_order_through_sh_in_the_node():
    runtime = FakeRuntime()
    executor(runtime, FakeNetwork()).deploy(LAB, plan_of(full_document()), Reports())
    assert [e[1:] for e in runtime.journal if e[0] == "exec"] == [
        ("c1", ("/bin/sh", "-c", "ping -c1 10.0.2.2")), ("c1", ("/bin/sh", "-c", "true"))]


def test_it_builds_nothing_from_an_empty_plan():
    runtime, network, reports = FakeRuntime(), FakeNetwork(), Reports()
    build = executor(runtime, network).deploy(LAB, plan_of(document([])), reports)
    assert build.containers == {} and runtime.containers == {} and network.calls == [] and reports.seen == []


# -- a build that fails ---------------------------------------------------------------
def test_it_tears_down_and_names_the_step_when_a_link_fails():
    runtime = FakeRuntime()
    runtime.add_foreign(SITE, LAB + 1, "c1")  # another lab of this site
    runtime.add_foreign("elsewhere", LAB, "c1")  # the same lab number on another site
    network = FakeNetwork(fail={("create_veth", "p1"): OSError("File exists")})
    reports = Reports()
    with pytest.raises(StepFailed) as caught:
        executor(runtime, network, netlink_concurrency=1).deploy(LAB, plan_of(full_document()), reports)
    failure = caught.value
    assert isinstance(failure.step, CreateLink) and failure.step.title == "link sw1:p1 - c1:eth1"
    assert failure.reason == "File exists" and str(failure) == "link sw1:p1 - c1:eth1: File exists"
    # Reported: the failed step with its reason, then the undo.
    (failed,) = reports.by_status("failed")
    assert (failed.title, failed.node, failed.message) == ("link sw1:p1 - c1:eth1", "sw1", "File exists")
    assert failed.total == len(plan_of(full_document()))
    undo = [r for r in reports.seen if r.title == "undo"]
    assert len(undo) == 1 and "link sw1:p1 - c1:eth1" in undo[0].message
    assert reports.seen.index(failed) < reports.seen.index(undo[0])
    # Torn down: every container the runtime listed for this lab, and nothing else.
    assert ("list", tuple(names.lab_filter(SITE, LAB))) in runtime.journal
    assert sorted(runtime.removed) == sorted(f"topolab-{SITE}-{LAB}-{n}" for n in ("c1", "r1", "c2", "sw1"))
    assert sorted(c.name for c in runtime.containers.values()) == sorted([
        f"topolab-{SITE}-{LAB + 1}-c1", f"topolab-elsewhere-{LAB}-c1"])
    # Nothing after the failed phase ran.
    assert not {"create_bridge", "set_sysctls", "configure_interface", "add_route", "impair"} & set(network.methods())
    assert not [e for e in runtime.journal if e[0] == "exec"]


def test_it_tears_down_when_a_container_cannot_be_created():
    runtime = FakeRuntime(fail_create=f"topolab-{SITE}-{LAB}-c2")
    reports = Reports()
    with pytest.raises(StepFailed) as caught:
        executor(runtime, FakeNetwork(), start_concurrency=1).deploy(LAB, plan_of(full_document()), reports)
    assert caught.value.step.title == "create c2" and "No such image" in caught.value.reason
    assert runtime.containers == {}  # c1 and r1 were made, then removed
    assert sorted(runtime.removed) == [f"topolab-{SITE}-{LAB}-c1", f"topolab-{SITE}-{LAB}-r1"]
    assert not [e for e in runtime.journal if e[0] == "start"]


def test_it_fails_the_build_on_a_command_that_exits_non_zero_with_its_output():
    runtime = FakeRuntime(results={"ping -c1 10.0.2.2": (1, b"PING 10.0.2.2\n1 packets transmitted, 0 received\n")})
    with pytest.raises(StepFailed) as caught:
        executor(runtime, FakeNetwork()).deploy(LAB, plan_of(full_document()), Reports())
    assert isinstance(caught.value.step, ExecSequence) and caught.value.step.node == "c1"
    assert caught.value.reason == ("'ping -c1 10.0.2.2' exited with code 1: "
                                   "PING 10.0.2.2\n1 packets transmitted, 0 received")
    # The sequence stops at the failed command, and the lab is gone.
    assert [e[2][-1] for e in runtime.journal if e[0] == "exec"] == ["ping -c1 10.0.2.2"]
    assert runtime.containers == {}


def test_it_keeps_only_the_tail_of_a_long_failed_output():
    output = ("HEAD" + "x" * 10_000 + "TAIL").encode()
    runtime = FakeRuntime(results={"ping -c1 10.0.2.2": (2, output)})
    with pytest.raises(StepFailed) as caught:
        executor(runtime, FakeNetwork()).deploy(LAB, plan_of(full_document()), Reports())
    reason = caught.value.reason
    assert reason.startswith("'ping -c1 10.0.2.2' exited with code 2: ") and reason.endswith("TAIL")
    assert "HEAD" not in reason and len(reason) < OUTPUT_TAIL + 100


def test_it_says_only_the_code_of_a_silent_failed_command():
    runtime = FakeRuntime(results={"true": (127, b"")})
    with pytest.raises(StepFailed) as caught:
        executor(runtime, FakeNetwork()).deploy(LAB, plan_of(full_document()), Reports())
    assert caught.value.reason == "'true' exited with code 127"


def test_it_names_an_exception_without_a_message_by_its_type():
    network = FakeNetwork(fail={("add_route", "0.0.0.0/0"): TimeoutError()})
    with pytest.raises(StepFailed) as caught:
        executor(runtime := FakeRuntime(), network).deploy(LAB, plan_of(full_document()), Reports())
    assert isinstance(caught.value.step, AddRoute) and caught.value.reason == "TimeoutError"
    assert runtime.containers == {}


# -- teardown -----------------------------------------------------------------------------
def test_it_tears_down_twice_removing_nothing_the_second_time():
    runtime = FakeRuntime()
    runtime.add_foreign(SITE, LAB + 1, "c1")
    # A host-side leftover of this lab, and one of lab 70 whose alias starts like lab 7's.
    network = FakeNetwork(host_interfaces={"tl0a1b2c": ALIAS, "tl70x": names.interface_alias(SITE, 70)})
    ex = executor(runtime, network)
    ex.deploy(LAB, plan_of(full_document()), Reports())

    first = ex.teardown(LAB, Reports())
    assert sorted(first) == sorted([f"topolab-{SITE}-{LAB}-{n}" for n in ("c1", "r1", "c2", "sw1")]
                                   + ["interface tl0a1b2c"])
    assert [c.name for c in runtime.containers.values()] == [f"topolab-{SITE}-{LAB + 1}-c1"]
    assert network.host == {"tl70x": names.interface_alias(SITE, 70)}

    reports = Reports()
    assert ex.teardown(LAB, reports) == []
    assert [c.name for c in runtime.containers.values()] == [f"topolab-{SITE}-{LAB + 1}-c1"]
    assert [(r.title, r.status, r.total) for r in reports.seen] == [("remove containers", "started", 0),
                                                                    ("remove containers", "ok", 0)]


def test_it_reports_each_container_it_removes():
    runtime = FakeRuntime()
    ex = executor(runtime, FakeNetwork())
    ex.deploy(LAB, plan_of(full_document()), Reports())
    reports = Reports()
    ex.teardown(LAB, reports)
    assert sorted(r.title for r in reports.seen if r.title.startswith("remove ") and r.title != "remove containers") == [
        "remove c1", "remove c2", "remove r1", "remove sw1"]
    assert (reports.seen[0].status, reports.seen[0].total) == ("started", 4)
    assert (reports.seen[-1].title, reports.seen[-1].status, reports.seen[-1].index) == ("remove containers", "ok", 4)


def test_it_does_not_count_a_container_that_was_already_gone():
    class Racing(FakeRuntime):
        def remove(self, container_id):  # someone else removed it between list and remove
            self.containers.pop(container_id, None)
            return False

    runtime = Racing()
    ex = executor(runtime, FakeNetwork())
    ex.deploy(LAB, plan_of(full_document()), Reports())
    assert ex.teardown(LAB, Reports()) == []
    assert runtime.containers == {}


# -- one node of a running lab stopped and started again (topology.engine.node_plan) ---------------------------
def test_it_restarts_one_node_wired_to_its_running_neighbours_and_leaves_the_rest_alone():
    from topology.engine.node_plan import restart_plan

    runtime, network = FakeRuntime(), FakeNetwork()
    doc = full_document()
    build = executor(runtime, network).deploy(LAB, plan_of(doc), Reports())
    runtime.journal.clear()
    network.calls.clear()
    ctx = Context(site=SITE, lab_id=LAB, owner="alice")
    old_pid = build.pids["r1"]
    reports = Reports()
    executor(runtime, network).run(restart_plan(doc, ctx, "r1", {"c1", "c2", "sw1"}), build, reports)
    # r1 was unplugged in its old namespace, stopped, started (same container), wired again in its new one.
    assert [e[:2] for e in runtime.journal] == [("stop", "r1"), ("start", "r1")]
    assert network.calls[0] == ("unplug", (old_pid, ALIAS), {})
    new_pid = build.pids["r1"]
    assert new_pid != old_pid and build.containers["r1"] == f"cid-topolab-{SITE}-{LAB}-r1"
    veths = [args for method, args, _ in network.calls if method == "create_veth"]
    assert sorted(veths) == sorted([(new_pid, "eth0", build.pids["c1"], "eth0", ALIAS),
                                    (new_pid, "eth1", build.pids["c2"], "eth0", ALIAS)])
    # The neighbours' routes came back (those still there are fine), the impairment on both ends.
    routes = [(args[0], args[1], kwargs) for method, args, kwargs in network.calls if method == "add_route"]
    assert sorted(routes) == sorted([(build.pids["c1"], "0.0.0.0/0", {"via": "10.0.1.1", "dev": None, "exist_ok": True}),
                                     (build.pids["c2"], "0.0.0.0/0", {"via": "10.0.2.1", "dev": None, "exist_ok": True})])
    assert sorted(args[:2] for method, args, _ in network.calls if method == "impair") == sorted(
        [(new_pid, "eth0"), (build.pids["c1"], "eth0")])
    # Nothing of sw1, nothing in c1's other interface; no container removed, nothing torn down.
    assert all(build.pids["sw1"] not in args for _, args, _ in network.calls)
    assert all(args[1] != "eth1" or args[0] == new_pid for method, args, _ in network.calls
               if method == "configure_interface")
    assert runtime.removed == []
    assert [r.node_state for r in reports.seen if r.title == "stop r1" and r.status == "ok"] == [NodeState.STOPPED]


def test_a_failed_start_raises_and_tears_nothing_down():
    from topology.engine.node_plan import start_plan

    runtime, network = FakeRuntime(), FakeNetwork()
    doc = full_document()
    build = executor(runtime, network).deploy(LAB, plan_of(doc), Reports())
    network.fail = {("configure_interface", "eth0"): RuntimeError("no such device")}
    with pytest.raises(StepFailed) as failed:
        executor(runtime, network).run(start_plan(doc, Context(site=SITE, lab_id=LAB, owner="alice"), "c2",
                                                  {"c1", "r1", "sw1"}, container_exists=True), build, Reports())
    assert failed.value.step.title.startswith("configure ") and "no such device" in failed.value.reason
    assert runtime.removed == [] and len(runtime.containers) == 4  # undoing is the caller's: it knows what
