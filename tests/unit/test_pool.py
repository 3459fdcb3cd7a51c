"""Unit tests of :mod:`topology.engine.pool` against a fake runtime: who takes what and with which calls to the
engine, what a failed take leaves, what the filler removes and starts, and when. The real engine:
tests/integration/test_pool.py and test_warm_pool_*.py."""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import pytest

from topology.engine import names
from topology.engine.docker_runtime import RuntimeStepError
from topology.engine.pool import LABEL_LIMITS, Budget, Pool, Spec, write_hostname
from topology.engine.pool import in_container as real_in_container

SITE = "unit"
SPEC = Spec("topolab/base", ("NET_ADMIN",))


@dataclass
class Member:
    id: str
    name: str
    labels: dict
    state: str = "running"


class FakeRuntime:
    def __init__(self):
        self.containers: dict[str, Member] = {}
        self.calls: list[tuple] = []
        self.fail: set[str] = set()
        self._n = 0

    def list(self, filters):
        self.calls.append(("list",))
        return [Member(m.id, m.name, dict(m.labels), m.state) for m in self.containers.values()
                if names.LABEL_POOL in m.labels]

    def create(self, *, name, image, labels, env, command, cpus, memory_mb, pids, capabilities, files=()):
        self._n += 1
        cid = f"c{self._n}"
        self.containers[cid] = Member(cid, name, dict(labels), "created")
        self.calls.append(("create", name, image, tuple(capabilities)))
        return cid

    def start(self, cid):
        self.containers[cid].state = "running"
        return 1000 + int(cid[1:])

    def rename(self, cid, name):
        if cid not in self.containers or any(m.name == name for m in self.containers.values()):
            return False
        self.containers[cid].name = name
        self.calls.append(("rename", cid, name))
        return True

    def pid(self, cid):
        member = self.containers.get(cid)
        return 1000 + int(cid[1:]) if member and member.state == "running" else None

    def update_limits(self, cid, **limits):
        if "limits" in self.fail:
            raise RuntimeStepError("no such cgroup")
        self.calls.append(("limits", cid, limits))

    def put_files(self, cid, files):
        self.calls.append(("files", cid, tuple(files)))

    def exec(self, cid, argv):
        self.calls.append(("exec", cid, argv[-1]))
        return 0

    def kinds(self, since=0):
        return [c[0] for c in self.calls[since:]]

    def remove(self, cid):
        self.calls.append(("remove", cid))
        return self.containers.pop(cid, None) is not None


class Seen(list):
    """What was done from the host, in order; ``stale``: see :func:`host`."""

    stale: set


@pytest.fixture(autouse=True)
def host(monkeypatch):
    """What a take does in the member's namespaces and files from the host, recorded instead; ``stale`` holds
    the PIDs that are not their container's (any more)."""
    seen = Seen()
    stale: set = set()
    monkeypatch.setattr("topology.engine.netlink.set_hostname", lambda pid, name: seen.append(("uts", pid, name)))
    monkeypatch.setattr("topology.engine.pool.in_container", lambda pid, cid: pid not in stale)
    monkeypatch.setattr("topology.engine.pool.write_hostname", lambda pid, name: seen.append(("hostname", pid, name)))
    monkeypatch.setattr("topology.engine.pool.say", lambda pid, line: seen.append(("said", pid, line)))
    seen.stale = stale
    return seen



DEFAULTS = {"cpus": 1.0, "memory_mb": 256, "pids": 256}


def make(runtime, size=2, claims=None, resources=None):
    claimed = set() if claims is None else claims

    def claim(cid):
        if cid in claimed:
            return False
        claimed.add(cid)
        return True

    return Pool(runtime, SITE, [SPEC], lambda: Budget(size=size, memory_mb=1024), claim,
                resources if resources is not None else DEFAULTS)


def take(pool, node="r1", cpus=0.5, memory_mb=128, pids=100, **extra):
    return pool.take(node=node, container=names.container_name(SITE, 7, node), image="topolab/base:latest",
                     capabilities=("NET_ADMIN",), cpus=cpus, memory_mb=memory_mb, pids=pids, **extra)


