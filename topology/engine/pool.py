"""The warm pool: containers started ahead of time, unconfigured, that a deploy takes instead of starting its own.

Starting a container is most of a deploy's time. The lab worker keeps, per
pool image (``TOPOLAB_POOL_IMAGES``, with the capabilities of the kinds that
run it), a few started members: ``--net none``, the default limits, nothing
of any lab, labelled ``topolab.pool`` (:func:`names.pool_labels`) and named
``topolab-<site>-pool-<token>``. A filler thread keeps them at the site's
``pool_size`` per image, within its ``pool_memory_mb`` (what the members
really use, read from their memory cgroups), replaces members that died and
removes those that no longer belong (another image, over the size).

A node can be taken from the pool when its image and capabilities match and
it has no ``env`` (a container's environment is fixed when it is created).
Taking a member is: a claim (so two deploys never take one member), the
rename to the node's container name (from then on the name is its identity:
:func:`names.effective_labels`), its CPU, memory and pids limits set to the
node's, its host name set through its UTS namespace, its files put in, and
the start-up line the node's Logs show written to its main process's output.
Anything failing there removes the member and the node is cold-started: a
member never serves twice, and a lab's containers are removed when it is
destroyed, never given back.

Engine side: no Django; the claim is a callable the lab worker wires to Redis.
"""
from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Callable

from . import names, netlink
from .docker_runtime import RuntimeStepError

log = logging.getLogger(__name__)

# A member's main process: sleeps until the container is removed. It says nothing: a lab that takes it writes
# its node's start-up line then (see Pool.take).
POOL_COMMAND = ("/bin/sh", "-c", "exec sleep infinity")
FILL_EVERY = 0.5  # seconds between the filler's looks (it is also woken after each take)
MEMORY_FILES = ("/sys/fs/cgroup/memory/docker/{id}/memory.usage_in_bytes",   # cgroup v1, cgroupfs driver
                "/sys/fs/cgroup/docker/{id}/memory.current",                 # v2, cgroupfs driver
                "/sys/fs/cgroup/system.slice/docker-{id}.scope/memory.current")  # v2, systemd driver


def reference(image: str) -> str:
    """An image's full reference (``topolab/base`` is ``topolab/base:latest``): one pool per image, however named."""
    return image if ":" in image.rsplit("/", 1)[-1] or "@" in image else f"{image}:latest"


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


