"""What users may do to topologies and labs: the one place for those rules (web side, unprivileged).

Views and the command line call these functions; they check the document and
the lab's state, record the intent, and queue work for the root worker after
the transaction commits. Nothing here touches Docker or the kernel.
"""
from __future__ import annotations

import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import events as live
from . import leases, spec
from .engine.plan import Context, PlanError, check_deployable
from .models import BUSY_STATES, Lab, LabEvent, LabNode, LabState, NodeStatus, Topology


class ServiceError(Exception):
    """A request was refused; ``status`` is the HTTP status that says why, ``problems`` the details."""

    status = 400

    def __init__(self, message: str, problems: list[spec.Problem] | None = None):
        self.message = message
        self.problems = problems or []
        super().__init__(message)


class InvalidDocument(ServiceError):
    """The document breaks the format's rules (every problem is listed)."""

    status = 400


class Conflict(ServiceError):
    """The lab's state does not allow this now (another operation runs, or it already runs)."""

    status = 409


def limits() -> spec.Limits:
    """The server's limits, from settings."""
    caps = settings.TOPOLAB_MAX_RESOURCES
    return spec.Limits(max_nodes=settings.TOPOLAB_MAX_NODES, max_links=settings.TOPOLAB_MAX_LINKS,
                       max_cpus=caps["cpus"], max_memory_mb=caps["memory_mb"], max_pids=caps["pids"])


def plan_context(lab: Lab) -> Context:
    """Names and limits the engine uses for this lab."""
    return Context(site=settings.TOPOLAB_SITE, lab_id=lab.pk, owner=lab.topology.owner.get_username(),
                   limits=limits(), default_resources=dict(settings.TOPOLAB_DEFAULT_RESOURCES))


def validate(data) -> spec.Validation:
    """Errors and warnings for a document, saving nothing."""
    return spec.validate(data, limits())


def parse(data) -> spec.Document:
    """The typed document, or :class:`InvalidDocument` with every problem."""
    result = validate(data)
    if not result.ok:
        raise InvalidDocument("the document has errors", result.errors)
    return result.document


def import_topology(owner, data, *, replace: bool = False) -> Topology:
    """Save a document as ``owner``'s topology (its name from the document); all or nothing."""
    document = parse(data)
    with transaction.atomic():
        existing = Topology.objects.select_for_update().filter(owner=owner, name=document.name).first()
        if existing is not None and not replace:
            raise InvalidDocument(
                "name taken",
                [spec.Problem("name", f"you already have a topology named '{document.name}' (replace it to overwrite)")],
            )
        if existing is not None:
            existing.document = spec.dump(document)
            existing.save()
            return existing
        topology = Topology.objects.create(owner=owner, name=document.name, document=spec.dump(document))
        Lab.objects.create(topology=topology, queue=settings.TOPOLAB_QUEUE)
        return topology


def is_busy(lab: Lab) -> bool:
    """True while an operation holds the lab (queued or running on a worker)."""
    return leases.holder(lab.pk) is not None


def _begin(lab: Lab, state: LabState, step: str) -> str:
    """Take the lab's lease and move it to ``state``; returns the new operation's ID."""
    operation = uuid.uuid4().hex
    if not leases.acquire(lab.pk, operation):
        raise Conflict(f"the lab is busy ({lab.state}); wait until its current operation ends")
    try:
        with transaction.atomic():
            Lab.objects.filter(pk=lab.pk).update(state=state, reason="", operation=operation,
                                                 state_changed=timezone.now())
            LabEvent.objects.create(lab=lab, operation=operation, step=step, status=LabEvent.Status.INFO)
    except Exception:
        leases.release(lab.pk, operation)
        raise
    lab.refresh_from_db()
    return operation


def _began(lab: Lab, operation: str) -> list[dict]:
    """What watching browsers are told when an operation begins: the lab's new state and its first event."""
    return [live.lab_message(lab.state, lab.reason, True, operation),
            live.events_message(LabEvent.objects.filter(lab=lab, operation=operation))]


