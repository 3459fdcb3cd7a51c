"""Unit tests of :mod:`topology.engine.pool` against a fake runtime: who takes what, what a failed take leaves,
what the filler removes and starts. The real engine: tests/integration/test_pool.py."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from topology.engine import names
from topology.engine.docker_runtime import RuntimeStepError
from topology.engine.pool import Budget, Pool, Spec

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
        return [m for m in self.containers.values() if names.LABEL_POOL in m.labels]

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

    def remove(self, cid):
        self.calls.append(("remove", cid))
        return self.containers.pop(cid, None) is not None


@pytest.fixture(autouse=True)
def no_namespaces(monkeypatch):
    seen = []
    monkeypatch.setattr("topology.engine.netlink.set_hostname", lambda pid, name: seen.append((pid, name)))
    return seen


def make(runtime, size=2, claims=None):
    claimed = set() if claims is None else claims

    def claim(cid):
        if cid in claimed:
            return False
        claimed.add(cid)
        return True

    return Pool(runtime, SITE, [SPEC], lambda: Budget(size=size, memory_mb=1024), claim,
                {"cpus": 1.0, "memory_mb": 256, "pids": 256})


def take(pool, node="r1", **extra):
    return pool.take(node=node, container=names.container_name(SITE, 7, node), image="topolab/base:latest",
                     capabilities=("NET_ADMIN",), cpus=0.5, memory_mb=128, pids=100, **extra)


def test_it_fills_to_the_size_with_labelled_members_and_a_take_makes_one_the_nodes(no_namespaces):
    runtime = FakeRuntime()
    pool = make(runtime)
    assert pool.fill() == {SPEC.key: 2}
    assert [c[0] for c in runtime.calls] == ["create", "create"]
    assert all(m.labels == names.pool_labels(SITE, SPEC.key) for m in runtime.containers.values())
    cid, pid = take(pool, files=(("/etc/motd", "hi", 0o644),))
    assert runtime.containers[cid].name == f"topolab-{SITE}-7-r1" and pid == 1000 + int(cid[1:])
    assert ("limits", cid, {"cpus": 0.5, "memory_mb": 128, "pids": 100}) in runtime.calls
    assert ("files", cid, (("/etc/motd", "hi", 0o644),)) in runtime.calls
    assert no_namespaces == [(pid, "r1")]
    # The taken member is no longer the pool's: the next round starts one more.
    assert len(pool.members()) == 1 and pool.fill() == {SPEC.key: 2}


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
    assert take(pool) is not None


def test_a_member_that_cannot_become_the_node_is_removed_not_reused():
    runtime = FakeRuntime()
    pool = make(runtime, size=1)
    pool.fill()
    (only,) = runtime.containers
    runtime.fail.add("limits")
    assert take(pool) is None
    assert ("remove", only) in runtime.calls and only not in runtime.containers


def test_the_filler_removes_stopped_foreign_and_extra_members():
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
    assert make(runtime, size=0).drain() == 1 and runtime.containers == {}


def test_gc_s_round_removes_what_does_not_belong_and_starts_nothing():
    runtime = FakeRuntime()
    make(runtime, size=3).fill()
    calls = len(runtime.calls)
    assert make(runtime, size=1).fill(start=False) == {SPEC.key: 1}
    assert [c[0] for c in runtime.calls[calls:]] == ["remove", "remove"]
    assert make(runtime, size=0).fill(start=False) == {SPEC.key: 0} and runtime.containers == {}
