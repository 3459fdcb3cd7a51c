"""The warm pool: containers started ahead of time, unconfigured, that a deploy takes instead of starting its own.

Starting a container is most of a deploy's time. The lab worker keeps, per
pool image (``TOPOLAB_POOL_IMAGES``, with the capabilities of the kinds that
run it), a few started members: ``--net none``, the site's default node limits
(recorded in the label ``topolab.pool.limits``), nothing of any lab, labelled
``topolab.pool`` (:func:`names.pool_labels`) and named
``topolab-<site>-pool-<token>``. A filler thread keeps them at the site's
``pool_size`` per image, within its ``pool_memory_mb`` (what the members
really use, read from their memory cgroups), replaces members that died and
removes those that no longer belong (another image, other default limits, over
the size); it waits while deploys are taking, so that it does not start
containers under a deploy's feet.

A node can be taken from the pool when its image and capabilities match and
it has no ``env`` (a container's environment is fixed when it is created).
Taking a member is: a claim (so two deploys never take one member), the
rename to the node's container name (from then on the name is its identity:
:func:`names.effective_labels`), its CPU, memory and pids limits set to the
node's (``docker update``, only when they differ from the member's), its host
name set through its UTS namespace, ``/etc/hostname`` written (Docker's own
file, bind-mounted into the container, through ``/proc/<pid>/root``: the
engine's archive call cannot replace a mount point), its files put in (one
archive, when it has any) and its start-up line written to its main process's
output (``/proc/<pid>/fd/1``, what ``docker logs`` and the node's Logs read).
``/etc/hosts`` needs nothing: with no network Docker writes the same one
whatever the host name. No ``docker exec``: a take is a rename, and an archive
for a node with files. Anything failing there removes the member and the node
is cold-started: a member never serves twice, and a lab's containers are
removed when it is destroyed, never given back.

Docker gives a container the host name it was created with again each time it
starts: :func:`own_name` gives a taken member, started again (a node's restart),
its node's name back (the executor calls it after each start).

Engine side: no Django; the claim is a callable the lab worker wires to Redis.
"""
from __future__ import annotations

import errno
import hashlib
import logging
import os
import secrets
import stat
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

from . import names, netlink
from .docker_runtime import ContainerInfo, RuntimeStepError

log = logging.getLogger(__name__)

# A member's main process: sleeps until the container is removed. It says nothing: a lab that takes it writes
# its node's start-up line then (see Pool.take).
POOL_COMMAND = ("/bin/sh", "-c", "exec sleep infinity")
LABEL_LIMITS = "topolab.pool.limits"  # a member's CPU, memory and pids limits, "cpus/memory_mb/pids"
STARTED_LINE = "{node}: started by Topolab (from the warm pool)\n"
FILL_EVERY = 0.5  # seconds between the filler's looks (it is also woken after each take)
QUIET = 0.4  # the filler starts nothing until no take happened for this long (a deploy is taking)...
MOST_DEFERRED = 5.0  # ...but waits no longer than this (a stream of deploys must not empty the pool for good)
LISTED_FOR = 2.0  # seconds a listing of the members serves takes before the engine is asked again
MEMORY_FILES = ("/sys/fs/cgroup/memory/docker/{id}/memory.usage_in_bytes",   # cgroup v1, cgroupfs driver
                "/sys/fs/cgroup/docker/{id}/memory.current",                 # v2, cgroupfs driver
                "/sys/fs/cgroup/system.slice/docker-{id}.scope/memory.current")  # v2, systemd driver


def reference(image: str) -> str:
    """An image's full reference (``topolab/base`` is ``topolab/base:latest``): one pool per image, however named."""
    return image if ":" in image.rsplit("/", 1)[-1] or "@" in image else f"{image}:latest"


def limits_value(cpus: float, memory_mb: int, pids: int) -> str:
    """The value of :data:`LABEL_LIMITS` for these limits."""
    return f"{float(cpus):g}/{int(memory_mb)}/{int(pids)}"


@dataclass(frozen=True)
class Spec:
    """One pool: members of ``image`` with ``capabilities``; ``key`` is its label value."""

    image: str
    capabilities: tuple[str, ...]

    @property
    def key(self) -> str:
        text = f"{reference(self.image)}|{','.join(sorted(self.capabilities))}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Budget:
    """How many members each spec keeps, and the memory all of them may use (MB)."""

    size: int
    memory_mb: int


