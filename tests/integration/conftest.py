"""Fixtures of the integration tests: a real Celery worker, real labs, and a leak check.

Everything here runs as root against the real Docker Engine, Redis and kernel.
After every test, a fixture fails the test if it left a container of this test
run's site, a veth in the host namespace or a named network namespace behind.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from topology import leases, services
from topology.engine import names
from topology.engine.docker_runtime import DockerRuntime
from topology.models import Lab
from topology.testing.labs import wait_for

HERE = Path(__file__).resolve().parent


# (A ``pytestmark`` in a conftest marks nothing: pytest reads it from test modules only.)
@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(items):
    """Mark every test under tests/integration ``integration`` (tests/unit/test_markers.py checks it).

    A conftest's hook sees the items of the whole session, so it picks its own by path.
    """
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.integration)


def _host_veths() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show", "type", "veth"], capture_output=True, text=True, check=True)
    return {line.split(":")[1].strip().split("@")[0] for line in out.stdout.splitlines() if line.strip()}


def _named_netns() -> set[str]:
    return set(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else set()


@pytest.fixture(autouse=True)
def no_leftovers(request):
    """Fail a test that leaves a container of this run, a host veth or a named netns behind."""
    runtime = DockerRuntime()
    veths, netns = _host_veths(), _named_netns()
    yield
    left = runtime.list(names.lab_filter(settings.TOPOLAB_SITE))
    new_veths = _host_veths() - veths
    new_netns = _named_netns() - netns
    for info in left:  # clean up, so one leak does not fail every later test
        runtime.remove(info.id)
    assert not left, f"containers left behind: {[c.name for c in left]}"
    assert not new_veths, f"veths left in the host namespace: {sorted(new_veths)}"
    assert not new_netns, f"network namespaces left behind: {sorted(new_netns)}"


@pytest.fixture
def owner(transactional_db):
    """A user who owns the test's topologies."""
    return get_user_model().objects.create_user("student", password="pw-student-1")


class Labs:
    """Import, deploy, destroy and run commands in labs, as a user would through the services."""

    def __init__(self, owner):
        self.owner = owner
        self.runtime = DockerRuntime()
        self.deployed: list[Lab] = []

    def deploy(self, document: dict) -> Lab:
        topology = services.import_topology(self.owner, document, replace=True)
        lab = topology.lab
        self.deployed.append(lab)
        return wait_for(lab, services.request_deploy(lab))

    def destroy(self, lab: Lab) -> Lab:
        return wait_for(lab, services.request_destroy(lab))

    def run(self, lab: Lab, node: str, *argv: str) -> tuple[int, str]:
        """Run argv in a node's container: (exit code, output)."""
        container = lab.nodes.get(name=node).container_id
        chunks: list[bytes] = []
        code = self.runtime.exec(container, list(argv), stream=chunks.append)
        return code, b"".join(chunks).decode("utf-8", "replace")

    def containers(self, lab: Lab):
        return self.runtime.list(names.lab_filter(settings.TOPOLAB_SITE, lab.pk))


@pytest.fixture
def labs(lab_worker, owner):
    """Deploys labs through the real worker and destroys whatever a test left running."""
    helper = Labs(owner)
    yield helper
    for lab in helper.deployed:
        lab.refresh_from_db()
        if helper.containers(lab) or lab.state != "stopped":
            if not leases.is_held(lab.pk):
                helper.destroy(lab)
