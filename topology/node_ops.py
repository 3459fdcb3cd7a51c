"""Stop, start and restart one node of a running lab, on the lab worker (root side).

The web tier (:mod:`topology.nodes`) has checked the request and taken the
lab's lease for it (its operation is the lab's current one, so the steps show
in the lab's log); the task names the lab, the operation, the node and the
action. Here the lab, its document and its nodes are read again from the
database and the engine runs the node's plan (:mod:`topology.engine.node_plan`):

- **stop**: its link ends are deleted (its neighbours' ends go with them),
  then its container is stopped and kept; the node is ``stopped``.
- **start**: its container is started (made again if it was removed), then
  wired to every running neighbour exactly as a deploy wires it, as the lab
  runs (:attr:`Lab.running_document`: edits saved since the deploy wait for
  Apply changes) (same names,
  MACs, addresses, routes, sysctls, impairments, link states), and its
  ``exec`` commands run again; the node is ``running``.
- **restart**: both, the container kept.

A start that fails is undone (its link ends deleted, its container stopped)
and the node is ``failed``, with the step and why; the lab is ``degraded``
until it is started again. A node that exited or whose container vanished
(the Docker watcher's news, :mod:`topology.watcher`) is brought back the same
way. Nothing of the other nodes changes but their ends of the node's links.
"""
from __future__ import annotations

import logging
import time

from . import broadcast, labstate, leases, schema
from .engine import names, netlink
from .engine.docker_runtime import RuntimeStepError
from .engine.executor import Build, Executor, Report, StepFailed
from .engine.node_plan import start_plan, stop_plan
from .engine.plan import PlanError
from .limits import document_limits, plan_context
from .models import LIVE_STATES, Lab, NodeStatus
from .recorder import Recorder

log = logging.getLogger(__name__)
ACTIONS = ("stop", "start", "restart")
DONE = {"stop": "stopped", "start": "started", "restart": "restarted"}


class Refused(Exception):
    """The action cannot be done on the node as it is now; ``code`` and the message say why."""

    def __init__(self, code: str, detail: str):
        self.code = code
        super().__init__(detail)


def _make_executor() -> Executor:
    from .operations import make_executor  # the engine wired to the real Docker Engine and kernel

    return make_executor()


def _interfaces(pids: dict[str, int], names_: set[str]) -> dict[str, list]:
    """What the kernel says of the interfaces of the running nodes among ``names_``."""
    found = {}
    for name in names_:
        if name in pids:
            try:
                found[name] = netlink.interfaces_of(pids[name])
            except (OSError, netlink.NetlinkStepError) as exc:  # it died meanwhile: the watcher says so
                log.info("interfaces of %s unreadable: %s", name, exc)
    return found


def _neighbours(document: schema.Document, node: str) -> set[str]:
    return {end.node for link in document.links if node in (link.endpoints[0].node, link.endpoints[1].node)
            for end in link.endpoints if end.node != node}


def _undo_start(executor: Executor, lab: Lab, node: str, build: Build) -> None:
    """What a failed start made of ``node`` goes again: its link ends, then its running container."""
    pid = build.pids.get(node)
    try:
        if pid is not None:
            executor.network.unplug(pid, names.interface_alias(executor.site, lab.pk))
        if node in build.containers and executor.runtime.pid(build.containers[node]) is not None:
            executor.runtime.stop(build.containers[node])
    except (OSError, RuntimeStepError, netlink.NetlinkStepError) as exc:  # the watcher will see what is left
        log.warning("undoing the start of %s: %s", node, exc)


