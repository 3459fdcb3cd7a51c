"""One operation per lab: the Redis lease (real Redis, no worker)."""
import time

import pytest

from topology import leases

LAB = 987654


@pytest.fixture(autouse=True)
def clean_lease():
    leases._client().delete(leases._key(LAB))
    yield
    leases._client().delete(leases._key(LAB))


def test_it_lets_one_operation_hold_a_lab():
    assert leases.acquire(LAB, "first")
    assert not leases.acquire(LAB, "second")
    assert leases.holder(LAB) == "first"
    leases.release(LAB, "second")  # not the holder: nothing happens
    assert leases.holder(LAB) == "first"
    leases.release(LAB, "first")
    assert leases.holder(LAB) is None


def test_it_keeps_the_lease_while_working_and_releases_it_after(monkeypatch):
    monkeypatch.setattr(leases, "WORKER_TTL_MS", 600)
    assert leases.acquire(LAB, "op", ttl_ms=600)
    with leases.held(LAB, "op"):
        time.sleep(1.5)  # well past the TTL: only renewals keep it
        assert leases.holder(LAB) == "op"
    assert leases.holder(LAB) is None


def test_it_refuses_to_work_on_a_lab_another_operation_took():
    assert leases.acquire(LAB, "newer")
    with pytest.raises(leases.LeaseLost):
        with leases.held(LAB, "older"):
            raise AssertionError("the body must not run")
    assert leases.holder(LAB) == "newer"


def test_it_takes_back_a_lapsed_lease_nobody_took():
    assert leases.acquire(LAB, "slow", ttl_ms=50)
    time.sleep(0.1)
    assert leases.holder(LAB) is None
    with leases.held(LAB, "slow"):
        assert leases.holder(LAB) == "slow"
