"""Starts a real root capture service (``manage.py capture``) as a child process, for tests and benchmarks."""
from __future__ import annotations

import sys
from pathlib import Path

from .process import ChildProcess


class CaptureProcess(ChildProcess):
    """A real ``manage.py capture`` process for ``queue``'s host, on the current settings' database."""

    name = "capture service"

    def __init__(self, queue: str, log_path: Path, *options: str):
        self.queue = queue
        super().__init__([sys.executable, "manage.py", "capture", *options], log_path, env={"TOPOLAB_QUEUE": queue})

    def ready(self) -> bool:
        return b"capture service ready" in self.logged()