def test_it_fills_to_the_size_with_labelled_members_and_a_take_makes_one_the_nodes(host):
    runtime = FakeRuntime()
    pool = make(runtime)
    assert pool.fill() == {SPEC.key: 2}
    assert runtime.kinds() == ["list", "create", "create"]
    assert all(m.labels == {**names.pool_labels(SITE, SPEC.key), LABEL_LIMITS: "1/256/256"}
               for m in runtime.containers.values())
    before = len(runtime.calls)
    cid, pid = take(pool, files=(("/etc/motd", "hi", 0o644),))
    assert runtime.containers[cid].name == f"topolab-{SITE}-7-r1" and pid == 1000 + int(cid[1:])
    # A rename, the limits (the node's are not the member's), its files: no listing (the filler's serves), no exec.
    assert runtime.calls[before:] == [("rename", cid, f"topolab-{SITE}-7-r1"),
                                      ("limits", cid, {"cpus": 0.5, "memory_mb": 128, "pids": 100}),
                                      ("files", cid, (("/etc/motd", "hi", 0o644),))]
    assert host == [("uts", pid, "r1"), ("hostname", pid, "r1"),
                    ("said", pid, "r1: started by Topolab (from the warm pool)\n")]
    # The taken member is no longer the pool's: the next round starts one more.
    assert len(pool.members()) == 1 and pool.fill() == {SPEC.key: 2}


def test_a_node_with_the_default_limits_and_no_files_is_taken_with_a_rename_alone(host):
    runtime = FakeRuntime()
    pool = make(runtime, size=3)
    pool.fill()
    before = len(runtime.calls)
    taken = [take(pool, node=f"r{i}", cpus=1.0, memory_mb=256, pids=256) for i in range(3)]
    assert all(taken) and len({cid for cid, _ in taken}) == 3
    assert runtime.kinds(before) == ["rename"] * 3


def test_takes_share_one_listing_and_a_stale_noted_pid_is_asked_of_the_engine(host):
    runtime = FakeRuntime()
    pool = make(runtime, size=2)
    pool.fill()
    # Members another process started: this one lists them once for both takes, and asks for their PIDs.
    other = make(runtime, size=2)
    first = take(other, node="a")
    second = take(other, node="b")
    assert first and second and runtime.kinds().count("list") == 2  # the fill's, and one for both takes
    assert take(other, node="c") is None  # none left, and the listing is fresh: the engine is not asked again
    assert runtime.kinds().count("list") == 2
    pool.fill()
    for cid in runtime.containers:
        pool._pids[cid] = 5  # the PID the filler noted belongs to another process now
    host.stale.add(5)
    cid, pid = take(pool, node="d")
    assert pid == 1000 + int(cid[1:]) and ("uts", pid, "d") in host  # what the (fake) engine says


def test_a_member_is_taken_once_and_what_the_pool_cannot_serve_is_left_to_a_cold_start():
    runtime = FakeRuntime()
    claims: set = set()
    pool = make(runtime, size=1, claims=claims)
    pool.fill()
    (only,) = runtime.containers
    claims.add(only)  # another deploy claimed it first
    assert take(pool) is None
    claims.clear()
    assert take(pool, env={"A": "1"}) is None  # an environment is fixed when a container is made
    assert pool.take(node="f1", container="x", image="topolab/frr", capabilities=("NET_ADMIN", "NET_RAW"),
                     cpus=1, memory_mb=256, pids=256) is None  # no pool for that image
    pool._listed.clear()  # the listing made old: the member is there again
    assert take(pool) is not None


def test_a_member_that_cannot_become_the_node_is_removed_not_reused(host):
    runtime = FakeRuntime()
    pool = make(runtime, size=1)
    pool.fill()
    (only,) = runtime.containers
    runtime.fail.add("limits")
    assert take(pool) is None
    assert ("remove", only) in runtime.calls and only not in runtime.containers
    pool.fill()
    (other,) = runtime.containers
    host.stale.add(1000 + int(other[1:]))
    assert take(pool, cpus=1.0, memory_mb=256, pids=256) is None  # its main process is not its own: not used
    assert other not in runtime.containers and not [h for h in host if h[0] == "hostname"]


def test_the_filler_removes_stopped_foreign_and_extra_members_and_those_of_other_limits():
    runtime = FakeRuntime()
    pool = make(runtime, size=2)
    pool.fill()
    first = next(iter(runtime.containers))
    runtime.containers[first].state = "exited"
    foreign = runtime.create(name=names.pool_member_name(SITE, "old"), image="x", labels=names.pool_labels(SITE, "other"),
                             env={}, command=[], cpus=1, memory_mb=1, pids=1, capabilities=())
    runtime.start(foreign)
    assert pool.fill() == {SPEC.key: 2}
    assert first not in runtime.containers and foreign not in runtime.containers
    assert len(runtime.containers) == 2
    assert make(runtime, size=1).fill() == {SPEC.key: 1} and len(runtime.containers) == 1
    # The site's default limits changed: its members are replaced by members with the new ones.
    site = dict(DEFAULTS)
    pool = make(runtime, size=1, resources=lambda: site)
    (old,) = runtime.containers
    site["memory_mb"] = 512
    pool.fill()
    (new,) = runtime.containers
    assert new != old and runtime.containers[new].labels[LABEL_LIMITS] == "1/512/256"
    assert make(runtime, size=0).drain() == 1 and runtime.containers == {}


