"""Apply changes to a running lab, on the lab worker (root side).

The web tier (:mod:`topology.apply`) has checked the new document, saved it
as the topology's, put it in :attr:`Lab.applying_document` and moved the lab
to ``deploying`` under the operation's lease. Here the lab's running document
and the new one are read again, the difference is planned
(:mod:`topology.engine.apply_plan`, from what really runs now) and run step by
step, recorded like a deploy's. Then the lab runs the new document.

A step that fails stops the apply, and the lab is put back as it was: nodes
it added are removed, and every node the plan touched is made again from the
running document (its container kept when it still has the one it had) and
wired to its neighbours, while the nodes it did not touch go on as they were.
The lab's reason says which step failed and why; should putting it back fail
too, the nodes that could not be brought back are ``failed``, with why, and
the lab ``degraded``: never a half-applied lab that says nothing.
"""
from __future__ import annotations

import logging

from . import labstate, schema
from .engine import names, netlink
from .engine.apply_plan import RemoveContainer, apply_plan, start_many
from .engine.executor import Build, Executor, StepFailed
from .engine.node_plan import StopContainer, UnplugNode
from .engine.plan import CONTAINERS, CreateLink, Phase, Plan, PlanError
from .limits import document_limits, plan_context
from .models import Lab, LabState, NodeStatus
from .operations import GONE, _held_then_announced, _log_report, make_executor
from .recorder import Recorder

log = logging.getLogger(__name__)


def _running(executor: Executor, lab: Lab) -> tuple[dict[str, str], dict[str, int]]:
    """The containers of the lab's nodes (``{node: id}``) and the PIDs of those running."""
    containers, pids = {}, {}
    for row in lab.nodes.all():
        if not row.container_id:
            continue
        containers[row.name] = row.container_id
        if row.state == NodeStatus.RUNNING:
            pid = executor.runtime.pid(row.container_id)
            if pid is not None:
                pids[row.name] = pid
    return containers, pids


def _interfaces(build: Build) -> dict[str, tuple[str, list]]:
    found = {}
    for name, pid in build.pids.items():
        try:
            found[name] = (build.containers[name], netlink.interfaces_of(pid))
        except (OSError, netlink.NetlinkStepError, KeyError) as exc:  # it died meanwhile: the watcher says so
            log.info("interfaces of %s unreadable: %s", name, exc)
    return found


def _touched(plan: Plan) -> set[str]:
    nodes = {step.node for step in plan.steps}
    return nodes | {step.peer_node for step in plan.steps if isinstance(step, CreateLink)}


def _restore(executor: Executor, lab: Lab, old: schema.Document, new: schema.Document, plan: Plan,
             before: dict[str, str], build: Build, record) -> dict[str, str]:
    """Put the lab back as ``old`` after a failed apply of ``plan``; ``before`` are the containers the nodes
    had. Returns ``{node: why}`` for the nodes that could not be brought back (empty: all of them were)."""
    ctx = plan_context(lab)
    alias = names.interface_alias(executor.site, lab.pk)
    old_names = {n.name for n in old.nodes}
    touched = _touched(plan)
    undo, remove, stop = [], [], []
    for name in sorted(touched | (set(build.containers) - old_names)):
        if name in build.pids:
            undo.append(UnplugNode(node=name, alias=alias))
        current = build.containers.get(name)
        if current and (name not in old_names or current != before.get(name)):
            remove.append(RemoveContainer(node=name))  # added, or made again: not what ran before
        elif name in build.pids:
            stop.append(StopContainer(node=name))
    back = [n for n in old.nodes if n.name in touched and n.name in before]
    untouched = {name for name in build.pids if name not in touched and name in old_names}
    exists = {}
    for node in back:
        container = before[node.name]
        exists[node.name] = executor.runtime.container_state(container) is not None
        build.containers[node.name] = container if exists[node.name] else build.containers.get(node.name, "")
    phases = [Phase("unplug", tuple(undo)), Phase("remove containers", tuple(remove), CONTAINERS),
              Phase("stop container", tuple(stop), CONTAINERS)]
    phases += start_many(old, ctx, [n.name for n in back], untouched, exists)
    try:
        executor.run(Plan(tuple(p for p in phases if p.steps)), build, record)
    except StepFailed as failure:
        why = f"putting it back failed at {failure.step.title}: {failure.reason}"
        return {n.name: why for n in back if n.name not in build.pids or n.name == failure.step.node}
    return {}


def apply(lab_id: int, operation: str) -> str:
    """Apply the lab's ``applying_document`` if ``operation`` is still its current one; returns its final state."""
    lab = Lab.objects.select_related("topology__owner").filter(pk=lab_id).first()
    if lab is None:
        log.warning("lab %s no longer exists; nothing to apply", lab_id)
        return GONE
    if lab.operation != operation:
        return lab.state
    with _held_then_announced(lab.pk, operation) as announce:
        executor = make_executor()
        try:
            old = schema.parse(lab.running_document, document_limits())
            new = schema.parse(lab.applying_document, document_limits())
            before, pids = _running(executor, lab)
            holding = {name for name, container in before.items()
                       if executor.runtime.container_state(container) is not None}
            plan, _ = apply_plan(old, new, plan_context(lab), set(pids), holding)
        except (schema.DocumentError, PlanError, TypeError) as exc:  # TypeError: no document to compare
            return _finish(lab, operation, f"nothing was changed: the changes cannot be applied: {exc}", announce)
        build = Build(containers=dict(before), pids=dict(pids))
        reason, failed, runs = "", {}, new
        with Recorder(lab, operation, echo=_log_report(lab.pk)) as record:
            try:
                executor.run(plan, build, record)
            except StepFailed as failure:
                reason = f"{failure.step.title} failed: {failure.reason}"
                log.warning("lab %s: apply: %s; putting the lab back", lab.pk, reason)
                failed = _restore(executor, lab, old, new, plan, before, build, record)
                runs = old
                reason = (f"the changes were not applied: {reason}; " + (
                    "the lab runs as before" if not failed else
                    "putting the lab back failed too: " + "; ".join(f"{k}: {v}" for k, v in failed.items())))
        stopped = [name for name in before if name not in build.containers]
        labstate.do_applied(lab, schema.dump(runs), _interfaces(build), stopped, failed)
        return _finish(lab, operation, reason, announce)


def _finish(lab: Lab, operation: str, reason: str, announce: list) -> str:
    """End the operation: the lab runs (or, with nodes lost or failed, is degraded), ``reason`` saying what
    went wrong (empty: nothing)."""
    trouble = labstate.troubles(lab)
    state = LabState.DEGRADED if trouble else LabState.RUNNING
    labstate.do_finish(lab, operation, state, "; ".join(x for x in (reason, trouble) if x), announce)
    return state
