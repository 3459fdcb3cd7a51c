"""The exec worker's FRR work (root side): checking a ``frr.conf`` with FRR's own checker in a throwaway
container, and reading the running configurations of a lab's FRR nodes.

A check runs ``vtysh -C`` (FRR's dry run: every line parsed, nothing applied, no daemon needed) in a sandbox
of the ``topolab/frr`` image (:meth:`DockerRuntime.create_sandbox`): no network at all, every capability
dropped, no new privileges, user ``frr``, a read-only root with a 2 MB ``/tmp``, :data:`MEMORY_MB` of memory,
:data:`PIDS` processes and half a CPU. The configuration goes in as arguments of ``printf`` (no shell string
is made of it; in pieces, as one argument may not exceed 128 KiB), the check is bounded by
:data:`CHECK_TIMEOUT`, and the sandbox is removed before the answer is given (its main process, a ``sleep``
of :data:`LIFETIME` seconds, ends it anyway if a crash leaves it behind).

Running configurations are ``vtysh -c "show running-config"`` in each node, through
:func:`topology.node_exec.run_in_node` (so only while the lab and the node run, output capped, bounded),
cleaned of FRR's header lines (:func:`topology.frr.clean_running_config`).
"""
from __future__ import annotations

import logging
import secrets
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings

from . import frr
from .engine import docker_runtime, names
from .kinds import frr_image
from .node_exec import run_bounded, run_in_node

log = logging.getLogger(__name__)

LABEL_CHECK = "topolab.frr-check"  # "1" on every sandbox of a check
MEMORY_MB, PIDS, CPUS = 64, 16, 0.5
CHECK_TIMEOUT = 15       # seconds vtysh -C may take
LIFETIME = 120           # seconds a sandbox lives at most
CONTROL_TIMEOUT = 30     # seconds: the socket timeout of creating, starting and removing one
PIECE_CHARS = 30000      # characters of the configuration per printf argument (at most 4 bytes each: < 128 KiB)
RUNNING_TIMEOUT = 10     # seconds "show running-config" may take in one node
RUNNING_PARALLEL = 4     # nodes read at once
SCRIPT = 'printf "%s" "$@" > /tmp/frr.conf && exec vtysh -C -f /tmp/frr.conf'


def check_config(config: str) -> dict:
    """FRR's checker's verdict on ``config``: ``{"ok": bool, "errors": [{"line": int|None, "message": str}]}``,
    or ``{"error": "bad_config" | "exec_failed", "detail": str}`` when it could not be checked."""
    if not isinstance(config, str) or "\x00" in config:
        return {"error": "bad_config", "detail": "the configuration must be text without NUL characters"}
    if len(config.encode("utf-8", "surrogatepass")) > frr.MAX_CONFIG_BYTES:
        return {"error": "bad_config", "detail": f"the configuration is larger than {frr.MAX_CONFIG_BYTES} bytes"}
    try:
        runtime = docker_runtime.DockerRuntime(timeout=CONTROL_TIMEOUT)
        container = runtime.create_sandbox(
            name=f"topolab-{names.check_site(settings.TOPOLAB_SITE)}-frr-check-{secrets.token_hex(6)}",
            image=frr_image(),
            labels={names.LABEL_SITE: settings.TOPOLAB_SITE, LABEL_CHECK: "1"},
            command=["sleep", str(LIFETIME)], cpus=CPUS, memory_mb=MEMORY_MB, pids=PIDS,
            user="frr:frr")  # FRR's user and group, who may read /etc/frr/vtysh.conf
    except docker_runtime.RuntimeStepError as exc:
        return {"error": "exec_failed", "detail": str(exc)}
    try:
        runtime.start(container)
        pieces = [config[i:i + PIECE_CHARS] for i in range(0, len(config), PIECE_CHARS)] or [""]
        answer = run_bounded(container, ["sh", "-c", SCRIPT, "sh", *pieces], CHECK_TIMEOUT, name="frr-check")
    except docker_runtime.RuntimeStepError as exc:
        return {"error": "exec_failed", "detail": str(exc)}
    finally:
        try:
            runtime.remove(container)
        except Exception:  # logged; its lifetime ends it anyway
            log.warning("cannot remove FRR check sandbox %s", container[:12], exc_info=True)
    if answer.get("error"):
        return {"error": "exec_failed", "detail": answer.get("detail", "the check could not run")}
    if answer["timed_out"]:
        return {"ok": False, "errors": [{"line": None, "message": f"FRR's checker took longer than {CHECK_TIMEOUT} s"}]}
    errors = frr.parse_check(answer["output"])
    if answer["exit_code"] == 0:
        return {"ok": True, "errors": []}
    return {"ok": False, "errors": errors or [{"line": None,
                                               "message": f"FRR's checker refused it (exit {answer['exit_code']})"}]}


def running_configs(lab_id: int, nodes: list) -> dict:
    """The running configuration of each of ``nodes`` (names) of a running lab: ``{"configs": {name:
    {"config": str} | {"error": str, "detail": str}}}`` (errors as :func:`run_in_node` refuses)."""
    chosen = [str(n) for n in nodes if isinstance(n, str)][:1000]

    def read(name: str) -> tuple[str, dict]:
        answer = run_in_node(int(lab_id), name, ["vtysh", "-c", "show running-config"], RUNNING_TIMEOUT)
        if answer.get("error"):
            return name, {"error": answer["error"], "detail": answer.get("detail", "")}
        if answer["timed_out"] or answer["exit_code"] != 0:
            why = "timed out" if answer["timed_out"] else f"exited with code {answer['exit_code']}"
            return name, {"error": "vtysh_failed",
                          "detail": f"'show running-config' {why}: {answer['output'].strip()[-500:]}"}
        if answer["truncated"]:
            return name, {"error": "vtysh_failed", "detail": "the running configuration is too large to save"}
        return name, {"config": frr.clean_running_config(answer["output"])}

    if not chosen:
        return {"configs": {}}
    with ThreadPoolExecutor(max_workers=min(RUNNING_PARALLEL, len(chosen)), thread_name_prefix="frr-running") as pool:
        return {"configs": dict(pool.map(read, chosen))}