def member_memory(container_id: str) -> int | None:
    """The bytes a container's memory cgroup says it uses, or None where this host keeps them elsewhere."""
    for pattern in MEMORY_FILES:
        try:
            with open(pattern.format(id=container_id)) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            continue
    return None


# -- what a take does from the host, in the member's own files (root, in the host's PID namespace, as netlink) --

def in_container(pid: int, container_id: str) -> bool:
    """True when process ``pid`` runs in the container ``container_id`` (a full ID: its cgroup path names it).
    Checked before anything is written through ``/proc/<pid>``: a process that ended may leave its PID to
    another, and a PID the filler noted may be old."""
    if len(container_id) != 64:
        return False
    try:
        with open(f"/proc/{int(pid)}/cgroup") as f:
            return container_id in f.read()
    except OSError:
        return False


def _open_hostname(pid: int, flags: int) -> int:
    """``/etc/hostname`` of process ``pid``'s root, opened with ``flags``, no link followed on the way.

    A node's user is root in its container and may have made ``/etc`` (or the file) a link by a restart: an
    absolute link met under ``/proc/<pid>/root`` is followed from the *host's* root, so a plain open could
    write a host file. Each part is opened relative to the one before, with ``O_NOFOLLOW``: a link fails
    (ELOOP or ENOTDIR) instead; and what is opened must be a plain file.
    """
    root = os.open(f"/proc/{int(pid)}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        etc = os.open("etc", os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=root)
        fd = os.open("hostname", flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=etc)
        os.close(etc)
    finally:
        os.close(root)
    # Nor a FIFO (an open or a read that never ends) or a device node the user made there (CAP_MKNOD):
    # the host's root would read and write the device itself. Docker's own file is a plain one.
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        raise OSError(errno.EPERM, "the node's /etc/hostname is not a plain file of its own")
    return fd


def write_hostname(pid: int, node: str) -> None:
    """Write ``node`` into the container's ``/etc/hostname`` (Docker's file, bind-mounted there), through the
    container's root as process ``pid`` sees it, following no link (:func:`_open_hostname`)."""
    fd = _open_hostname(pid, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, f"{node}\n".encode())
    finally:
        os.close(fd)


def say(pid: int, line: str) -> None:
    """Write ``line`` to the output of process ``pid`` (a container's main process: its stdout is what the
    engine keeps as the container's logs). Never blocks: a full pipe refuses the line (an error)."""
    fd = os.open(f"/proc/{int(pid)}/fd/1", os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def own_name(container_id: str, pid: int, node: str) -> bool:
    """After a start of ``node``'s container ``container_id`` (main process ``pid``): a member a lab took was
    created under its member's name, which Docker gives it again at each start; give it back the node's (host
    name, /etc/hostname) and its start-up line. False, doing nothing, for a container that has the node's name
    already (a cold one: its own main process says its start-up line) or whose process is not that container's."""
    if not in_container(pid, container_id):
        return False
    try:
        with os.fdopen(_open_hostname(pid, os.O_RDONLY)) as f:
            if f.read(256).strip() == node:
                return False
    except OSError:
        return False
    try:
        netlink.set_hostname(pid, node)
        write_hostname(pid, node)
        say(pid, STARTED_LINE.format(node=node))
    except (OSError, netlink.NetlinkStepError) as exc:  # the node runs all the same; it is said, not fatal
        log.warning("could not give %s its name back after a start: %s", node, exc)
        return False
    return True


class Pool:
    """Takes members for a deploy (:meth:`take`) and keeps the pool filled (:meth:`fill`, or its thread).

    ``budget()`` says the current :class:`Budget` (the admin may change it at any time); ``claim(id)`` is True
    for the one caller that may take member ``id``; ``resources`` (a dict, or a callable saying it: read again
    each round) are a new member's limits, the site's default node limits, so that most takes need no update.
    """

    def __init__(self, runtime, site: str, specs: list[Spec], budget: Callable[[], Budget],
                 claim: Callable[[str], bool], resources, on_fill: Callable[[dict], None] | None = None,
                 host: str | None = None):
        self.runtime = runtime
        self.host = host  # the lab host whose members these are (names.LABEL_HOST); None: every member of the site
        self.on_fill = on_fill  # told what the pool holds after each round (see status())
        self.site = names.check_site(site)
        self.specs = list(specs)
        self.budget = budget
        self.claim = claim
        self._resources = resources if callable(resources) else (lambda fixed=dict(resources): fixed)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # Takes share one listing of the members (per spec) rather than each asking the engine: a 20-node
        # deploy would list 20 times. Members it holds may be gone or claimed meanwhile: a take skips those.
        self._lock = threading.Lock()
        self._ready: dict[str, deque] = {}
        self._listed: dict[str, float] = {}
        self._pids: dict[str, int] = {}  # main PIDs of the members this process started (checked before use)
        self._last_take = 0.0

    @property
    def resources(self) -> dict:
        """The limits a member is started with now (the site's default node limits)."""
        found = self._resources()
        return {"cpus": float(found["cpus"]), "memory_mb": int(found["memory_mb"]), "pids": int(found["pids"])}

    # -- taking ----------------------------------------------------------------------------------------

    def spec_of(self, image: str, capabilities) -> Spec | None:
        wanted = Spec(image, tuple(capabilities))
        return next((s for s in self.specs if s.key == wanted.key), None)

    def members(self, spec: Spec | None = None) -> list:
        """The members not taken yet (of ``spec``, or all), running or not, oldest first."""
        found = self.runtime.list([f"{names.LABEL_SITE}={self.site}", names.LABEL_POOL])
        prefix = names.pool_member_name(self.site, "")
        # With a host: its own members, and those of no host (made before hosts were: the filler removes them).
        mine = [m for m in found if m.name.startswith(prefix)
                and (self.host is None or m.labels.get(names.LABEL_HOST, self.host) == self.host)
                and (spec is None or m.labels.get(names.LABEL_POOL) == spec.key)]
        return sorted(mine, key=lambda m: m.name)

    def _next(self, spec: Spec, tried: set[str]):
        """The next member worth trying for ``spec`` (the shared listing, made again when it is old or used up),
        or None when there is none."""
        with self._lock:
            ready = self._ready.setdefault(spec.key, deque())
            fresh = time.monotonic() - self._listed.get(spec.key, 0.0) < LISTED_FOR
            while True:
                while ready:
                    member = ready.popleft()
                    if member.id not in tried:
                        return member
                if fresh:
                    return None
                ready.extend(m for m in self.members(spec) if m.state == "running" and m.id not in tried
                             and m.labels.get(names.LABEL_HOST) == self.host)
                self._listed[spec.key] = time.monotonic()
                fresh = True

    def _pid(self, member_id: str) -> int | None:
        """The member's main PID, checked to be its own (the one the filler noted, else the engine's)."""
        pid = self._pids.pop(member_id, None)
        if pid is None or not in_container(pid, member_id):
            pid = self.runtime.pid(member_id)
        return pid if pid is not None and in_container(pid, member_id) else None

    def take(self, *, node: str, container: str, image: str, capabilities, cpus: float, memory_mb: int, pids: int,
             files=(), env=None) -> tuple[str, int] | None:
        """A started member made ``node``'s container (named ``container``), with its limits, host name and
        files: ``(container id, main PID)``; None when the pool has none for it (the caller starts one)."""
        spec = self.spec_of(image, capabilities)
        if spec is None or env:
            return None
        self._last_take = time.monotonic()
        tried: set[str] = set()
        while True:
            try:
                member = self._next(spec, tried)
            except Exception as exc:  # noqa: BLE001 - the engine blinked: a cold start will say why, if it fails
                log.warning("pool: cannot list members: %s", exc)
                return None
            if member is None:
                return None
            tried.add(member.id)
            if not self.claim(member.id):
                continue
            if not self.runtime.rename(member.id, container):
                # Gone meanwhile, or the node's name is taken: the cold start says which. Not the next member:
                # each would be claimed in vain, and out of the filler's reach until its claim lapses.
                return None
            try:
                pid = self._pid(member.id)
                if pid is None:
                    raise RuntimeStepError("the member stopped (or its main process is not its own)")
                if member.labels.get(LABEL_LIMITS) != limits_value(cpus, memory_mb, pids):
                    self.runtime.update_limits(member.id, cpus=cpus, memory_mb=memory_mb, pids=pids)
                netlink.set_hostname(pid, node)
                write_hostname(pid, node)
                if files:
                    self.runtime.put_files(member.id, files)
                say(pid, STARTED_LINE.format(node=node))
            except Exception as exc:  # noqa: BLE001 - a member that cannot be made the node is not used
                log.warning("pool: member %s could not become %s: %s; starting it cold", member.name, node, exc)
                try:
                    self.runtime.remove(member.id)
                except RuntimeStepError:
                    pass
                continue
            self._last_take = time.monotonic()
            self._wake.set()
            return member.id, pid

    # -- filling ---------------------------------------------------------------------------------------

    def fill(self, start: bool = True) -> dict[str, int]:
        """One round of upkeep: remove members that do not belong (another spec, other limits than the site's
        defaults now, stopped, over the size or the memory budget), start the missing ones (unless ``start`` is
        false: ``lab gc``). Returns ``{spec key: members now}``."""
        budget = self.budget()
        resources = self.resources
        limits = limits_value(**resources)
        keys = {s.key for s in self.specs}
        members = self.members()
        used = 0
        counts = {s.key: 0 for s in self.specs}
        kept: dict[str, list] = {s.key: [] for s in self.specs}
        for member in members:
            key = member.labels.get(names.LABEL_POOL)
            memory = member_memory(member.id) or 0
            over = key not in keys or member.state != "running" or counts.get(key, 0) >= budget.size \
                or used + memory > budget.memory_mb * 1024 * 1024 or member.labels.get(LABEL_LIMITS) != limits \
                or member.labels.get(names.LABEL_HOST) != self.host
            if over:
                self._remove(member)
                continue
            counts[key] += 1
            kept[key].append(member)
            used += memory
        for spec in self.specs if start else ():
            while counts[spec.key] < budget.size and not self._stopping.is_set():
                typical = used // max(1, sum(counts.values())) if used else 0
                if used + typical > budget.memory_mb * 1024 * 1024:
                    break
                member = self._start_member(spec, resources)
                if member is None:
                    break
                counts[spec.key] += 1
                kept[spec.key].append(member)
        if start:
            with self._lock:  # what takes try next: the members as this round left them
                for key, found in kept.items():
                    self._ready[key] = deque(found)
                    self._listed[key] = time.monotonic()
        if self.on_fill is not None:
            self.on_fill(self.status(budget, counts, used))
        return counts

    def status(self, budget: Budget, counts: dict[str, int], used: int) -> dict:
        """What the pool holds: per image its members, the memory they used at the last look, the budget."""
        return {"size": budget.size, "memory_mb": budget.memory_mb, "used_mb": round(used / 2 ** 20, 1),
                "pools": [{"image": s.image, "capabilities": list(s.capabilities), "members": counts.get(s.key, 0)}
                          for s in self.specs]}

    def _start_member(self, spec: Spec, resources: dict | None = None):
        """Start one member of ``spec`` with ``resources`` (the site's defaults): what a listing would say of it,
        or None."""
        resources = resources or self.resources
        name = names.pool_member_name(self.site, secrets.token_hex(4))
        labels = {**names.pool_labels(self.site, spec.key, self.host), LABEL_LIMITS: limits_value(**resources)}
        try:
            container = self.runtime.create(
                name=name, image=spec.image, labels=labels, env={}, command=list(POOL_COMMAND),
                cpus=resources["cpus"], memory_mb=resources["memory_mb"], pids=resources["pids"],
                capabilities=spec.capabilities)
        except RuntimeStepError as exc:
            log.warning("pool: cannot create a member of %s: %s", spec.image, exc)
            return None
        try:
            pid = self.runtime.start(container)
        except RuntimeStepError as exc:
            log.warning("pool: a member of %s did not start: %s", spec.image, exc)
            self.runtime.remove(container)
            return None
        self._pids[container] = pid
        return ContainerInfo(id=container, name=name, labels=labels, state="running")

    def _remove(self, member) -> None:
        if self.claim(member.id):  # never under a deploy that is taking it
            self._pids.pop(member.id, None)
            try:
                self.runtime.remove(member.id)
            except RuntimeStepError as exc:
                log.warning("pool: cannot remove %s: %s", member.name, exc)

    def drain(self) -> int:
        """Remove every member not taken; returns how many."""
        members = self.members()
        for member in members:
            self._remove(member)
        return len(members)

    # -- the filler thread -------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pool-filler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _quiet(self) -> None:
        """Wait until no take happened for :data:`QUIET` seconds (at most :data:`MOST_DEFERRED`): starting
        containers while a deploy takes would slow the deploy down, on a machine of two cores."""
        waited = 0.0
        while not self._stopping.is_set() and waited < MOST_DEFERRED:
            still = QUIET - (time.monotonic() - self._last_take)
            if still <= 0:
                return
            time.sleep(min(still, MOST_DEFERRED - waited))
            waited += still

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._quiet()
            try:
                self.fill()
            except Exception:  # the engine or the database blinked: the next round tries again
                log.exception("pool: a round of upkeep failed")
            self._wake.wait(FILL_EVERY)
            self._wake.clear()
