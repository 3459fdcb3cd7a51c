"""The root side of an operation: re-read the lab, re-validate, run the engine, record the outcome.

Tasks call these with IDs only. Every name the engine uses is derived here
from the lab's primary key and the server's settings, never from the request.
Every state change goes through :mod:`topology.labstate`. Root side: imports
nothing of the web tier's rules (:mod:`topology.services`), only the neutral
limits both sides check against (:mod:`topology.limits`).
"""
from __future__ import annotations

import logging
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


def make_executor() -> Executor:
    """The engine wired to the real Docker Engine and kernel, and to this worker's warm pool when it has one."""
    from .warm_pool import current

    return Executor(DockerRuntime(), netlink, site=settings.TOPOLAB_SITE,
                    start_concurrency=settings.TOPOLAB_START_CONCURRENCY,
                    netlink_concurrency=settings.TOPOLAB_NETLINK_CONCURRENCY, pool=current(),
                    node_log=NodeLog())  # what each step did, in its node's own log


@contextmanager
def _held_then_announced(lab_id: int, operation: str):
    """Hold the lab's lease for the body; publish what it announced once the lease is given back.

    A browser that reads "busy": false may send the next operation at once;
    by then the lease must be free, or it would be refused as busy.
    """
    announce: list[dict] = []
    with leases.held(lab_id, operation):
        yield announce
    broadcast.publish_many(lab_id, announce)


def _log_report(lab_id: int):
    def echo(report: Report) -> None:
        log.info("lab %s: %s %s %s", lab_id, report.title, report.status, report.message)
    return echo


def deploy(lab_id: int, operation: str) -> str:
    """Build the lab if ``operation`` is still its current one; returns the lab's final state."""
    lab = Lab.objects.select_related("topology__owner").filter(pk=lab_id).first()
    if lab is None:
        log.warning("lab %s no longer exists; nothing to deploy", lab_id)
        return GONE
    if lab.operation != operation:
        return lab.state  # superseded while queued
    with _held_then_announced(lab.pk, operation) as announce:
        try:
            document = schema.parse(lab.topology.document, document_limits())
            plan = build_plan(document, plan_context(lab))
        except (schema.DocumentError, PlanError) as exc:
            labstate.do_finish(lab, operation, LabState.FAILED, f"the document cannot be deployed: {exc}", announce)
            return LabState.FAILED
        executor = make_executor()
        with Recorder(lab, operation, echo=_log_report(lab.pk)) as record:
            try:
                # Whatever an interrupted operation left behind goes first, so
                # a deploy works from any state.
                executor.teardown(lab.pk, lambda report: None)
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
        if reason is not None:
            labstate.do_nodes_stopped(lab, failed=failed_node, reason=reason)
            labstate.do_finish(lab, operation, LabState.FAILED, reason, announce)
            return LabState.FAILED
        labstate.do_nodes_running(lab, {
            node.name: (build.containers[node.name], netlink.interfaces_of(build.pids[node.name]))
            for node in document.nodes}, schema.dump(document))
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
        labstate.do_finish(lab, lab.operation, LabState.FAILED,
                           f"the {'deploy' if lab.state == LabState.DEPLOYING else 'destroy'} was interrupted "
                           "(the lab worker stopped); what it had built was removed")
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
