"""Commands run in a probe: Topolab's own image inside a node's network namespace (root side, exec worker).

A check run through ``docker exec`` in a student's node runs the student's binaries, and the student is root
there: a script in place of ``/usr/sbin/ip`` or ``/bin/ping`` fakes a pass. A probe is a fresh, short-lived
container of the node image of the node's kind (:mod:`topology.kinds`; the host kind's for an unknown one,
never the image a document names) that joins the node's network namespace (``network_mode=container:<id>``):
the kernel state it reads (addresses, routes, neighbours, sockets, reachability) is the node's, the binaries
that read it are Topolab's.

:func:`run_in_probe` answers exactly as :func:`topology.node_exec.run_in_node` does (IDs in, the container
found from the lab's own rows, only while the lab and the node run, output capped, the wait bounded, a
command still running at its timeout ended) and makes one probe per call; a :class:`Session` keeps one probe
per node for a whole run of checks and removes them all when it closes.

A probe has no network of its own (only the node's namespace: never a route out of the host), every
capability dropped but ``NET_RAW`` (ping, traceroute, tcpdump without promiscuous mode), no new privileges,
a read-only root with a 1 MB ``/tmp``, no init, 32 MB of memory, 64 processes and half a CPU. Its main
process is ``sleep`` for :data:`LIFETIME` seconds and the engine removes it once that ends, so a probe that a
crash leaves behind goes by itself; it also carries the lab's site and lab labels (and ``topolab.probe=1``),
so the lab's teardown (destroy, redeploy), ``lab gc`` and the tests' leftover check find and remove it like
any of the lab's containers. It has no ``topolab.node`` label: the watcher never takes a probe's end for
its node's.

What needs ``"in": "node"`` (a plain ``docker exec`` in the node): reading nftables or iptables rules
(``nft list ruleset``, ``iptables -S`` need CAP_NET_ADMIN, which a probe is not given so that a check can
never change the student's network), anything about the node's processes or files (``ps``, ``pgrep``,
``cat /etc/...``, ``ss -p``: a probe has its own PID and mount namespaces) and ``vtysh`` (it talks to the
node's daemons through their sockets in the node's filesystem). Sysctls under ``net.`` are the node's.

Cost, measured on the 2-core development host (Docker 20.10, overlay2, ``topolab/base``; ten runs of
``ip -4 route``, medians): a probe per call (create + start + exec + remove) takes 0.28 s (0.24 to 0.32 s)
where a plain ``docker exec`` in the node takes 0.07 s; a further command in a :class:`Session`'s open probe
costs what a plain exec does (0.07 s). A run of checks should use one :class:`Session`.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time

from django.conf import settings

from .engine import docker_runtime, names
from .kinds import DEFAULT, KINDS
from .limits import EXEC_MAX_TIMEOUT
from .models import LIVE_STATES, Lab, LabNode, NodeStatus
from .node_exec import run_bounded

log = logging.getLogger(__name__)

LABEL_PROBE = "topolab.probe"            # "1" on every probe: what tells it from a node's container
LABEL_PROBE_NODE = "topolab.probe.node"  # the node whose namespace it joined (not topolab.node: see above)
CAPABILITIES = ("NET_RAW",)
MEMORY_MB, PIDS, CPUS = 32, 64, 0.5
LIFETIME = EXEC_MAX_TIMEOUT + 300        # seconds a probe lives at most, then the engine removes it
CONTROL_TIMEOUT = 30                     # seconds: the socket timeout of creating, starting and removing one


def image_of(document, node_name: str) -> str:
    """The Topolab image for a node: its kind's (from the lab's document), else the host kind's."""
    kind = DEFAULT
    nodes = document.get("nodes") if isinstance(document, dict) else None
    for node in nodes if isinstance(nodes, list) else ():
        if isinstance(node, dict) and node.get("name") == node_name:
            kind = node.get("kind", DEFAULT)
            break
    chosen = KINDS.get(kind) if isinstance(kind, str) else None
    return (chosen or KINDS[DEFAULT]).image


def probe_labels(site: str, lab_id: int, node: str, owner: str) -> dict[str, str]:
    """A probe's labels: the lab's site, lab and owner ones (so teardown and gc find it), and its own."""
    found = names.labels(site, lab_id, node, owner)
    del found[names.LABEL_NODE]
    return {**found, LABEL_PROBE: "1", LABEL_PROBE_NODE: node}


def probe_spec(site: str, lab_id: int, node: str, owner: str, target: str, image: str) -> dict:
    """The keyword arguments of :meth:`DockerRuntime.create_probe` for a probe of ``node`` (container ``target``)."""
    return {
        "name": f"{names.container_name(site, lab_id, node)}-probe-{secrets.token_hex(4)}",
        "image": image,
        "labels": probe_labels(site, lab_id, node, owner),
        "target": target,
        "command": ["sleep", str(LIFETIME)],
        "cpus": CPUS,
        "memory_mb": MEMORY_MB,
        "pids": PIDS,
        "capabilities": CAPABILITIES,
    }


def _refused(error: str, detail: str) -> dict:
    return {"error": error, "detail": detail}


