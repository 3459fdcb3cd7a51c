"""Starts a real root console relay (``manage.py relay``) as a child process, for tests and benchmarks."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


class RelayProcess:
    """A real ``manage.py relay`` process for ``queue``'s host, on the current settings' database."""

    def __init__(self, queue: str, log_path: Path):
        self.queue = queue
        self.log_path = Path(log_path)
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        """Start it and wait until it listens on its channel."""
        env = dict(os.environ, TOPOLAB_DATABASE_PATH=str(settings.DATABASES["default"]["NAME"]),
                   TOPOLAB_QUEUE=self.queue, PYTHONUNBUFFERED="1")
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen([sys.executable, "manage.py", "relay"], cwd=ROOT, env=env,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the relay exited with {self.process.returncode}: {self.tail()}")
            if b"relay ready" in self.log_path.read_bytes():
                return
            time.sleep(0.1)
        raise RuntimeError(f"the relay did not get ready in {timeout} s: {self.tail()}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_kib(self) -> int:
        """The relay's resident memory now (KiB), from /proc."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS for the relay")

    def tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        """SIGTERM (it closes its sessions), then wait."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
