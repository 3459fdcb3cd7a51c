"""The warm pool with the real lab worker and Docker Engine: deploys take started containers, the pool refills,
a member that dies is replaced, a lab's containers are never given back, a taken member is found and cleaned up
by its lab like a cold-started container.

Tests run with the pool off (tests/environment.py); these turn it on through the site limits, which the lab
worker's filler reads every round, and drain it at the end.
"""
from __future__ import annotations

import time

import pytest

from tests.documents import reference_document
from topology import labstate, leases
from topology.engine import names
from topology.engine.docker_runtime import DockerRuntime
from topology.models import Lab, LabEvent, LabState, SiteLimits
from topology.operations import collect_garbage
from topology.warm_pool import make_pool

SIZE = 4


def members(runtime: DockerRuntime) -> list:
    from django.conf import settings

    found = runtime.list([f"{names.LABEL_SITE}={settings.TOPOLAB_SITE}", names.LABEL_POOL])
    return [m for m in found if m.name.startswith(names.pool_member_name(settings.TOPOLAB_SITE, ""))]


def wait_for(condition, timeout: float = 30, what: str = "") -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting {timeout} s for {what}")


@pytest.fixture
def pool(lab_worker, transactional_db):
    row = SiteLimits.current()
    SiteLimits.objects.filter(pk=row.pk).update(pool_size=SIZE, pool_memory_mb=256)
    runtime = DockerRuntime()
    wait_for(lambda: len([m for m in members(runtime) if m.state == "running"]) >= SIZE, 60, "the pool to fill")
    yield runtime
    SiteLimits.objects.filter(pk=row.pk).update(pool_size=0)
    wait_for(lambda: not members(runtime), 60, "the pool to drain")


def test_a_lab_deployed_from_the_pool_behaves_as_a_cold_one_and_its_containers_are_never_given_back(labs, pool):
    before = {m.id for m in members(pool)}
    lab = labs.deploy(reference_document())
    assert lab.state == "running", lab.reason
    taken = dict(lab.nodes.values_list("name", "container_id"))
    assert set(taken.values()) <= before  # all three from the pool
    steps = {f"create {n}" for n in ("c1", "r1", "c2")}
    events = dict(LabEvent.objects.filter(lab=lab, operation=lab.operation, step__in=steps).values_list("step", "message"))
    assert events == {step: "from the warm pool" for step in steps}
    # Found by lab and node, as a cold-started container is (destroy, gc, the watcher and the relay select so).
    listed = {i.labels[names.LABEL_NODE]: i.id for i in pool.list(names.lab_filter(_site(), lab.pk))}
    assert listed == taken
    # The node's own name, host name, limits and start-up line.
    for node, container in taken.items():
        attrs = pool.api.inspect_container(container)
        assert attrs["Name"] == "/" + names.container_name(_site(), lab.pk, node)
        assert attrs["HostConfig"]["NanoCpus"] == 1_000_000_000 and attrs["HostConfig"]["Memory"] == 256 << 20
        assert attrs["HostConfig"]["PidsLimit"] == 256
        assert labs.run(lab, node, "hostname")[1].strip() == node
        assert labs.run(lab, node, "cat", "/etc/hostname")[1].strip() == node
        logs = pool.api.logs(container).decode()
        assert f"{node}: started by Topolab (from the warm pool)" in logs
    code, out = labs.run(lab, "c1", "ping", "-c", "1", "-W", "2", "192.168.11.2")
    assert code == 0 and "ttl=63" in out
    # The pool refills; destroying the lab removes its containers, none goes back.
    wait_for(lambda: len([m for m in members(pool) if m.state == "running"]) >= SIZE, 30, "the pool to refill")
    labs.destroy(lab)
    for container in taken.values():
        assert pool.container_state(container) is None
    assert not {m.id for m in members(pool)} & set(taken.values())


def test_a_pooled_nodes_limits_are_its_own_and_a_dead_member_is_replaced(labs, pool):
    document = reference_document()
    document["nodes"][1]["resources"] = {"cpus": 0.5, "memory_mb": 128, "pids": 100}
    lab = labs.deploy(document)
    assert lab.state == "running", lab.reason
    r1 = pool.api.inspect_container(lab.nodes.get(name="r1").container_id)
    assert r1["Name"].endswith("-r1") and r1["HostConfig"]["NanoCpus"] == 500_000_000
    assert r1["HostConfig"]["Memory"] == 128 << 20 and r1["HostConfig"]["PidsLimit"] == 100
    wait_for(lambda: len([m for m in members(pool) if m.state == "running"]) >= SIZE, 30, "the pool to refill")
    victim = members(pool)[0]
    pool.api.kill(victim.id)
    wait_for(lambda: victim.id not in {m.id for m in members(pool)}
             and len([m for m in members(pool) if m.state == "running"]) >= SIZE, 30, "a dead member replaced")


def test_a_member_taken_by_a_worker_that_died_is_removed_by_gc(labs, pool, owner):
    # What a worker killed in the middle of a take leaves: a lab still deploying with no lease, and a member
    # already renamed to one of its nodes.
    from topology import services

    topology = services.import_topology(owner, reference_document(), replace=True)
    lab = topology.lab
    labstate.do_begin(lab, LabState.DEPLOYING, "deploy requested", "dead-op", ["c1", "r1", "c2"])
    member = members(pool)[0]
    assert pool.rename(member.id, names.container_name(_site(), lab.pk, "r1"))
    assert leases.holder(lab.pk) is None
    collect_garbage()
    assert pool.container_state(member.id) is None
    lab.refresh_from_db()
    assert lab.state == LabState.FAILED and "interrupted" in lab.reason
    assert Lab.objects.filter(pk=lab.pk).exists()


def test_the_pool_keeps_to_its_budget_and_removes_what_does_not_belong(pool):
    extra = make_pool(pool)
    spec = extra.specs[0]
    assert extra._start_member(spec)  # one more than the size
    foreign = pool.create(name=names.pool_member_name(_site(), "gone0000"), image=spec.image,
                          labels=names.pool_labels(_site(), "0123456789abcdef"), env={},
                          command=["/bin/sh", "-c", "exec sleep infinity"], cpus=0.1, memory_mb=16, pids=16,
                          capabilities=())
    pool.start(foreign)
    extra.fill()  # the worker's filler does the same meanwhile: either removes what does not belong
    wait_for(lambda: pool.container_state(foreign) is None, 20, "another pool's member removed")
    wait_for(lambda: len([m for m in members(pool) if m.state == "running"]) == SIZE, 20, "the pool at its size")


def _site() -> str:
    from django.conf import settings

    return settings.TOPOLAB_SITE
