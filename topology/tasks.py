"""Celery tasks of the root lab worker: thin wrappers that take IDs and call :mod:`operations`.

The worker re-reads everything from the database; a task's arguments are a lab
ID and an operation ID, never a document or a command.
"""
from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready
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


@worker_ready.connect
def reconcile_on_start(sender=None, **kwargs) -> None:
    """A worker that starts ends what a dead predecessor left half-done on its queue."""
    from .operations import collect_garbage

    try:
        result = collect_garbage(queue=settings.TOPOLAB_QUEUE)
    except Exception:  # noqa: BLE001 - a failed reconcile must not stop the worker
        log.exception("reconcile at worker start failed")
        return
    if result.removed or result.interrupted:
        log.warning("reconcile: removed %s; interrupted labs %s", result.removed, result.interrupted)


EXEC_OUTPUT_CAP = 1024 * 1024  # bytes of a command's output sent back to the web tier
EXEC_MAX_TIMEOUT = 300


@shared_task(name="topology.exec_in_node")
def exec_in_node(lab_id: int, node_name: str, argv: list, timeout: float = 30) -> dict:
    """Run ``argv`` (no shell) in one running node of a lab; ``{exit_code, output, timed_out, truncated}``.

    Takes IDs and an argv list only: the container is found from the lab's own
    records, and only while the lab and the node are running. A refusal is
    ``{"error": "not_running" | "no_node", "detail": ...}``.
    """
    import threading

    from .engine.docker_runtime import DockerRuntime, RuntimeStepError
    from .models import Lab, LabNode, LabState, NodeStatus

    if (not isinstance(argv, list) or not argv or not all(isinstance(a, str) and "\x00" not in a for a in argv)):
        return {"error": "bad_argv", "detail": "argv must be a non-empty list of strings without NUL"}
    timeout = min(max(float(timeout), 1.0), EXEC_MAX_TIMEOUT)
    lab = Lab.objects.filter(pk=int(lab_id)).first()
    node = LabNode.objects.filter(lab_id=int(lab_id), name=str(node_name)).first() if lab else None
    if lab is None or node is None:
        return {"error": "no_node", "detail": f"no node named '{node_name}' in this lab"}
    if lab.state != LabState.RUNNING or node.state != NodeStatus.RUNNING or not node.container_id:
        return {"error": "not_running", "detail": f"'{node_name}' is not running (the lab is {lab.state})"}

    chunks: list[bytes] = []
    size = 0
    truncated = False
    outcome: dict = {}

    def keep(chunk: bytes) -> None:
        nonlocal size, truncated
        room = EXEC_OUTPUT_CAP - size
        if room <= 0:
            truncated = True
            return  # keep draining: the command must not block on a full pipe
        if len(chunk) > room:
            chunk, truncated = chunk[:room], True
        chunks.append(chunk)
        size += len(chunk)

    def run() -> None:
        try:
            # The socket gives up a little after the deadline, so this thread ends too.
            outcome["code"] = DockerRuntime(timeout=int(timeout) + 5).exec(node.container_id, list(argv), stream=keep)
        except RuntimeStepError as exc:
            outcome["error"] = str(exc)
        except Exception as exc:  # noqa: BLE001 - e.g. the socket timed out
            outcome["error"] = f"the command failed: {exc}"

    thread = threading.Thread(target=run, name=f"exec-{lab_id}-{node_name}", daemon=True)
    thread.start()
    thread.join(timeout)
    timed_out = thread.is_alive()
    output = b"".join(chunks).decode("utf-8", "replace")
    if timed_out:
        return {"exit_code": 124, "output": output, "timed_out": True, "truncated": truncated}
    if "error" in outcome:
        return {"error": "not_running", "detail": outcome["error"]}
    return {"exit_code": outcome["code"], "output": output, "timed_out": False, "truncated": truncated}


@shared_task(name="topology.list_images")
def list_images() -> dict:
    """The node images on this host: ``{"images": [{name, kinds, present, up_to_date, size_bytes}]}``."""
    from .images import ImageBuildError, list_images as statuses

    try:
        found = statuses()
    except ImageBuildError as exc:
        return {"error": str(exc)}
    return {"images": [{"name": s.name, "kinds": list(s.kinds), "present": s.present, "up_to_date": s.up_to_date,
                        "size_bytes": s.size_bytes} for s in found]}
