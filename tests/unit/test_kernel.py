"""The kernel capability probe's answer: its shape, where the lab worker keeps it, and how the API shows it.

The probe itself (:func:`netlink.probe_features`) makes a throwaway network namespace and needs root; the
integration tests use its real answer (tests/integration/test_live_links.py). Here it is replaced.
"""
from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.test import Client

from topology import kernel, leases, links
from topology.engine import impair, netlink

API = "/api/v1"


@pytest.fixture
def key():
    name = impair.capabilities_key(settings.TOPOLAB_SITE, settings.TOPOLAB_QUEUE)
    leases.client().delete(name)
    yield name
    leases.client().delete(name)


def test_the_description_says_what_the_kernel_offers_and_why_not_the_rest(monkeypatch):
    monkeypatch.setattr(netlink, "probe_features", lambda: {"netem": False, "tbf": True, "nft_drop": True})
    found = kernel.probe()
    assert found["impairments"]["loss"] == "nftables" and found["impairments"]["delay"] is False
    assert found["kernel"] == os.uname().release and found["probed"].endswith("+00:00")
    assert found["missing"] == impair.missing(found) and len(found["missing"]) == 3  # no nft_dup: duplication too
    assert found["link_state"] is True


def test_the_lab_worker_publishes_it_for_the_web_tier(monkeypatch, key):
    monkeypatch.setattr(netlink, "probe_features", lambda: {"netem": True, "tbf": True, "nft_drop": False})
    assert links.capabilities() is None
    published = kernel.probe_and_publish()
    assert links.capabilities() == published and published["missing"] == []


def test_the_api_shows_it_to_any_signed_in_user(monkeypatch, key, bob):
    client = Client()
    client.force_login(bob)
    assert client.get(f"{API}/capabilities").status_code == 503  # no worker has probed yet
    monkeypatch.setattr(netlink, "probe_features", lambda: {"netem": False, "tbf": True, "nft_drop": True})
    kernel.probe_and_publish()
    answer = client.get(f"{API}/capabilities")
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"impairments", "link_state", "probed", "kernel", "missing"}
    assert body["impairments"] == {"delay": False, "jitter": False, "loss": "nftables", "duplicate": None,
                                   "corrupt": False, "rate": "tbf"}
    assert Client().get(f"{API}/capabilities").status_code == 401


def test_the_probe_runs_once_per_process_unless_asked_again(monkeypatch):
    probes = []
    monkeypatch.setattr(netlink, "_features", None)
    monkeypatch.setattr(netlink, "_probe_here", lambda: probes.append(1) or {"netem": True, "tbf": True,
                                                                                "nft_drop": True, "nft_dup": False})
    monkeypatch.setattr(netlink._libc, "unshare", lambda flags: 0, raising=False)
    assert netlink.features() == {"netem": True, "tbf": True, "nft_drop": True, "nft_dup": False}
    assert netlink.features()["netem"] and probes == [1]
    netlink.probe_features()
    assert probes == [1, 1]
