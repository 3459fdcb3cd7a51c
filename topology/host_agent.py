"""The lab worker's side of its host's registration: the :class:`~topology.models.LabHost` row and the load.

Root side, and the one writer of ``LabHost`` rows besides the admin (who sets a
host's name, drain and caps). When the lab worker is ready (:mod:`topology.tasks`)
:func:`start` registers the host (its queue is its identity; its name is
``TOPOLAB_HOST_NAME``, else the queue without its ``lab.`` prefix; its cores,
memory and the Topolab node images its Docker Engine has) and starts a thread
that, with each heartbeat, says the host's load in Redis
(:func:`topology.hosts.publish_load`) and notes ``last_seen`` in the row; every
minute it reads the capacity and images again (an image built meanwhile counts).
A row that disappeared (a test's flush, an admin's delete) is made again.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from . import hosts
from .models import BUSY_STATES, LIVE_STATES, Lab, LabHost, LabNode
from .workers import HEARTBEAT_EVERY

log = logging.getLogger(__name__)
CAPACITY_EVERY = 60.0  # seconds between two reads of the host's cores, memory and images


def host_name(queue: str) -> str:
    """The host's readable name: ``TOPOLAB_HOST_NAME``, else its queue without the ``lab.`` prefix compose gives it."""
    given = os.environ.get("TOPOLAB_HOST_NAME", "").strip()
    if given:
        return given[:100]
    return (queue[4:] if queue.startswith("lab.") and len(queue) > 4 else queue)[:100] or socket.gethostname()


def meminfo() -> dict[str, int]:
    """``/proc/meminfo``'s values in kB."""
    found = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                key, _, rest = line.partition(":")
                parts = rest.split()
                if parts and parts[0].isdigit():
                    found[key] = int(parts[0])
    except OSError:
        pass
    return found


def node_images(runtime=None) -> list[str]:
    """The references of the images the Docker Engine has with Topolab's recipe label (those it built)."""
    from .engine.docker_runtime import DockerRuntime
    from .images import LABEL_RECIPE

    runtime = runtime or DockerRuntime()
    found = set()
    for image in runtime.api.images(filters={"label": LABEL_RECIPE}):
        found.update(tag for tag in image.get("RepoTags") or () if tag and not tag.endswith("<none>"))
    return sorted(found)