class Pool:
    """Takes members for a deploy (:meth:`take`) and keeps the pool filled (:meth:`fill`, or its thread).

    ``budget()`` says the current :class:`Budget` (the admin may change it at any time); ``claim(id)`` is True
    for the one caller that may take member ``id``; ``resources`` are a member's limits until it is taken.
    """

    def __init__(self, runtime, site: str, specs: list[Spec], budget: Callable[[], Budget],
                 claim: Callable[[str], bool], resources: dict, on_fill: Callable[[dict], None] | None = None):
        self.runtime = runtime
        self.on_fill = on_fill  # told what the pool holds after each round (see status())
        self.site = names.check_site(site)
        self.specs = list(specs)
        self.budget = budget
        self.claim = claim
        self.resources = dict(resources)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- taking ----------------------------------------------------------------------------------------

    def spec_of(self, image: str, capabilities) -> Spec | None:
        wanted = Spec(image, tuple(capabilities))
        return next((s for s in self.specs if s.key == wanted.key), None)

    def members(self, spec: Spec | None = None) -> list:
        """The members not taken yet (of ``spec``, or all), running or not, oldest first."""
        found = self.runtime.list([f"{names.LABEL_SITE}={self.site}", names.LABEL_POOL])
        prefix = names.pool_member_name(self.site, "")
        mine = [m for m in found if m.name.startswith(prefix)
                and (spec is None or m.labels.get(names.LABEL_POOL) == spec.key)]
        return sorted(mine, key=lambda m: m.name)

    def take(self, *, node: str, container: str, image: str, capabilities, cpus: float, memory_mb: int, pids: int,
             files=(), env=None) -> tuple[str, int] | None:
        """A started member made ``node``'s container (named ``container``), with its limits, host name and
        files: ``(container id, main PID)``; None when the pool has none for it (the caller starts one)."""
        spec = self.spec_of(image, capabilities)
        if spec is None or env:
            return None
        try:
            candidates = [m for m in self.members(spec) if m.state == "running"]
        except Exception as exc:  # noqa: BLE001 - the engine blinked: a cold start will say why, if it fails
            log.warning("pool: cannot list members: %s", exc)
            return None
        for member in candidates:
            if not self.claim(member.id):
                continue
            if not self.runtime.rename(member.id, container):
                continue  # gone meanwhile, or the node's name is taken: let the cold start say so
            try:
                pid = self.runtime.pid(member.id)
                if pid is None:
                    raise RuntimeStepError("the member stopped")
                self.runtime.update_limits(member.id, cpus=cpus, memory_mb=memory_mb, pids=pids)
                netlink.set_hostname(pid, node)
                if files:
                    self.runtime.put_files(member.id, files)
                code = self.runtime.exec(member.id, ["/bin/sh", "-c", 'echo "$1" > /etc/hostname && echo "$1: '
                                                     'started by Topolab (from the warm pool)" > /proc/1/fd/1',
                                                     "sh", node])
                if code != 0:
                    raise RuntimeStepError(f"its start-up line could not be written (exit code {code})")
            except Exception as exc:  # noqa: BLE001 - a member that cannot be made the node is not used
                log.warning("pool: member %s could not become %s: %s; starting it cold", member.name, node, exc)
                try:
                    self.runtime.remove(member.id)
                except RuntimeStepError:
                    pass
                continue
            self._wake.set()
            return member.id, pid
        return None

    # -- filling ---------------------------------------------------------------------------------------

    def fill(self, start: bool = True) -> dict[str, int]:
        """One round of upkeep: remove members that do not belong (another spec, stopped, over the size or the
        memory budget), start the missing ones (unless ``start`` is false: ``lab gc``). Returns ``{spec key:
        members now}``."""
        budget = self.budget()
        keys = {s.key for s in self.specs}
        members = self.members()
        used = 0
        counts = {s.key: 0 for s in self.specs}
        for member in members:
            key = member.labels.get(names.LABEL_POOL)
            memory = member_memory(member.id) or 0
            over = key not in keys or member.state != "running" or counts.get(key, 0) >= budget.size \
                or used + memory > budget.memory_mb * 1024 * 1024
            if over:
                self._remove(member)
                continue
            counts[key] += 1
            used += memory
        for spec in self.specs if start else ():
            while counts[spec.key] < budget.size and not self._stopping.is_set():
                typical = used // max(1, sum(counts.values())) if used else 0
                if used + typical > budget.memory_mb * 1024 * 1024:
                    break
                if not self._start_member(spec):
                    break
                counts[spec.key] += 1
        if self.on_fill is not None:
            self.on_fill(self.status(budget, counts, used))
        return counts

    def status(self, budget: Budget, counts: dict[str, int], used: int) -> dict:
        """What the pool holds: per image its members, the memory they used at the last look, the budget."""
        return {"size": budget.size, "memory_mb": budget.memory_mb, "used_mb": round(used / 2 ** 20, 1),
                "pools": [{"image": s.image, "capabilities": list(s.capabilities), "members": counts.get(s.key, 0)}
                          for s in self.specs]}

    def _start_member(self, spec: Spec) -> bool:
        name = names.pool_member_name(self.site, secrets.token_hex(4))
        try:
            container = self.runtime.create(
                name=name, image=spec.image, labels=names.pool_labels(self.site, spec.key), env={},
                command=list(POOL_COMMAND), cpus=self.resources["cpus"], memory_mb=self.resources["memory_mb"],
                pids=self.resources["pids"], capabilities=spec.capabilities)
        except RuntimeStepError as exc:
            log.warning("pool: cannot create a member of %s: %s", spec.image, exc)
            return False
        try:
            self.runtime.start(container)
        except RuntimeStepError as exc:
            log.warning("pool: a member of %s did not start: %s", spec.image, exc)
            self.runtime.remove(container)
            return False
        return True

    def _remove(self, member) -> None:
        if self.claim(member.id):  # never under a deploy that is taking it
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

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.fill()
            except Exception:  # the engine or the database blinked: the next round tries again
                log.exception("pool: a round of upkeep failed")
            self._wake.wait(FILL_EVERY)
            self._wake.clear()
            time.sleep(0)  # let a deploy's threads run first after a take