def _run(lab: Lab, operation: str, node: str, action: str, executor: Executor, record, announce: list) -> dict:
    # The lab as it runs (the document it was built from, with its live changes), not the topology's edits since.
    document = schema.parse(lab.running_document or lab.topology.document, document_limits())
    rows = {row.name: row for row in lab.nodes.all()}
    if node not in rows or node not in {n.name for n in document.nodes}:
        raise Refused("no_node", f"the lab has no node '{node}'")
    row = rows[node]
    runtime = executor.runtime
    neighbours = _neighbours(document, node)
    pids: dict[str, int] = {}
    for name in neighbours:
        other = rows.get(name)
        if other is not None and other.state == NodeStatus.RUNNING and other.container_id:
            pid = runtime.pid(other.container_id)
            if pid is not None:
                pids[name] = pid
    build = Build(containers={node: row.container_id} if row.container_id else {}, pids=dict(pids))
    own_pid = runtime.pid(row.container_id) if row.container_id else None

    if action == "stop" and own_pid is None:
        raise Refused("not_running", f"'{node}' is not running (it is {row.state})")
    if action == "start" and own_pid is not None and row.state == NodeStatus.RUNNING:
        raise Refused("running", f"'{node}' is already running")
    if own_pid is not None:
        build.pids[node] = own_pid
        executor.run(stop_plan(plan_context(lab), node), build, record)  # StepFailed: reported by the caller
        if action == "stop":
            labstate.do_node_stopped(lab, node, _interfaces(pids, neighbours), operation, announce)
            return {"state": NodeStatus.STOPPED.value}

    exists = bool(row.container_id) and runtime.container_state(row.container_id) is not None
    if not exists:
        build.containers.pop(node, None)
    plan = start_plan(document, plan_context(lab), node, set(pids), container_exists=exists)
    try:
        executor.run(plan, build, record)
    except StepFailed as failure:
        _undo_start(executor, lab, node, build)
        reason = f"{failure.step.title} failed: {failure.reason}"
        labstate.do_node_failed(lab, node, reason, _interfaces(pids, neighbours), operation, announce)
        raise
    labstate.do_node_started(lab, node, build.containers[node], _interfaces(build.pids, neighbours | {node}),
                             operation, announce)
    return {"state": NodeStatus.RUNNING.value}


def act(lab_id: int, operation: str, node: str, action: str, executor: Executor | None = None) -> dict:
    """Do ``action`` (stop, start, restart) to ``node`` of the running lab ``lab_id``, holding its lease as
    ``operation``: ``{"ok": true, "state": ..., "elapsed_ms": ...}`` or ``{"error": code, "detail": why}``."""
    if action not in ACTIONS:
        return {"error": "bad_action", "detail": f"'{action}' is not one of {', '.join(ACTIONS)}"}
    lab = Lab.objects.select_related("topology__owner").filter(pk=lab_id).first()
    if lab is None:
        return {"error": "no_lab", "detail": "the lab no longer exists"}
    started = time.monotonic()
    announce: list[dict] = []
    title = f"{action} {node}"
    try:
        with leases.held(lab.pk, operation):
            lab.refresh_from_db()
            if lab.state not in LIVE_STATES:
                return {"error": "not_running", "detail": f"the lab is {lab.state}"}
            executor = executor or _make_executor()
            with Recorder(lab, operation, echo=lambda r: log.info("lab %s: %s %s %s", lab.pk, r.title, r.status,
                                                                   r.message)) as record:
                try:
                    answer = _run(lab, operation, node, action, executor, record, announce)
                except Refused as exc:
                    record(Report(title=title, status="failed", node=node, message=str(exc)))
                    return {"error": exc.code, "detail": str(exc)}
                except StepFailed as failure:
                    reason = f"{failure.step.title} failed: {failure.reason}"
                    record(Report(title=title, status="failed", node=node, message=reason))
                    return {"error": "failed", "detail": reason}
                except (schema.DocumentError, PlanError, RuntimeStepError, OSError) as exc:
                    log.warning("lab %s: %s: %s", lab.pk, title, exc)
                    record(Report(title=title, status="failed", node=node, message=str(exc)))
                    return {"error": "failed", "detail": str(exc)}
                elapsed = int((time.monotonic() - started) * 1000)
                record(Report(title=f"{node} {DONE[action]}", status="ok", node=node, elapsed_ms=elapsed))
    except leases.LeaseLost as exc:
        return {"error": "busy", "detail": str(exc)}
    finally:
        if announce:
            broadcast.publish_many(lab.pk, announce)
    return {"ok": True, "node": node, "action": action, "elapsed_ms": elapsed, **answer}