def _send(task, lab: Lab, operation: str, messages: list[dict] = ()) -> None:
    """Once the state change is committed, tell watching browsers ``messages`` and queue ``task`` on the lab's host."""
    transaction.on_commit(lambda: _send_now(task, lab, operation, messages))


def _send_now(task, lab: Lab, operation: str, messages: list[dict] = ()) -> None:
    """Publish ``messages`` and queue ``task`` now; if the broker cannot be reached, give the lab back."""
    live.publish_many(lab.pk, messages)
    try:
        task.apply_async(args=[lab.pk, operation], queue=lab.queue)
    except Exception as exc:  # the broker is down: say so instead of leaving the lab busy
        reason = f"could not reach the lab worker's queue: {exc}"
        Lab.objects.filter(pk=lab.pk, operation=operation).update(state=LabState.FAILED, reason=reason)
        leases.release(lab.pk, operation)
        live.publish(lab.pk, live.lab_message(LabState.FAILED, reason, False, operation))
        raise Conflict("the lab worker cannot be reached right now; try again") from exc


def request_deploy(lab: Lab) -> str:
    """Queue a build of the lab's current document on its host's worker."""
    from .tasks import deploy_lab

    document = parse(lab.topology.document)
    try:
        check_deployable(document)
    except PlanError as exc:
        raise InvalidDocument("the document cannot be deployed", exc.problems) from None
    lab.refresh_from_db()
    if lab.state == LabState.RUNNING:
        raise Conflict("the lab is already running; destroy it first")
    operation = _begin(lab, LabState.DEPLOYING, "deploy requested")
    with transaction.atomic():
        names = [node.name for node in document.nodes]
        LabNode.objects.filter(lab=lab).exclude(name__in=names).delete()
        for name in names:
            LabNode.objects.update_or_create(lab=lab, name=name, defaults={
                "state": NodeStatus.PENDING, "container_id": "", "interfaces": [], "reason": ""})
    pending = [live.node_message(name, NodeStatus.PENDING) for name in names]
    _send(deploy_lab, lab, operation, _began(lab, operation) + pending)
    return operation


def request_destroy(lab: Lab) -> str:
    """Queue the teardown of a lab, from whatever state it is in."""
    from .tasks import destroy_lab

    operation = _begin(lab, LabState.DESTROYING, "destroy requested")
    _send(destroy_lab, lab, operation, _began(lab, operation))
    return operation


def is_stale(lab: Lab) -> bool:
    """A lab left in deploying/destroying by a worker that died (nobody holds its lease)."""
    return lab.state in BUSY_STATES and not is_busy(lab)


def update_topology(topology: Topology, data) -> Topology:
    """Replace a topology's document (renaming it if the name changed); all or nothing."""
    document = parse(data)
    with transaction.atomic():
        clash = Topology.objects.filter(owner_id=topology.owner_id, name=document.name).exclude(pk=topology.pk)
        if clash.exists():
            raise InvalidDocument(
                "name taken", [spec.Problem("name", f"you already have a topology named '{document.name}'")])
        topology.name = document.name
        topology.document = spec.dump(document)
        topology.save()
    return topology


def delete_topology(topology: Topology) -> None:
    """Delete a topology whose lab is stopped (or failed with nothing left running); else :class:`Conflict`."""
    lab = topology.lab
    holder = uuid.uuid4().hex
    # Holding the lab's lease while deleting: no deploy can start in between.
    if not leases.acquire(lab.pk, holder):
        raise Conflict(f"the lab is busy ({lab.state}); wait until its current operation ends, then destroy it")
    try:
        lab.refresh_from_db()
        leftovers = lab.nodes.exclude(container_id="").exists()
        if lab.state not in (LabState.STOPPED, LabState.FAILED) or leftovers:
            raise Conflict(f"the lab is {lab.state}; destroy it first")
        topology.delete()
    finally:
        leases.release(lab.pk, holder)
