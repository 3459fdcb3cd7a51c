"""What users may do to topologies and labs: the one place for those rules (web side, unprivileged).

Views and the command line call these functions; they check the document and
the lab's state, record the intent (through :mod:`topology.labstate`, the one
writer of lab state), and queue work for the root worker after the
transaction commits, through :mod:`topology.tasks`, the one module both sides
share. Nothing here touches Docker or the kernel, and the root side never
imports this module. The limits (:mod:`topology.quotas`) are checked here:
a deploy or a new topology past one is refused before anything is written.
The refusals are :mod:`topology.errors`' (and ``quotas.LimitReached``),
named here as ``services.ServiceError`` and so on.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from datetime import timezone as tz

from django.db import transaction
from django.utils import dateparse, timezone

from . import broadcast, hosts, labstate, leases, placement, quotas, schema, tasks
from .engine.plan import PlanError, check_deployable
from .errors import Conflict, InvalidDocument, NoWorker, ServiceError  # noqa: F401 - callers name them services.X
from .limits import document_limits
from .models import Lab, LabState, Topology
from .quotas import LimitReached  # noqa: F401


def validate(data) -> schema.Validation:
    """Errors and warnings for a document, saving nothing."""
    return schema.validate(data, document_limits())


def parse(data) -> schema.Document:
    """The typed document, or :class:`InvalidDocument` with every problem."""
    result = validate(data)
    if not result.ok:
        raise InvalidDocument("the document has errors", result.errors)
    return result.document


def import_topology(owner, data, *, replace: bool = False, assignment=None) -> Topology:
    """Save a document as ``owner``'s topology (its name from the document); all or nothing.

    ``data`` is the document's JSON data, or its :class:`schema.Validation` when the caller has checked
    it already with this server's limits (the API's views: a body is checked once). Its warnings are
    kept with it (``Topology.warnings``), so that reading it never checks it again. A new topology is
    refused (:class:`~topology.quotas.LimitReached`) past the owner's ``max_topologies``; ``assignment``
    makes a new one that assignment's copy (``Topology.assignment``), in the same transaction.
    """
    result = data if isinstance(data, schema.Validation) else validate(data)
    if not result.ok:
        raise InvalidDocument("the document has errors", result.errors)
    document = result.document
    warnings = [p.as_dict() for p in result.warnings]
    # The owner's topology lock from before they are counted until the new one is committed.
    with quotas.topology_guard(owner) as guard, transaction.atomic():
        existing = Topology.objects.select_for_update().filter(owner=owner, name=document.name).first()
        if existing is not None and not replace:
            raise InvalidDocument(
                "name taken",
                [schema.Problem("name", f"you already have a topology named '{document.name}' (replace it to overwrite)")],
            )
        if existing is not None:
            existing.document = schema.dump(document)
            existing.warnings = warnings
            existing.save()
            _announce_saved(existing)
            return existing
        guard.check()
        topology = Topology.objects.create(owner=owner, name=document.name, document=schema.dump(document),
                                           warnings=warnings, assignment=assignment)
        labstate.create_lab(topology)
        return topology


def _begin(task, lab: Lab, state: LabState, step: str, nodes=None, placed: str | None = None) -> str:
    """Take the lab's lease, move it to ``state`` (on the host ``placed`` chose, if given) and, once that is
    committed and published, queue ``task`` on the lab's host; returns the new operation's ID (see
    :func:`begin_operation`)."""
    return begin_operation(task, lab, lambda operation, queue: labstate.do_begin(lab, state, step, operation, nodes,
                                                                                  then=queue, queue=placed))


def begin_operation(task, lab: Lab, begin) -> str:
    """Take the lab's lease for a new operation, record its beginning with ``begin(operation, queue)`` (a
    :mod:`labstate` function that calls ``queue`` once committed) and so queue ``task`` on the lab's host;
    returns the operation's ID.

    If the broker cannot be reached, the lab is given back, failed with the reason. If no worker consumes
    the lab's queue, :class:`NoWorker`, and the lab is left as it was. The lease names the worker that was
    alive, so that if it dies before starting the operation, the lab is not held for it (see
    :func:`topology.leases.abandoned`).
    """
    worker = _live_worker(lab)
    operation = uuid.uuid4().hex
    if not leases.acquire(lab.pk, operation, worker=worker):
        raise Conflict(f"the lab is busy ({lab.state}); wait until its current operation ends")

    def queue() -> None:
        try:
            task.apply_async(args=[lab.pk, operation], queue=lab.queue)
        except Exception as exc:  # the broker is down: say so instead of leaving the lab busy
            labstate.do_not_queued(lab, operation, f"could not reach the lab worker's queue: {exc}")
            leases.release(lab.pk, operation)
            raise Conflict("the lab worker cannot be reached right now; try again") from exc

    try:
        begin(operation, queue)
    except Conflict:
        raise
    except Exception:
        leases.release(lab.pk, operation)
        raise
    return operation


def _live_worker(lab: Lab) -> str:
    """The instance ID of the worker alive on the lab's queue, or :class:`NoWorker`."""
    worker = leases.worker_alive(lab.queue)
    if worker is None:
        raise NoWorker(f"no lab worker is running for this host (queue {lab.queue}){hosts.unreachable_note(lab.queue)}; "
                       "nothing was queued: start the worker, then try again")
    return worker