def test_gc_s_round_removes_what_does_not_belong_and_starts_nothing():
    runtime = FakeRuntime()
    make(runtime, size=3).fill()
    calls = len(runtime.calls)
    assert make(runtime, size=1).fill(start=False) == {SPEC.key: 1}
    assert [c[0] for c in runtime.calls[calls:]] == ["list", "remove", "remove"]
    assert make(runtime, size=0).fill(start=False) == {SPEC.key: 0} and runtime.containers == {}


def test_the_filler_waits_while_deploys_take_but_not_for_ever(monkeypatch):
    pool = make(FakeRuntime())
    monkeypatch.setattr("topology.engine.pool.QUIET", 0.2)
    monkeypatch.setattr("topology.engine.pool.MOST_DEFERRED", 0.5)
    pool._last_take = time.monotonic()
    started = time.monotonic()
    pool._quiet()
    assert 0.15 < time.monotonic() - started < 0.4
    stop = threading.Event()

    def taking():
        while not stop.is_set():
            pool._last_take = time.monotonic()
            time.sleep(0.01)

    thread = threading.Thread(target=taking)
    thread.start()
    try:
        started = time.monotonic()
        pool._quiet()
        assert 0.45 < time.monotonic() - started < 0.8
    finally:
        stop.set()
        thread.join()


def test_a_start_gives_a_taken_member_its_nodes_name_back_and_leaves_others_alone(monkeypatch):
    from topology.engine import pool as pool_module

    seen = []
    monkeypatch.setattr("topology.engine.netlink.set_hostname", lambda pid, name: seen.append(pid))
    monkeypatch.setattr("topology.engine.pool.in_container", real_in_container)
    assert pool_module.own_name("c1", 1, "r1") is False  # not a container's ID: never through /proc of a stranger
    assert pool_module.own_name("f" * 64, os.getpid(), "r1") is False  # not that container's process
    assert seen == []


def test_a_node_whose_name_is_taken_costs_one_claim_not_the_whole_pool():
    runtime = FakeRuntime()
    claims: set = set()
    pool = make(runtime, size=3, claims=claims)
    pool.fill()
    runtime.containers["left"] = Member("left", f"topolab-{SITE}-7-r1", {})  # a container of that node's name
    assert take(pool) is None  # the cold start says why
    assert len(claims) == 1 and len(pool.members()) == 3


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")
def test_the_host_name_is_written_in_the_containers_own_files_and_never_through_a_link_or_into_a_fifo(tmp_path):
    """A node's root user may have made /etc a link before a restart: an absolute link under /proc/<pid>/root is
    followed from the host's root, so the write must refuse it (the host's file stays as it was)."""
    def chrooted(root) -> int:
        pid = os.fork()
        if pid == 0:  # a process whose root is `root`, as a container's main process has its own
            os.chroot(root)
            time.sleep(5)
            os._exit(0)
        return pid

    honest, planted, host = tmp_path / "honest", tmp_path / "planted", tmp_path / "host-etc"
    (honest / "etc").mkdir(parents=True)
    (honest / "etc" / "hostname").write_text("topolab-pool-1\n")
    host.mkdir()
    (host / "hostname").write_text("the-host\n")
    planted.mkdir()
    (planted / "etc").symlink_to(host)  # absolute: the host's directory, seen from the host
    fifo = tmp_path / "fifo"
    (fifo / "etc").mkdir(parents=True)
    os.mkfifo(fifo / "etc" / "hostname")  # an open of it for writing would wait for a reader for ever
    pids = [chrooted(honest), chrooted(planted), chrooted(fifo)]
    try:
        time.sleep(0.2)
        write_hostname(pids[0], "r1")
        assert (honest / "etc" / "hostname").read_text() == "r1\n"
        with pytest.raises(OSError):
            write_hostname(pids[1], "r1")
        assert (host / "hostname").read_text() == "the-host\n"
        with pytest.raises(OSError):  # at once, not after a reader came
            write_hostname(pids[2], "r1")
    finally:
        for pid in pids:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
