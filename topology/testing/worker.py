"""Starts a real root lab worker (``celery worker``) as a child process, for tests and benchmarks."""
from __future__ import annotations

import sys
from pathlib import Path

from .process import ChildProcess


class WorkerProcess(ChildProcess):
    """A real ``celery worker`` process consuming ``queue``, on the current settings' database."""

    name = "worker"

    def __init__(self, queue: str, log_path: Path, concurrency: int = 4):
        self.queue = queue
        super().__init__(
            [sys.executable, "-m", "celery", "-A", "labsite", "worker", "-Q", queue, "--pool", "threads",
             "--concurrency", str(concurrency), "--loglevel", "INFO", "-n", f"{queue}@%h",
             "--without-mingle", "--without-gossip"],
            log_path, env={"TOPOLAB_QUEUE": queue})
