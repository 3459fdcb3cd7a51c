"""The rules of Apply changes: a running lab made to run a new document without restarting what did not change
(web side, unprivileged).

The new document is checked as any saved document is (every problem with its
path) and as a deploy would be (its kinds), the lab must be running or
degraded with no operation in progress, and the owner's and course's limits
must allow its nodes. The difference from what the lab runs
(:attr:`Lab.running_document`, with the nodes that really run now) is planned
here, purely (:func:`topology.engine.apply_plan.apply_plan`), and returned: a
dry run stops there, changing nothing. Otherwise the document is saved as the
topology's, and the lab worker applies it (:mod:`topology.applier`) while the
lab is ``deploying``: its steps go to the lab's log and websocket like a
deploy's. Nothing to change saves the document and queues nothing.
"""
from __future__ import annotations

from . import labstate, quotas, schema, services, tasks
from .engine.apply_plan import Changes, apply_plan
from .engine.plan import PlanError
from .errors import Conflict, InvalidDocument
from .limits import plan_context
from .models import BUSY_STATES, LIVE_STATES, NodeStatus, Topology


def _steps(plan) -> list[dict]:
    return [{"phase": phase.name, "steps": [step.title for step in phase.steps]} for phase in plan.phases]


def preview(topology: Topology, data) -> tuple[schema.Validation, object, Changes]:
    """The checked document, the plan and its :class:`Changes` for applying ``data`` to ``topology``'s lab."""
    result = data if isinstance(data, schema.Validation) else services.validate(data)
    if not result.ok:
        raise InvalidDocument("the document has errors", result.errors)
    lab = topology.lab
    lab.refresh_from_db()
    if lab.state in BUSY_STATES:
        raise Conflict(f"the lab is busy ({lab.state}); wait until its current operation ends")
    if lab.state not in LIVE_STATES:
        raise Conflict(f"the lab is {lab.state}: Apply changes is for a running lab (save and deploy instead)")
    if lab.running_document is None:
        raise Conflict("this lab was deployed before Topolab kept what a lab runs: destroy it and deploy it once, "
                       "then changes can be applied to it")
    rows = list(lab.nodes.values_list("name", "state", "container_id"))
    running = {name for name, state, container in rows if state == NodeStatus.RUNNING and container}
    holding = {name for name, _, container in rows if container}
    try:
        plan, changes = apply_plan(schema.parse(lab.running_document), result.document, plan_context(lab), running,
                                   holding)
    except PlanError as exc:
        raise InvalidDocument("the document cannot be deployed", exc.problems) from None
    return result, plan, changes


def apply(topology: Topology, data, *, dry_run: bool = False) -> dict:
    """Apply ``data`` (a document) to ``topology``'s running lab, or only say what it would do (``dry_run``):
    ``{"changes": ..., "steps": [{phase, steps}], "nothing_to_do": bool, "queued": bool, "operation": id}``.

    Refused before anything changes: :class:`InvalidDocument` (400, with paths), :class:`Conflict` (409: the lab
    is not running, or busy), :class:`~topology.quotas.LimitReached` (429), :class:`~topology.errors.NoWorker`
    (503). Call it outside any transaction (the limits' reservation lapses soon after; only a committed state counts).
    """
    result, plan, changes = preview(topology, data)
    answer = {"changes": changes.as_dict(), "steps": _steps(plan), "nothing_to_do": not plan.steps,
              "queued": False, "operation": ""}
    if dry_run:
        return answer
    lab = topology.lab
    if not plan.steps:
        services.update_topology(topology, result)
        return answer
    added = [name for name in changes.nodes_created]
    with quotas.deploy_guard(lab, len(result.document.nodes)):
        services.update_topology(topology, result)
        operation = services.begin_operation(
            tasks.apply_changes, lab,
            lambda op, queue: labstate.do_apply_begin(lab, op, schema.dump(result.document), added, then=queue))
    return {**answer, "queued": True, "operation": operation}
