"""Starts a real root lab worker (``celery worker``) as a child process, for tests and benchmarks."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    """A real ``celery worker`` process consuming ``queue``, on the current settings' database."""

    def __init__(self, queue: str, log_path: Path, concurrency: int = 4):
        self.queue = queue
        self.log_path = Path(log_path)
        self.concurrency = concurrency
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        """Start it and wait until it consumes its queue."""
        env = dict(os.environ, TOPOLAB_DATABASE_PATH=str(settings.DATABASES["default"]["NAME"]),
                   TOPOLAB_QUEUE=self.queue)
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "labsite", "worker", "-Q", self.queue, "--pool", "threads",
             "--concurrency", str(self.concurrency), "--loglevel", "INFO", "-n", f"{self.queue}@%h",
             "--without-mingle", "--without-gossip"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the worker exited with {self.process.returncode}: {self.tail()}")
            if b" ready." in self.log_path.read_bytes():
                return
            time.sleep(0.2)
        raise RuntimeError(f"the worker did not get ready in {timeout} s: {self.tail()}")

    def tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        """SIGTERM, then wait (a warm shutdown finishes the running task)."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        self.process.kill()
        self.process.wait()
        self.log.close()
