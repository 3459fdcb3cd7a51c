"""Runs a plan: the steps of a phase concurrently, phases in order; undoes everything on failure.

The executor knows nothing of Django: it reports each step to a callback and
leaves recording to its caller. Its runtime and netlink parts are passed in,
so unit tests can run it against fakes while integration tests use the real
Docker Engine and kernel.
"""
from __future__ import annotations

import itertools
import logging
import shlex
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Protocol

from . import names, node_log
from .apply_plan import DeleteInterface, DeleteRoute, ReconfigureInterface, RemoveContainer, WriteFiles
from .node_plan import StopContainer, UnplugNode
from .plan import (
    CONFIGURE,
    CONTAINERS,
    NODE_COMMAND,
    AddRoute,
    ConfigureInterface,
    CreateBridge,
    CreateContainer,
    CreateLink,
    ExecSequence,
    Impair,
    Plan,
    SetSysctls,
    StartContainer,
    Step,
)
from .states import NodeState

log = logging.getLogger(__name__)
OUTPUT_TAIL = 2000  # characters of a failed command's output kept in its reason


class StepFailed(RuntimeError):
    """A step of a build failed; the build was undone. ``step`` says which."""

    def __init__(self, step: Step, reason: str):
        self.step = step
        self.reason = reason
        super().__init__(f"{step.title}: {reason}")


@dataclass
class Report:
    """One event of an operation: a step (or a whole phase) started, ended well or failed.

    ``title`` names it for people; ``node_state`` is the state the step left
    its ``node`` in, when it changed one (the recorder writes it as it is).
    """

    title: str
    status: str  # "started" | "ok" | "failed" | "info"
    node: str = ""
    message: str = ""
    elapsed_ms: int | None = None
    index: int | None = None
    total: int | None = None
    node_state: NodeState | None = None


Reporter = Callable[[Report], None]


class Network(Protocol):
    """What the executor needs of the kernel (see :mod:`netlink`)."""

    def create_veth(self, pid, ifname, peer_pid, peer_ifname, alias): ...
    def create_bridge(self, pid, name, alias): ...
    def configure_interface(self, pid, ifname, **kwargs): ...
    def set_sysctls(self, pid, values): ...
    def add_route(self, pid, to, via=None, dev=None): ...
    def impair(self, pid, ifname, impairment): ...
    def unplug(self, pid, alias): ...
    def delete_interface(self, pid, name): ...
    def reconfigure_interface(self, pid, ifname, **kwargs): ...
    def delete_route(self, pid, to, via=None, dev=None): ...
    def host_interfaces_with_alias(self, prefix): ...
    def delete_host_interface(self, name): ...


@dataclass
class Build:
    """What a build has made so far: container IDs and main PIDs by node."""

    containers: dict[str, str] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)


