"""The root processes the integration and browser tests share, one of each for the whole run.

Here and not in tests/integration/conftest.py: a session fixture that two
conftest files both define (or import) is started twice, and a second relay
of the same host is refused (topology/relay/singleton.py).
"""
from __future__ import annotations

import pytest
from django.conf import settings

from topology.testing.relay import RelayProcess
from topology.testing.worker import WorkerProcess


@pytest.fixture(scope="session")
def lab_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """The root lab worker, running for the whole session on this run's queue."""
    worker = WorkerProcess(settings.TOPOLAB_QUEUE, tmp_path_factory.mktemp("worker") / "worker.log")
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def relay(django_db_setup, tmp_path_factory):
    """The root console relay (``manage.py relay``), running for the whole session beside the worker."""
    process = RelayProcess(settings.TOPOLAB_QUEUE, tmp_path_factory.mktemp("relay") / "relay.log")
    process.start()
    yield process
    process.stop()
