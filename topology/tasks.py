"""Celery tasks of the root lab worker: the one crossing point between the web tier and the root side.

The web tier imports this module to send tasks; the worker runs them. So its
top level imports nothing but Celery and settings, and each task imports the
root-side module it calls (:mod:`operations`, :mod:`node_exec`,
:mod:`images`) in its body: the web process never loads docker or pyroute2.
Nothing here imports the web tier's rules.

The worker re-reads everything from the database; a task's arguments are IDs
(and, for a command in a node, its argv list), never a document or a shell string.
"""
from __future__ import annotations

import logging
import threading
import time

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown
from django.conf import settings

log = logging.getLogger(__name__)


@shared_task(name="topology.deploy_lab", ignore_result=True)
def deploy_lab(lab_id: int, operation: str) -> str:
    """Build a lab."""
    from .operations import deploy

    return _guarded(deploy, lab_id, operation)


@shared_task(name="topology.destroy_lab", ignore_result=True)
def destroy_lab(lab_id: int, operation: str) -> str:
    """Tear a lab down."""
    from .operations import destroy

    return _guarded(destroy, lab_id, operation)


def _guarded(run, lab_id, operation) -> str:
    """Run an operation unless another one owns the lab by now."""
    from .leases import LeaseLost

    try:
        return run(int(lab_id), str(operation))
    except LeaseLost as exc:
        log.warning("skipped: %s", exc)
        return "skipped"


def _queues(consumer) -> set[str]:
    """The queues this worker process consumes (its ``-Q``)."""
    try:
        return set(consumer.app.amqp.queues.consume_from)
    except AttributeError:
        return {settings.TOPOLAB_QUEUE}


@worker_ready.connect
def beat_on_start(sender=None, **kwargs) -> None:
    """Every worker process says it runs, for each queue it consumes, until it stops (see :mod:`workers`)."""
    from .workers import start_heartbeat

    start_heartbeat(_queues(sender))


@worker_shutdown.connect
def beat_no_more(sender=None, **kwargs) -> None:
    from .workers import stop_heartbeats

    stop_heartbeats()


@worker_ready.connect
def reconcile_on_start(sender=None, **kwargs) -> None:
    """A worker that starts ends what a dead predecessor left half-done on its queue."""
    if settings.TOPOLAB_QUEUE not in _queues(sender):
        return  # the exec worker (workers.exec_queue): the lab worker reconciles and watches
    from .watcher import start_watching
    start_watching()  # the Docker watcher (topology/watcher.py): node exited or gone, lab degraded
    from .operations import collect_garbage

    try:
        result = collect_garbage(queue=settings.TOPOLAB_QUEUE)
    except Exception:  # a failed reconcile must not stop the worker
        log.exception("reconcile at worker start failed")
        return
    if result.removed or result.interrupted:
        log.warning("reconcile: removed %s; interrupted labs %s", result.removed, result.interrupted)
    threading.Thread(target=_reconcile_when_leases_lapse, args=(settings.TOPOLAB_QUEUE,), daemon=True,
                     name="reconcile-again").start()


def _reconcile_when_leases_lapse(queue: str) -> None:
    """Reconcile again as the leases of a dead predecessor lapse (found by the reconcile at start).

    A worker killed in the middle of an operation leaves the lab's lease renewed for up to
    ``WORKER_TTL_MS`` (an operation queued for it: until its heartbeat lapses), and a worker restarted at
    once (systemd's ``Restart=``) reconciles before that: the lab would stay "deploying", not busy, with
    its containers, until a user destroyed it (found by tests/drills/test_kills.py). So the labs of this
    queue still busy under a held lease are watched until their lease lapses, then reconciled.
    """
    from django.db import connection

    from . import leases
    from .models import BUSY_STATES, Lab
    from .operations import collect_garbage

    deadline = time.monotonic() + max(leases.WORKER_TTL_MS, leases.HEARTBEAT_TTL_MS) / 1000 + 10
    try:
        waiting = {lab_id: operation for lab_id, operation in
                   Lab.objects.filter(queue=queue, state__in=BUSY_STATES).values_list("pk", "operation")}
        while waiting and time.monotonic() < deadline:
            time.sleep(1)
            busy = dict(Lab.objects.filter(pk__in=waiting, state__in=BUSY_STATES).values_list("pk", "operation"))
            # (a lab that ended, or began another operation since, is no longer the dead worker's)
            waiting = {lab_id: op for lab_id, op in waiting.items() if busy.get(lab_id) == op}
            if any(not leases.is_held(lab_id) for lab_id in waiting):
                result = collect_garbage(queue=queue)
                if result.removed or result.interrupted:
                    log.warning("reconcile (a lease lapsed): removed %s; interrupted labs %s", result.removed,
                                result.interrupted)
                waiting = {lab_id: op for lab_id, op in waiting.items() if lab_id not in result.interrupted}
    except Exception:  # Redis or the database blinked: a user's destroy still ends such a lab
        log.exception("reconcile after the leases lapsed failed")
    finally:
        connection.close()


