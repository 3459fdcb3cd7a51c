"""Starts real root workers (``celery worker``) as child processes, for tests and benchmarks: the lab worker
(deploys and destroys) and the exec worker (commands in nodes), as compose/lib.sh starts them."""
from __future__ import annotations

import sys
from pathlib import Path

from django.conf import settings

from ..workers import exec_queue
from .process import ChildProcess


class WorkerProcess(ChildProcess):
    """A real ``celery worker`` process consuming ``queue``, on the current settings' database.

    ``lab_queue`` is the host's lab queue it works for (its ``TOPOLAB_QUEUE``), ``queue`` itself by default.
    """

    name = "worker"

    def __init__(self, queue: str, log_path: Path, concurrency: int = 4, lab_queue: str | None = None):
        self.queue = queue
        super().__init__(
            [sys.executable, "-m", "celery", "-A", "labsite", "worker", "-Q", queue, "--pool", "threads",
             "--concurrency", str(concurrency), "--loglevel", "INFO", "-n", f"{queue}@%h",
             "--without-mingle", "--without-gossip"],
            log_path, env={"TOPOLAB_QUEUE": lab_queue or queue})


class ExecWorkerProcess(WorkerProcess):
    """The exec worker of the lab queue ``lab_queue``: its own queue and pool, for commands in nodes."""

    name = "exec worker"

    def __init__(self, lab_queue: str, log_path: Path, concurrency: int | None = None):
        super().__init__(exec_queue(lab_queue), log_path, concurrency or settings.TOPOLAB_EXEC_CONCURRENCY,
                         lab_queue=lab_queue)
