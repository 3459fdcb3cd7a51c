"""Fixtures of the reliability drills: a stack of real processes of their own (private Redis, lab worker,
relay, web server) that all of them share, the lab owner, and the host as it was before each drill.

The drills need root, Docker and the node images, as the integration tests do, and are marked so.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from tests.drills.kit import HostBaseline, Stack, scrub_host

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(items):
    """Mark every drill ``integration``: it needs what the integration tests need."""
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def baseline():
    """The host's veths and named namespaces before the drill; after it (its own checks done, passed or not),
    whatever Topolab still has on the host is removed."""
    yield HostBaseline()
    left = scrub_host()
    if left:
        print(f"removed after the drill: {left}")


@pytest.fixture
def drill_owner(transactional_db):
    """The user whose labs are drilled."""
    return get_user_model().objects.create_user("driller", password="pw-driller-1")


@pytest.fixture(scope="session")
def stack(django_db_setup, tmp_path_factory):
    """A private Redis, a lab worker, the relay and daphne on a queue of their own, for all the drills
    (each drill leaves them working: the next one checks that too; starting them costs 15 to 50 s)."""
    directory = tmp_path_factory.mktemp("drill")
    processes = Stack(directory, tag=directory.name)
    try:
        processes.start()
        yield processes
    finally:
        processes.stop()
