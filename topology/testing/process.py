"""A Topolab process started as a child, for tests and benchmarks: the worker, the relay, daphne.

Each runs on the current settings' database (a test run's own test database)
with the current environment, logs to a file, and counts as started when its
``ready`` check says so.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


class ChildProcess:
    """A child process of ``argv``; subclasses say when it is ready."""

    name = "process"
    stop_grace = 30.0

    def __init__(self, argv: list[str], log_path: Path, env: dict | None = None):
        self.argv = argv
        self.log_path = Path(log_path)
        self.extra_env = env or {}
        self.process: subprocess.Popen | None = None

    def ready(self) -> bool:
        """True once the process does its job (default: it logged ``ready``)."""
        return b" ready" in self.logged()

    def logged(self) -> bytes:
        """What the process logged since its last start (a restarted one appends to the same file)."""
        with open(self.log_path, "rb") as log:
            log.seek(self.log_start)
            return log.read()

    def start(self, timeout: float = 60) -> None:
        """Start it and wait until it is ready; RuntimeError with its log's tail if it dies or hangs."""
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.extra_env)
        database = settings.DATABASES["default"]
        if "postgresql" in database["ENGINE"]:  # the test database on the same server, by its URL
            env["DATABASE_URL"] = (f"postgres://{quote(database['USER'])}:{quote(database['PASSWORD'])}@"
                                   f"{database['HOST']}:{database['PORT']}/{quote(database['NAME'])}")
        else:
            env["TOPOLAB_DATABASE_PATH"] = str(database["NAME"])
        self.log = open(self.log_path, "ab")
        self.log_start = self.log.tell()
        self.process = subprocess.Popen(self.argv, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the {self.name} exited with {self.process.returncode}: {self.tail()}")
            if self.ready():
                return
            time.sleep(0.1)
        raise RuntimeError(f"the {self.name} did not get ready in {timeout} s: {self.tail()}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        """SIGTERM (a clean shutdown), then SIGKILL if it does not end in ``stop_grace`` seconds."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(self.stop_grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        self.process.kill()
        self.process.wait()
        self.log.close()
