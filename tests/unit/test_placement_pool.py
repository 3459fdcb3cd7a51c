"""Two lab hosts sharing one Docker Engine keep their warm pools apart (:class:`topology.engine.pool.Pool`'s
``host``: the ``topolab.host`` label): neither counts, takes nor removes the other's members."""
from __future__ import annotations

from topology.engine import names
from topology.engine.pool import Budget, Pool

from .test_pool import DEFAULTS, SITE, SPEC, FakeRuntime, host, take  # noqa: F401 - host: the autouse fixture


def pool_of(runtime, queue: str, size: int) -> Pool:
    claimed: set = set()

    def claim(cid):
        if cid in claimed:
            return False
        claimed.add(cid)
        return True

    return Pool(runtime, SITE, [SPEC], lambda: Budget(size=size, memory_mb=1024), claim, DEFAULTS, host=queue)


def owners(runtime) -> list[str]:
    return sorted(m.labels.get(names.LABEL_HOST, "") for m in runtime.containers.values()
                  if m.name.startswith(names.pool_member_name(SITE, "")))


def test_two_hosts_on_one_engine_fill_count_and_take_only_their_own_members():
    runtime = FakeRuntime()
    a, b = pool_of(runtime, "lab.a", 3), pool_of(runtime, "lab.b", 1)
    assert a.fill() == {SPEC.key: 3}
    assert b.fill() == {SPEC.key: 1}  # a's three are not b's: it starts its own, and removes none of a's
    assert a.fill() == {SPEC.key: 3}  # b's member is not over a's size
    assert owners(runtime) == ["lab.a", "lab.a", "lab.a", "lab.b"]
    assert take(b, node="r1") is not None and owners(runtime) == ["lab.a", "lab.a", "lab.a"]  # b took its own
    assert take(b, node="r2") is None  # none of its own left: a cold start, not one of a's
    assert b.drain() == 0 and len(a.members()) == 3  # b's drain leaves a's members alone


def test_a_pool_without_a_host_sees_every_member_of_the_site_as_before():
    runtime = FakeRuntime()
    pool_of(runtime, "lab.a", 2).fill()
    anyone = Pool(runtime, SITE, [SPEC], lambda: Budget(size=5, memory_mb=1024), lambda cid: True, DEFAULTS)
    assert len(anyone.members()) == 2
    started = anyone._start_member(SPEC)
    assert names.LABEL_HOST not in started.labels and len(anyone.members()) == 3


def test_a_member_of_no_host_is_removed_by_a_hosts_filler_and_never_taken():
    runtime = FakeRuntime()
    legacy = Pool(runtime, SITE, [SPEC], lambda: Budget(size=1, memory_mb=1024), lambda cid: True, DEFAULTS)
    old = legacy._start_member(SPEC).id  # made before hosts were: no topolab.host label
    a = pool_of(runtime, "lab.a", 1)
    assert take(a) is None  # not one of its own: a cold start
    assert a.fill() == {SPEC.key: 1} and old not in runtime.containers and owners(runtime) == ["lab.a"]