class Executor:
    """Builds and tears down labs with a container runtime and a netlink module."""

    def __init__(self, runtime, network: Network, *, site: str, start_concurrency: int = 4,
                 netlink_concurrency: int = 8, pool=None, node_log: node_log.NodeLog | None = None):
        self.runtime = runtime
        # Where what each step did is written into its node's own log (None: nowhere, as with fake runtimes).
        self.node_log = node_log
        self.network = network
        self.site = site
        self.pool = pool  # the warm pool (engine/pool.py) a node's container is taken from when it can be
        self.start_concurrency = start_concurrency
        # How many steps of a phase run at once, by the phase's pool.
        self.pool_sizes = {CONTAINERS: start_concurrency, CONFIGURE: netlink_concurrency}

    # -- build ---------------------------------------------------------------
    def deploy(self, lab_id: int, plan: Plan, report: Reporter) -> Build:
        """Run every phase; on the first failure, tear the lab down and raise :class:`StepFailed`."""
        build = Build()
        try:
            self.run(plan, build, report)
        except StepFailed as failure:
            report(Report(title="undo", status="started", message=f"{failure.step.title} failed; removing what was built"))
            self.teardown(lab_id, report)
            raise
        return build

    def run(self, plan: Plan, build: Build, report: Reporter) -> Build:
        """Run every phase of ``plan`` on ``build`` (what runs already: a node's container, its neighbours'
        PIDs); the first failure raises :class:`StepFailed` and undoes nothing (the caller knows what to)."""
        total = len(plan)
        done = 0
        for phase in plan.phases:
            started = time.monotonic()
            report(Report(title=phase.name, status="started", index=done, total=total))
            self._run_phase(phase.steps, build, report, self.pool_sizes[phase.pool], done, total)
            done += len(phase)
            report(Report(title=phase.name, status="ok", index=done, total=total,
                          elapsed_ms=int((time.monotonic() - started) * 1000)))
        return build

    def _run_phase(self, steps, build: Build, report: Reporter, workers: int, done: int, total: int) -> None:
        failures: list[StepFailed] = []
        # Steps end in any order; numbering them as they end keeps the counter
        # a user watches going up one by one.
        finished = itertools.count(done + 1)

        def run(step):
            if failures:
                return  # a sibling failed: start nothing new
            started = time.monotonic()
            try:
                note = self._run_step(step, build)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a reported, undone step
                reason = str(exc) or type(exc).__name__
                failure = exc if isinstance(exc, StepFailed) else StepFailed(step, reason)
                failures.append(failure)
                report(Report(title=step.title, status="failed", node=step.node, message=failure.reason,
                              elapsed_ms=int((time.monotonic() - started) * 1000), index=next(finished),
                              total=total, node_state=NodeState.FAILED))
                return
            report(Report(title=step.title, status="ok", node=step.node, index=next(finished), total=total,
                          elapsed_ms=int((time.monotonic() - started) * 1000), node_state=step.DONE_STATE,
                          message=note or ""))

        if len(steps) == 1 or workers <= 1:
            for step in steps:
                run(step)
        else:
            with ThreadPoolExecutor(max_workers=min(workers, len(steps)), thread_name_prefix="topolab") as pool:
                list(pool.map(run, steps))
        if failures:
            raise failures[0]

    def _run_step(self, step: Step, build: Build) -> str | None:
        """Run one step; what it returns is said with its report (how it was done, when there was a choice)."""
        try:
            run = _STEP_RUNNERS[type(step)]
        except KeyError:  # pragma: no cover - a new step type without a runner is a programming error
            raise TypeError(f"no executor for {type(step).__name__}") from None
        if isinstance(step, StopContainer):
            self._say(build, step.node, node_log.describe(step))  # while it still runs
            return run(self, step, build)
        note = run(self, step, build)
        self._say(build, step.node, node_log.describe(step))
        if isinstance(step, CreateLink):
            self._say(build, step.peer_node, [f"{step.peer_interface}: linked to {step.node}:{step.interface}"])
        return note

    def _say(self, build: Build, node: str, lines: list[str]) -> None:
        if self.node_log is not None and lines:
            self.node_log.say(build.pids.get(node), *lines)

    # -- one method per step type (see _STEP_RUNNERS below) --------------------------------------
    def _create(self, step: CreateContainer, build: Build) -> str | None:
        if self.pool is not None and step.command == tuple(NODE_COMMAND):
            taken = self.pool.take(node=step.node, container=step.container, image=step.image,
                                   capabilities=step.capabilities, cpus=step.cpus, memory_mb=step.memory_mb,
                                   pids=step.pids, files=step.files, env=step.env)
            if taken is not None:
                build.containers[step.node], build.pids[step.node] = taken
                return "from the warm pool"
        build.containers[step.node] = self.runtime.create(
            name=step.container, image=step.image, labels=step.labels, env=step.env, command=step.command,
            cpus=step.cpus, memory_mb=step.memory_mb, pids=step.pids, capabilities=step.capabilities,
            files=step.files,
        )

    def _start(self, step: StartContainer, build: Build) -> str | None:
        if step.node in build.pids:
            return "already running (from the warm pool)"
        build.pids[step.node] = self.runtime.start(build.containers[step.node])
        from .pool import own_name  # a taken pool member gets its member's host name again at each start

        own_name(build.containers[step.node], build.pids[step.node], step.node)
        return None

    def _link(self, step: CreateLink, build: Build) -> None:
        self.network.create_veth(build.pids[step.node], step.interface, build.pids[step.peer_node],
                                 step.peer_interface, step.alias)

    def _bridge(self, step: CreateBridge, build: Build) -> None:
        self.network.create_bridge(build.pids[step.node], step.bridge, step.alias)

    def _sysctls(self, step: SetSysctls, build: Build) -> None:
        self.network.set_sysctls(build.pids[step.node], list(step.values))

    def _configure(self, step: ConfigureInterface, build: Build) -> None:
        self.network.configure_interface(build.pids[step.node], step.interface, addresses=step.addresses,
                                         mac=step.mac, mtu=step.mtu, up=step.up, master=step.master)

    def _route(self, step: AddRoute, build: Build) -> None:
        self.network.add_route(build.pids[step.node], step.to, via=step.via, dev=step.dev, exist_ok=step.exist_ok)

    def _impair(self, step: Impair, build: Build) -> None:
        self.network.impair(build.pids[step.node], step.interface, step.impairment)

    def _unplug(self, step: UnplugNode, build: Build) -> None:
        self.network.unplug(build.pids[step.node], step.alias)

    def _stop(self, step: StopContainer, build: Build) -> None:
        self.runtime.stop(build.containers[step.node])
        build.pids.pop(step.node, None)

    def _unlink(self, step: DeleteInterface, build: Build) -> None:
        self.network.delete_interface(build.pids[step.node], step.interface)

    def _remove(self, step: RemoveContainer, build: Build) -> None:
        container = build.containers.pop(step.node, None)
        build.pids.pop(step.node, None)
        if container:
            self.runtime.remove(container)

    def _reconfigure(self, step: ReconfigureInterface, build: Build) -> None:
        self.network.reconfigure_interface(build.pids[step.node], step.interface, addresses=step.addresses,
                                           remove=step.remove, mac=step.mac, mtu=step.mtu, up=step.up)

    def _unroute(self, step: DeleteRoute, build: Build) -> None:
        self.network.delete_route(build.pids[step.node], step.to, via=step.via, dev=step.dev)

    def _write_files(self, step: WriteFiles, build: Build) -> None:
        container = build.containers[step.node]
        if step.files:
            self.runtime.put_files(container, step.files)
        if step.remove:
            self._exec(container, "rm -f -- " + " ".join(shlex.quote(path) for path in step.remove), step)

    def _exec_all(self, step: ExecSequence, build: Build) -> None:
        for command in step.commands:
            self._exec(build.containers[step.node], command, step, build.pids.get(step.node))

    def _exec(self, container_id: str, command: str, step: Step, logged_pid: int | None = None) -> None:
        """Run ``command``; with ``logged_pid``, the command, its output and its exit status go into
        that node's log too (one write, after it ends)."""
        output = node_log.Output()  # bounded, however much the command prints
        code = self.runtime.exec(container_id, ["/bin/sh", "-c", command], stream=output)
        if logged_pid is not None and self.node_log is not None:
            self.node_log.write(logged_pid, f"{node_log.PREFIX}$ {command}\n".encode("utf-8", "replace")
                                + output.for_log() + f"{node_log.PREFIX}exit status {code}\n".encode())
        if code != 0:
            text = output.last().decode("utf-8", "replace")[-OUTPUT_TAIL:].strip()
            raise StepFailed(step, f"'{command}' exited with code {code}" + (f": {text}" if text else ""))

    # -- teardown ------------------------------------------------------------
    def teardown(self, lab_id: int, report: Reporter) -> list[str]:
        """Remove every container and interface of a lab, whatever state it is in. Idempotent.

        Containers are found by label and removed in parallel (their veth ends
        die with their namespaces); then any interface left in the host
        namespace with this lab's alias goes too. Returns what was removed.
        """
        started = time.monotonic()
        found = self.runtime.list(names.lab_filter(self.site, lab_id))
        removed: list[str] = []
        report(Report(title="remove containers", status="started", total=len(found), index=0))

        def remove(info):
            t0 = time.monotonic()
            if self.runtime.remove(info.id):
                removed.append(info.name)
            node = info.labels.get(names.LABEL_NODE, "")
            report(Report(title=f"remove {node or info.name}", status="ok", node=node,
                          elapsed_ms=int((time.monotonic() - t0) * 1000),
                          node_state=NodeState.STOPPED if node else None))

        if found:
            with ThreadPoolExecutor(max_workers=min(self.start_concurrency * 2, len(found)),
                                    thread_name_prefix="topolab-rm") as pool:
                list(pool.map(remove, found))
        alias = names.interface_alias(self.site, lab_id)
        for ifname, ifalias in self.network.host_interfaces_with_alias(alias):
            if ifalias == alias and self.network.delete_host_interface(ifname):
                removed.append(f"interface {ifname}")
        report(Report(title="remove containers", status="ok", total=len(found), index=len(found),
                      elapsed_ms=int((time.monotonic() - started) * 1000)))
        return removed


# Which method runs a step of each type: a new step type is one entry here (and its method).
_STEP_RUNNERS: dict[type, Callable[[Executor, Step, Build], None]] = {
    CreateContainer: Executor._create,
    StartContainer: Executor._start,
    CreateLink: Executor._link,
    CreateBridge: Executor._bridge,
    SetSysctls: Executor._sysctls,
    ConfigureInterface: Executor._configure,
    AddRoute: Executor._route,
    Impair: Executor._impair,
    ExecSequence: Executor._exec_all,
    UnplugNode: Executor._unplug,
    StopContainer: Executor._stop,
    DeleteInterface: Executor._unlink,
    RemoveContainer: Executor._remove,
    ReconfigureInterface: Executor._reconfigure,
    DeleteRoute: Executor._unroute,
    WriteFiles: Executor._write_files,
}