def capacity(runtime=None) -> dict:
    """``{cores, memory_mb, images}`` of this host now (images: [] when the engine cannot be asked)."""
    try:
        images = node_images(runtime)
    except Exception as exc:  # noqa: BLE001 - the engine is down: no image counts, said in the log
        log.warning("host: cannot list the node images: %s", exc)
        images = []
    return {"cores": os.cpu_count() or 1, "memory_mb": meminfo().get("MemTotal", 0) // 1024, "images": images}


def register(queue: str, runtime=None) -> LabHost:
    """Make or refresh ``queue``'s row with this host's capacity; its name only when it is new (the admin's stays)."""
    found = capacity(runtime)
    host, created = LabHost.objects.update_or_create(
        queue=queue, defaults={**found, "last_seen": timezone.now()},
        create_defaults={**found, "last_seen": timezone.now(), "name": host_name(queue)})
    if created:
        log.info("host %s registered: %s cores, %s MB, images %s", host, found["cores"], found["memory_mb"],
                 ", ".join(found["images"]) or "none")
    return host


def current_load(queue: str, cores: int | None = None) -> dict:
    """What the host holds and uses now: load average, labs and nodes of its queue, memory in use."""
    info = meminfo()
    total = info.get("MemTotal", 0) // 1024
    used = total - info.get("MemAvailable", info.get("MemFree", 0)) // 1024
    labs = Lab.objects.filter(queue=queue, state__in=(*LIVE_STATES, *BUSY_STATES))
    try:
        load1, load5, load15 = os.getloadavg()
    except OSError:
        load1 = load5 = load15 = 0.0
    return {"load": [round(load1, 2), round(load5, 2), round(load15, 2)], "labs": labs.count(),
            "nodes": LabNode.objects.filter(lab__queue=queue).exclude(container_id="").count(),
            "memory_used_mb": used, "memory_mb": total, "cores": cores or os.cpu_count() or 1, "at": time.time()}


def sweep_forgotten(queue: str, runtime=None) -> list[str]:
    """Remove what the labs an admin forgot while this host was unreachable left here; returns what went.

    A forgotten lab is stopped (then the lab worker's gc removes its containers, as any stopped lab's) or was
    deployed again, maybe on another host: then its containers here are those that are not its nodes' now (on
    an engine two hosts share, the others are its new ones). A lab being deployed or destroyed is left for
    the next start. The host's list keeps only what could not be seen to yet.
    """
    from . import leases
    from .engine import names
    from .engine.docker_runtime import DockerRuntime

    row = LabHost.objects.filter(queue=queue).first()
    if row is None or not row.forgotten:
        return []
    runtime = runtime or DockerRuntime()
    removed, left = [], []
    for lab_id in row.forgotten:
        lab = Lab.objects.filter(pk=lab_id).first()
        if lab is None or (lab.queue == queue and lab.state not in LIVE_STATES):
            continue  # gone, or stopped here: the gc removes what it left (it owns nothing)
        if lab.state in BUSY_STATES or leases.is_held(lab.pk):
            left.append(lab_id)
            continue
        current = set(LabNode.objects.filter(lab=lab).exclude(container_id="").values_list("container_id", flat=True))
        for info in runtime.list(names.lab_filter(settings.TOPOLAB_SITE, lab.pk)):
            if info.id not in current:
                runtime.remove(info.id)
                removed.append(f"container {info.name} of forgotten lab {lab.pk}")
    LabHost.objects.filter(pk=row.pk).update(forgotten=left)
    if removed:
        log.warning("host %s: removed what forgotten labs left: %s", queue, ", ".join(removed))
    return removed


class Agent:
    """The thread that keeps ``queue``'s row and load current, every heartbeat, until :meth:`stop`."""

    def __init__(self, queue: str):
        self.queue = queue
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._capacity_read = 0.0

    def beat(self) -> None:
        """One round: the row (made again if gone; capacity every CAPACITY_EVERY s) and the load."""
        close_old_connections()
        now = time.monotonic()
        if now - self._capacity_read >= CAPACITY_EVERY or \
                not LabHost.objects.filter(queue=self.queue).update(last_seen=timezone.now()):
            register(self.queue)
            self._capacity_read = now
        hosts.publish_load(self.queue, current_load(self.queue))

    def start(self) -> Agent:
        try:
            self.beat()
        except Exception:  # the worker runs without its row; the thread tries again
            log.exception("host: registration of %s failed; retrying", self.queue)
        try:
            sweep_forgotten(self.queue)
        except Exception:  # the next start tries again (the list is kept)
            log.exception("host: could not remove what forgotten labs left on %s", self.queue)
        self._thread = threading.Thread(target=self._run, name="host-agent", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(HEARTBEAT_EVERY):
            try:
                self.beat()
            except Exception as exc:  # noqa: BLE001 - a blip of the database or Redis: the next round
                log.debug("host: beat failed: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        try:
            hosts.leases.client().delete(hosts.load_key(self.queue))
        except Exception:  # noqa: BLE001 - it lapses by itself
            pass


_agent: Agent | None = None


def start() -> Agent:
    """This lab worker's agent, for ``TOPOLAB_QUEUE`` (once per process)."""
    global _agent
    if _agent is None:
        _agent = Agent(settings.TOPOLAB_QUEUE).start()
    return _agent


def stop(sender=None, **kwargs) -> None:
    global _agent
    if _agent is not None:
        _agent.stop()
        _agent = None