def request_deploy(lab: Lab) -> str:
    """Queue a build of the lab's current document on its host's worker.

    Refused (:class:`~topology.quotas.LimitReached`) before anything is written or queued if it would pass
    a limit of the owner's or of the course the topology belongs to. Call it outside any transaction: the
    deploy's reservation of room in the limits (:func:`topology.quotas.deploy_guard`) lapses
    :data:`~topology.quotas.KEEP` seconds after this returns, and from then on only the lab's new state, once
    committed, counts it: an enclosing transaction that delays that commit lets other deploys miss this one.
    """
    document = parse(lab.topology.document)
    try:
        check_deployable(document)
    except PlanError as exc:
        raise InvalidDocument("the document cannot be deployed", exc.problems) from None
    lab.refresh_from_db()
    if hosts.unreachable(lab, fresh=True):  # it holds something on a host that does not answer: 503, naming it
        raise NoWorker(hosts.unreachable_message(lab.queue, "deployed"))
    if lab.state == LabState.RUNNING:
        raise Conflict("the lab is already running; destroy it first")
    if lab.state == LabState.DEGRADED:
        raise Conflict("the lab is degraded (a node exited or vanished); destroy it first")
    with quotas.deploy_guard(lab, len(document.nodes)), placement.placed(lab, lab.topology.document) as queue:
        return _begin(tasks.deploy_lab, lab, LabState.DEPLOYING, "deploy requested",
                      nodes=[node.name for node in document.nodes], placed=queue)


def request_destroy(lab: Lab) -> str:
    """Queue the teardown of a lab, from whatever state it is in."""
    return _begin(tasks.destroy_lab, lab, LabState.DESTROYING, "destroy requested")


def update_topology(topology: Topology, data, *, expected: str | datetime | None = None) -> Topology:
    """Replace a topology's document (renaming it if the name changed), and its warnings; all or nothing.

    ``data`` as for :func:`import_topology`. ``expected``, when given, is the ``updated`` time of the copy
    the caller changed (the API's ``?expected=``, as a GET or PUT answered it): if the topology was saved
    since (another tab, the API, the command line, an apply), :class:`Conflict` (409) and nothing is saved,
    so that a save never silently overwrites a newer one. Once committed, the lab's watchers are told
    (:func:`topology.broadcast.topology_message`): an editor open elsewhere says it is out of date.
    """
    result = data if isinstance(data, schema.Validation) else validate(data)
    if not result.ok:
        raise InvalidDocument("the document has errors", result.errors)
    document = result.document
    wanted = _instant(expected) if expected is not None else None
    with transaction.atomic():
        if wanted is not None:
            current = Topology.objects.select_for_update().filter(pk=topology.pk).values_list("updated", flat=True).first()
            # To the millisecond: the API's answers carry ``updated`` no finer (a later save is always later by more).
            if current is not None and _millisecond(current) != _millisecond(wanted):
                when = timezone.localtime(current).strftime("%H:%M:%S")
                raise Conflict(f"'{topology.name}' was changed elsewhere at {when} (another tab, the API or the command line) "
                               "since this copy was opened: reload it, or send it again with the new 'updated' (or without "
                               "'expected') to overwrite that change")
        clash = Topology.objects.filter(owner_id=topology.owner_id, name=document.name).exclude(pk=topology.pk)
        if clash.exists():
            raise InvalidDocument(
                "name taken", [schema.Problem("name", f"you already have a topology named '{document.name}'")])
        topology.name = document.name
        topology.document = schema.dump(document)
        topology.warnings = [p.as_dict() for p in result.warnings]
        topology.save()
        _announce_saved(topology)
    return topology


def _instant(value: str | datetime) -> datetime:
    """``expected`` as an aware datetime, or :class:`InvalidDocument` (400) naming it."""
    try:
        moment = value if isinstance(value, datetime) else dateparse.parse_datetime(str(value).strip().replace(" ", "+"))
    except ValueError:  # well formed, but no such day or hour (2026-13-40)
        moment = None
    if moment is None:
        raise InvalidDocument("bad precondition", [schema.Problem(
            "expected", f"'{value}' is not a date and time: send the topology's 'updated' as the API gave it")])
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, tz.utc)


def _millisecond(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _announce_saved(topology: Topology) -> None:
    """Once the save is committed, tell whoever follows the topology's lab its new name and ``updated`` time."""
    message = broadcast.topology_message(topology.name, topology.updated)
    lab_id = Lab.objects.filter(topology_id=topology.pk).values_list("pk", flat=True).first()
    if lab_id is not None:
        transaction.on_commit(lambda: broadcast.publish(lab_id, message))


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
    # Its editors hear it at once: their sockets check and say "gone" (topology.websockets.lab).
    lab_id, message = lab.pk, broadcast.topology_message(topology.name, None, deleted=True)
    transaction.on_commit(lambda: broadcast.publish(lab_id, message))