def _target(lab_id: int, node_name: str, argv) -> tuple[Lab, LabNode] | dict:
    """The lab and node rows a command may run against, or the refusal (as run_in_node's)."""
    if (not isinstance(argv, list) or not argv or not all(isinstance(a, str) and "\x00" not in a for a in argv)):
        return _refused("bad_argv", "argv must be a non-empty list of strings without NUL")
    lab = Lab.objects.select_related("topology__owner").filter(pk=int(lab_id)).first()
    node = LabNode.objects.filter(lab_id=int(lab_id), name=str(node_name)).first() if lab else None
    if lab is None or node is None:
        return _refused("no_node", f"no node named '{node_name}' in this lab")
    if lab.state not in LIVE_STATES or node.state != NodeStatus.RUNNING or not node.container_id:
        return _refused("not_running", f"'{node_name}' is not running (the lab is {lab.state})")
    return lab, node


class Probe:
    """One probe container in one node's network namespace: :meth:`open`, :meth:`run` any number of times,
    :meth:`close`."""

    def __init__(self, runtime, spec: dict):
        self.runtime = runtime
        self.spec = spec
        self.target = spec["target"]
        self.container_id = ""
        self.opened = 0.0

    def open(self) -> None:
        """Create and start it; removes what it made when that fails (ContainerGone: the node is not running)."""
        self.container_id = self.runtime.create_probe(**self.spec)
        try:
            self.runtime.start_probe(self.container_id)
        except BaseException:
            self.close()
            raise
        self.opened = time.monotonic()

    def fresh_for(self, timeout: float) -> bool:
        """True while a command of ``timeout`` seconds ends well before the probe's own end."""
        return bool(self.container_id) and time.monotonic() - self.opened + timeout + CONTROL_TIMEOUT < LIFETIME

    def run(self, argv: list, timeout: float) -> dict:
        """Run argv (no shell) in the probe, as run_in_node does in a node; the same answer and refusals."""
        return run_bounded(self.container_id, argv, timeout, name=f"probe-{self.spec['name']}")

    def close(self) -> None:
        """Remove it (whatever it runs); never raises: a probe that cannot be removed now ends by itself."""
        if not self.container_id:
            return
        try:
            self.runtime.remove(self.container_id)
        except Exception:  # logged; its lifetime, teardown and gc still remove it
            log.warning("cannot remove probe %s", self.spec["name"], exc_info=True)
        self.container_id = ""


class Session:
    """One probe per node of a lab, made on a node's first command and reused, all removed on :meth:`close`.

    Safe to share between the threads of a check run: each call re-reads the lab's rows (so a lab or node
    that stopped meanwhile is refused as run_in_node would), a node's probe is made once, and a probe near
    the end of its :data:`LIFETIME`, or gone, is replaced.
    """

    def __init__(self, lab_id: int):
        self.lab_id = int(lab_id)
        self._lock = threading.Lock()
        self._node_locks: dict[str, threading.Lock] = {}
        self._probes: dict[str, Probe] = {}
        self._runtime = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _probe_for(self, lab: Lab, node: LabNode, timeout: float, stale: Probe | None = None) -> Probe | dict:
        with self._lock:
            node_lock = self._node_locks.setdefault(node.name, threading.Lock())
        with node_lock:
            probe = self._probes.get(node.name)
            if probe is not None and probe is not stale and probe.target == node.container_id \
                    and probe.fresh_for(timeout):
                return probe
            if probe is not None:
                self._probes.pop(node.name).close()
            try:
                if self._runtime is None:
                    self._runtime = docker_runtime.DockerRuntime(timeout=CONTROL_TIMEOUT)
                spec = probe_spec(settings.TOPOLAB_SITE, lab.pk, node.name, lab.topology.owner.get_username(),
                                  node.container_id, image_of(lab.topology.document, node.name))
                probe = Probe(self._runtime, spec)
                probe.open()
            except docker_runtime.ContainerGone as exc:
                return _refused("not_running", f"'{node.name}' is not running: {exc}")
            except docker_runtime.RuntimeStepError as exc:
                return _refused("exec_failed", str(exc))
            except Exception as exc:  # noqa: BLE001 - e.g. the socket timed out
                return _refused("exec_failed", f"the probe failed: {exc}")
            self._probes[node.name] = probe
            return probe

    def run(self, node_name: str, argv: list, timeout: float = 30) -> dict:
        """Run argv in a probe of ``node_name``: run_in_node's answer and refusals."""
        target = _target(self.lab_id, node_name, argv)
        if isinstance(target, dict):
            return target
        lab, node = target
        timeout = min(max(float(timeout), 1.0), EXEC_MAX_TIMEOUT)
        probe = self._probe_for(lab, node, timeout)
        if isinstance(probe, dict):
            return probe
        answer = probe.run(argv, timeout)
        if answer.get("error") == "not_running":
            # The probe itself went (a teardown's sweep, its lifetime): one new one says whether the node did.
            probe = self._probe_for(lab, node, timeout, stale=probe)
            if isinstance(probe, dict):
                return probe
            answer = probe.run(argv, timeout)
        return answer

    def close(self) -> None:
        """Remove every probe made; the session may be used again (it makes new ones)."""
        with self._lock:
            probes, self._probes = list(self._probes.values()), {}
        for probe in probes:
            probe.close()


def run_in_probe(lab_id: int, node_name: str, argv: list, timeout: float = 30) -> dict:
    """Run ``argv`` (no shell) in a fresh probe of one running node: ``{exit_code, output, timed_out,
    truncated}``, or run_in_node's refusal ``{"error", "detail"}`` (``bad_argv``, ``no_node``,
    ``not_running``, ``exec_failed``). The probe is removed before this returns."""
    with Session(lab_id) as session:
        return session.run(node_name, argv, timeout)
