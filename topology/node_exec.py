"""Running a user's command in a node of a lab, for the REST API (root side, in the exec worker: a process of
its own beside the lab worker, on :func:`topology.workers.exec_queue`, so commands never take a deploy's threads).

The web tier sends the lab's ID, the node's name and an argv list; the
container is found here from the lab's own records, and only while the lab
and the node run. Output is capped and the wait is bounded: a command still running at its
timeout is ended (SIGHUP, then SIGKILL), as timeout(1) would.
"""
from __future__ import annotations

import threading

from .engine import docker_runtime
from .limits import EXEC_MAX_TIMEOUT, EXEC_OUTPUT_CAP
from .models import LIVE_STATES, Lab, LabNode, NodeStatus


def run_in_node(lab_id: int, node_name: str, argv: list, timeout: float = 30) -> dict:
    """Run ``argv`` (no shell) in one running node of a lab; ``{exit_code, output, timed_out, truncated}``.

    Takes IDs and an argv list only: the container is found from the lab's own
    records, and only while the lab and the node are running. A refusal is
    ``{"error": ..., "detail": ...}``, the error one of ``"bad_argv"``,
    ``"no_node"``, ``"not_running"`` (the lab or node is not running, or its
    container is gone or stopped) and ``"exec_failed"`` (the Docker Engine
    refused or failed otherwise, or its socket timed out: the detail says why).
    """
    if (not isinstance(argv, list) or not argv or not all(isinstance(a, str) and "\x00" not in a for a in argv)):
        return {"error": "bad_argv", "detail": "argv must be a non-empty list of strings without NUL"}
    timeout = min(max(float(timeout), 1.0), EXEC_MAX_TIMEOUT)
    lab = Lab.objects.filter(pk=int(lab_id)).first()
    node = LabNode.objects.filter(lab_id=int(lab_id), name=str(node_name)).first() if lab else None
    if lab is None or node is None:
        return {"error": "no_node", "detail": f"no node named '{node_name}' in this lab"}
    if lab.state not in LIVE_STATES or node.state != NodeStatus.RUNNING or not node.container_id:
        return {"error": "not_running", "detail": f"'{node_name}' is not running (the lab is {lab.state})"}
    return run_bounded(node.container_id, argv, timeout, name=f"exec-{lab_id}-{node_name}")


def run_bounded(container_id: str, argv: list, timeout: float, *, name: str = "exec") -> dict:
    """Run ``argv`` in the container ``container_id`` with its output capped and its wait bounded by ``timeout``:
    ``{exit_code, output, timed_out, truncated}`` or a refusal ``{error, detail}`` (as :func:`run_in_node`
    answers). A command still running at its timeout is ended, as timeout(1) would (exit code 124).
    Shared by commands in nodes and by checks' probes (:mod:`topology.probes`)."""
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

    try:
        runtime = docker_runtime.DockerRuntime(timeout=int(timeout) + 5)
    except docker_runtime.RuntimeStepError as exc:  # the engine cannot be reached at all
        return {"error": "exec_failed", "detail": str(exc)}
    started: list[str] = []

    def run() -> None:
        try:
            # The socket gives up a little after the deadline, so this thread ends too.
            outcome["code"] = runtime.exec(container_id, list(argv), stream=keep, started=started.append)
        except docker_runtime.ContainerGone as exc:
            outcome["error"], outcome["detail"] = "not_running", str(exc)
        except docker_runtime.RuntimeStepError as exc:
            outcome["error"], outcome["detail"] = "exec_failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - e.g. the socket timed out
            outcome["error"], outcome["detail"] = "exec_failed", f"the command failed: {exc}"

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    thread.join(timeout)
    timed_out = thread.is_alive()
    output = b"".join(chunks).decode("utf-8", "replace")
    if timed_out:
        # Like timeout(1): the command does not outlive its answer.
        for exec_id in started:
            runtime.end_exec(exec_id)
        return {"exit_code": 124, "output": output, "timed_out": True, "truncated": truncated}
    if "error" in outcome:
        return {"error": outcome["error"], "detail": outcome["detail"]}
    return {"exit_code": outcome["code"], "output": output, "timed_out": False, "truncated": truncated}
