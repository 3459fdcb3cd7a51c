"""The root side of an operation: re-read the lab, re-validate, run the engine, record the outcome.

Tasks call these with IDs only. Every name the engine uses is derived here
from the lab's primary key and the server's settings, never from the request.
Every state change goes through :mod:`topology.labstate`. Root side: imports
nothing of the web tier's rules (:mod:`topology.services`), only the neutral
limits both sides check against (:mod:`topology.limits`).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings

from . import broadcast, labstate, leases, schema
from .engine import names, netlink
from .engine.docker_runtime import DockerRuntime
from .engine.executor import Executor, Report, StepFailed
from .engine.node_log import NodeLog
from .engine.plan import PlanError, build_plan
from .limits import document_limits, plan_context
from .models import BUSY_STATES, LIVE_STATES, Lab, LabState
from .recorder import Recorder

log = logging.getLogger(__name__)
GONE = "gone"  # what an operation returns for a lab deleted while its task waited in the queue


_runtimes = threading.local()


def _runtime() -> DockerRuntime:
    """This worker thread's Docker client, made once and kept for the thread's next operations.

    Making one costs a round trip to the engine (its API version) and a new connection pool, 20 to 40 ms
    under load, on every operation. It is kept per thread, not per process: docker-py does not promise that
    a client is thread-safe (docker/docker-py#3229; it is a requests Session), so one client is used by one
    operation at a time, with the step threads of that operation, exactly as a client made per operation was.
    """
    runtime = getattr(_runtimes, "runtime", None)
    if runtime is None:
        runtime = _runtimes.runtime = DockerRuntime()
    return runtime


def make_executor() -> Executor:
    """The engine wired to the real Docker Engine and kernel, and to this worker's warm pool when it has one."""
    from .warm_pool import current

    return Executor(_runtime(), netlink, site=settings.TOPOLAB_SITE,
                    start_concurrency=settings.TOPOLAB_START_CONCURRENCY,
                    netlink_concurrency=settings.TOPOLAB_NETLINK_CONCURRENCY, pool=current(),
                    node_log=NodeLog())  # what each step did, in its node's own log


class Parts:
    """How long each part of an operation took (seconds, by name), said in one line of the worker's log.

    ``bench/deploy.py`` reads that line (:data:`PARTS_LINE`) to show where a deploy's time goes; ``picked_up`` is
    the wall-clock time the worker began it, so that the time the task waited in the queue can be told apart.
    """

    def __init__(self):
        self.picked_up = time.time()
        self.seconds: dict[str, float] = {}

    @contextmanager
    def part(self, name: str):
        """Add the body's time to part ``name``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - started)

    def add(self, name: str, seconds: float) -> None:
        """Add ``seconds`` to part ``name``."""
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def say(self, lab_id: int, operation: str, **extra) -> None:
        """Log the parts as one line (JSON after :data:`PARTS_LINE`)."""
        log.info("lab %s: %s%s", lab_id, PARTS_LINE, json.dumps(
            {"operation": operation, "picked_up": self.picked_up, "parts": self.seconds, **extra}))


PARTS_LINE = "deploy parts "


@contextmanager
def _held_then_announced(lab_id: int, operation: str, parts: Parts | None = None):
    """Hold the lab's lease for the body; publish what it announced once the lease is given back.

    A browser that reads "busy": false may send the next operation at once;
    by then the lease must be free, or it would be refused as busy.
    """
    parts = parts or Parts()
    announce: list[dict] = []
    started = time.perf_counter()
    with leases.held(lab_id, operation):
        parts.add("lease taken", time.perf_counter() - started)
        yield announce
        started = time.perf_counter()
    parts.add("lease given back", time.perf_counter() - started)
    with parts.part("broadcast at the end"):
        broadcast.publish_many(lab_id, announce)


def _log_report(lab_id: int):
    def echo(report: Report) -> None:
        log.info("lab %s: %s %s %s", lab_id, report.title, report.status, report.message)
    return echo


def deploy(lab_id: int, operation: str) -> str:
    """Build the lab if ``operation`` is still its current one; returns the lab's final state.

    How long each part took is said in the worker's log (:class:`Parts`) once it ends.
    """
    parts = Parts()
    with parts.part("read the lab"):
        lab = Lab.objects.select_related("topology__owner").filter(pk=lab_id).first()
    if lab is None:
        log.warning("lab %s no longer exists; nothing to deploy", lab_id)
        return GONE
    if lab.operation != operation:
        return lab.state  # superseded while queued
    try:
        return _deploy(lab, operation, parts)
    finally:
        parts.say(lab.pk, operation)


def _deploy(lab: Lab, operation: str, parts: Parts) -> str:
    with _held_then_announced(lab.pk, operation, parts) as announce:
        try:
            with parts.part("parse and plan"):
                document = schema.parse(lab.topology.document, document_limits())
                plan = build_plan(document, plan_context(lab))
        except (schema.DocumentError, PlanError) as exc:
            labstate.do_finish(lab, operation, LabState.FAILED, f"the document cannot be deployed: {exc}", announce)
            return LabState.FAILED
        with parts.part("make the executor"):
            executor = make_executor()
        with Recorder(lab, operation, echo=_log_report(lab.pk)) as record:
            try:
                # Whatever an interrupted operation left behind goes first, so
                # a deploy works from any state.
                with parts.part("teardown check"):
                    executor.teardown(lab.pk, lambda report: None)
                with parts.part("build"):
                    build = executor.deploy(lab.pk, plan, record)
            except StepFailed as failure:
                reason = f"{failure.step.title} failed: {failure.reason}"
                failed_node = failure.step.node
            except Exception as exc:  # the Docker Engine or Redis went away
                log.exception("lab %s: deploy crashed", lab.pk)
                executor.teardown(lab.pk, record)
                reason, failed_node = f"deploy stopped: {exc}", ""
            else:
                reason = None
            exiting = time.perf_counter()
        parts.add("last events written", time.perf_counter() - exiting)
        parts.add("events written (in all, beside the build)", record.flush_seconds)
        if reason is not None:
            labstate.do_nodes_stopped(lab, failed=failed_node, reason=reason)
            labstate.do_finish(lab, operation, LabState.FAILED, reason, announce)
            return LabState.FAILED
        with parts.part("interfaces read"):
            # One node after the other: the reads are Python's work (pyroute2 parsing), so threads made them
            # no faster (100 reads: 0.23 to 0.36 s alone, 0.41 to 0.46 s in 8 threads, on 2 cores).
            interfaces = {node.name: netlink.interfaces_of(build.pids[node.name]) for node in document.nodes}
        with parts.part("nodes' state written"):
            labstate.do_nodes_running(lab, {node.name: (build.containers[node.name], interfaces[node.name])
                                            for node in document.nodes}, schema.dump(document))
        with parts.part("lab's state written"):
            labstate.do_finish(lab, operation, LabState.RUNNING, later=announce)
        return LabState.RUNNING


def destroy(lab_id: int, operation: str) -> str:
    """Tear the lab down if ``operation`` is still its current one; returns the lab's final state."""
    lab = Lab.objects.filter(pk=lab_id).first()
    if lab is None:
        log.warning("lab %s no longer exists; nothing to destroy", lab_id)
        return GONE
    if lab.operation != operation:
        return lab.state
    with _held_then_announced(lab.pk, operation) as announce:
        with Recorder(lab, operation, echo=_log_report(lab.pk)) as record:
            try:
                make_executor().teardown(lab.pk, record)
            except Exception as exc:  # reported to the user, the lab stays destroyable
                log.exception("lab %s: destroy failed", lab.pk)
                labstate.do_finish(lab, operation, LabState.FAILED, f"destroy failed: {exc}", announce)
                return LabState.FAILED
        labstate.do_nodes_stopped(lab)
        labstate.do_finish(lab, operation, LabState.STOPPED, later=announce)
        return LabState.STOPPED


@dataclass
class Collected:
    """What garbage collection removed and which labs it marked failed."""

    removed: list[str] = field(default_factory=list)
    interrupted: list[int] = field(default_factory=list)


def interrupted_reason(state: str) -> str:
    """What the owner of a lab left ``state`` (deploying or destroying) by a dead worker is told once gc tore it down."""
    if state == LabState.DEPLOYING:
        return "the deploy was interrupted (the lab worker stopped); what it had built was removed"
    # A destroy built nothing: gc finished it (the lab is failed, not stopped, so that the owner sees it was cut short).
    return "the destroy was interrupted (the lab worker stopped); what was left of the lab was removed"


def collect_garbage(queue: str | None = None) -> Collected:
    """Remove what Topolab made that no lab owns, and end operations whose worker died.

    A lab left deploying or destroying with no live lease was interrupted: it
    is torn down and marked failed. A container whose lab is gone, stopped or
    failed (and not busy; a degraded lab still owns its own) belongs to nobody and is removed, as is any
    interface in the host namespace carrying this site's alias.
    """
    result = Collected()
    executor = make_executor()
    labs = Lab.objects.all() if queue is None else Lab.objects.filter(queue=queue)
    for lab in labs.filter(state__in=BUSY_STATES):
        if leases.is_held(lab.pk):
            continue
        removed = executor.teardown(lab.pk, lambda report: None)
        result.removed += removed
        labstate.do_nodes_stopped(lab)
        labstate.do_finish(lab, lab.operation, LabState.FAILED, interrupted_reason(lab.state))
        result.interrupted.append(lab.pk)

    owned = {
        lab.pk for lab in Lab.objects.all()
        if lab.state in LIVE_STATES or leases.is_held(lab.pk)  # a degraded lab's other nodes still run
    }
    orphan_labs = set()
    for info in executor.runtime.list(names.lab_filter(settings.TOPOLAB_SITE)):
        lab_id = int(info.labels.get(names.LABEL_LAB, "-1"))
        if lab_id not in owned and (queue is None or not Lab.objects.filter(pk=lab_id).exclude(queue=queue).exists()):
            orphan_labs.add(lab_id)
    for lab_id in sorted(orphan_labs):
        result.removed += executor.teardown(lab_id, lambda report: None)
    # Pool members that no longer belong (another image, over the admin's budget, stopped; all of them when
    # the pool is off): those a lab took were counted with their lab above.
    from .warm_pool import make_pool

    pool = make_pool(executor.runtime)
    before = {m.id for m in pool.members()}
    pool.fill(start=False)
    result.removed += [f"pool member {cid[:12]}" for cid in sorted(before - {m.id for m in pool.members()})]
    prefix = names.interface_alias(settings.TOPOLAB_SITE, 0)[:-1]
    for ifname, alias in netlink.host_interfaces_with_alias(prefix):
        parsed = names.parse_alias(alias)
        if parsed and parsed[0] == settings.TOPOLAB_SITE and parsed[1] not in owned:
            if netlink.delete_host_interface(ifname):
                result.removed.append(f"interface {ifname}")
    return result
