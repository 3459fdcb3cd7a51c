"""The root processes the integration and browser tests share, one of each for the whole run.

Here and not in tests/integration/conftest.py: a session fixture that two
conftest files both define (or import) is started twice, and a second relay
of the same host is refused (topology/relay/singleton.py).
"""
from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from topology.testing.capture import CaptureProcess
from topology.testing.relay import RelayProcess
from topology.testing.worker import ExecWorkerProcess, WorkerProcess

UNIT = Path(__file__).resolve().parent / "unit"


@pytest.fixture(scope="session")
def exec_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """The root exec worker (commands in nodes), on this run's exec queue, beside the lab worker."""
    worker = ExecWorkerProcess(settings.TOPOLAB_QUEUE, tmp_path_factory.mktemp("exec-worker") / "worker.log")
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def lab_worker(exec_worker, django_db_setup, django_db_blocker, tmp_path_factory):
    """The root lab worker, running for the whole session on this run's queue (with the exec worker beside it,
    as compose/up runs them)."""
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


@pytest.fixture(scope="session")
def capture(django_db_setup, tmp_path_factory):
    """The root packet capture service (``manage.py capture``), running for the whole session beside the relay."""
    # (a capture nobody watches any more stops 3 s after, not 20: the tests see it happen)
    process = CaptureProcess(settings.TOPOLAB_QUEUE, tmp_path_factory.mktemp("capture") / "capture.log", "--idle", "3")
    process.start()
    yield process
    process.stop()


@pytest.fixture(autouse=True)
def workers_alive_in_unit_tests(request):
    """A unit test's fake broker stands for a lab worker and an exec worker that run: their heartbeats say so.

    (Unit tests that use the database only; one about a missing worker uses a lab on another queue.)
    """
    path = Path(str(request.node.path)).resolve()
    uses_db = {"db", "transactional_db"} & set(request.fixturenames) or request.node.get_closest_marker("django_db")
    if UNIT not in path.parents or not uses_db:
        yield
        return
    from topology.workers import Heartbeat, exec_queue

    heartbeat = Heartbeat([settings.TOPOLAB_QUEUE, exec_queue(settings.TOPOLAB_QUEUE)], instance="unit-tests")
    heartbeat.beat()
    yield heartbeat
    heartbeat.stop()