@shared_task(name="topology.exec_in_node")
def exec_in_node(lab_id: int, node_name: str, argv: list, timeout: float = 30) -> dict:
    """Run ``argv`` (no shell) in one running node of a lab (see :func:`node_exec.run_in_node`).

    Sent to the exec worker's queue (:func:`workers.exec_queue` of the lab's), never the lab worker's.
    """
    from .node_exec import run_in_node

    return run_in_node(lab_id, node_name, argv, timeout)


@shared_task(name="topology.ping_all")
def ping_all(lab_id: int, deadline: float = 30) -> dict:
    """Ping every address of a running lab from each of its nodes (see :func:`pingall.ping_all`).

    Sent to the exec worker's queue (:func:`workers.exec_queue` of the lab's), like a command in a node.
    """
    from .pingall import ping_all as run

    return run(lab_id, deadline)


@shared_task(name="topology.run_checks")
def run_checks(run_id: int, legacy=None) -> dict:
    """Run an assignment's checks on a copy and record them in its CheckRun (see :func:`check_runner.run`); a
    trial's own checks are in the row. Sent to the exec worker's queue, never the lab worker's.

    ``legacy``: the trial checks that messages queued before they moved to the row still carry; ignored, so
    that such a message is still taken (the row is the one source of what a run runs).
    """
    from .check_runner import run

    return run(run_id)


@shared_task(name="topology.list_images")
def list_images() -> dict:
    """The node images on this host: ``{"images": [{name, kinds, present, up_to_date, size_bytes}]}``."""
    from .images import ImageBuildError
    from .images import list_images as statuses

    try:
        found = statuses()
    except ImageBuildError as exc:
        return {"error": str(exc)}
    return {"images": [{"name": s.name, "kinds": list(s.kinds), "present": s.present, "up_to_date": s.up_to_date,
                        "size_bytes": s.size_bytes} for s in found]}


@shared_task(name="topology.change_link")
def change_link(lab_id: int, operation: str, end: str) -> dict:
    """Apply a link's saved state and impairment to a running lab, both ends (see :func:`live.change_link`);
    the web tier holds the lab's lease as ``operation`` and waits for the answer. On the lab worker's queue."""
    from .live import change_link as apply

    return apply(int(lab_id), str(operation), str(end))


@worker_ready.connect
def fill_pool_on_start(sender=None, **kwargs) -> None:
    """The lab worker keeps its warm pool filled (see :mod:`warm_pool`), removing first what no longer belongs."""
    if settings.TOPOLAB_QUEUE not in _queues(sender):
        return
    from .warm_pool import start_filling, stop_filling

    try:
        start_filling()
    except Exception:  # the worker must run without its pool: deploys start containers cold
        log.exception("could not start the warm pool's filler")
        return
    worker_shutdown.connect(stop_filling, weak=False)


@worker_ready.connect
def register_host_on_start(sender=None, **kwargs) -> None:
    """The lab worker registers its host and says its load with each heartbeat (see :mod:`host_agent`)."""
    if settings.TOPOLAB_QUEUE not in _queues(sender):
        return
    from .host_agent import start, stop

    start()
    worker_shutdown.connect(stop, weak=False)


@worker_ready.connect
def probe_kernel_on_start(sender=None, **kwargs) -> None:
    """The lab worker probes what its kernel can do to a link, once, and keeps the answer in Redis for the web
    tier (``GET /api/v1/capabilities``; see :mod:`topology.kernel`)."""
    if settings.TOPOLAB_QUEUE not in _queues(sender):
        return
    from .kernel import keep_published, probe_and_publish

    try:
        keep_published(probe_and_publish(settings.TOPOLAB_QUEUE), settings.TOPOLAB_QUEUE)
    except Exception:  # a failed probe must not stop the worker; live link changes then answer 503
        log.exception("kernel probe at worker start failed")


@shared_task(name="topology.node_action")
def node_action(lab_id: int, operation: str, node: str, action: str) -> dict:
    """Stop, start or restart one node of a running lab (see :func:`node_ops.act`); the web tier holds the lab's
    lease as ``operation`` and waits for the answer. On the lab worker's queue."""
    from .node_ops import act

    return act(int(lab_id), str(operation), str(node), str(action))


@shared_task(name="topology.apply_changes", ignore_result=True)
def apply_changes(lab_id: int, operation: str) -> str:
    """Apply the saved changes to a running lab (see :func:`applier.apply`). On the lab worker's queue."""
    from .applier import apply

    return _guarded(apply, lab_id, operation)


@shared_task(name="topology.frr_check")
def frr_check(config: str) -> dict:
    """Check a ``frr.conf`` with FRR's own checker in a throwaway container (see :func:`frr_worker.check_config`):
    ``{"ok", "errors"}``. Its argument is the configuration's text, never run by a shell (it is data for
    ``vtysh -C``). Sent to the exec worker's queue, like a command in a node."""
    from .frr_worker import check_config

    return check_config(config)


@shared_task(name="topology.frr_running_configs")
def frr_running_configs(lab_id: int, nodes: list) -> dict:
    """The running FRR configuration of the named nodes of a running lab (see :func:`frr_worker.running_configs`).
    Sent to the exec worker's queue, like a command in a node."""
    from .frr_worker import running_configs

    return running_configs(int(lab_id), list(nodes))
