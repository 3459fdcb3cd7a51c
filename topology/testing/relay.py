"""Starts a real root console relay (``manage.py relay``) as a child process, for tests and benchmarks."""
from __future__ import annotations

import sys
from pathlib import Path

from .process import ChildProcess


class RelayProcess(ChildProcess):
    """A real ``manage.py relay`` process for ``queue``'s host, on the current settings' database."""

    name = "relay"

    def __init__(self, queue: str, log_path: Path, *options: str):
        self.queue = queue
        super().__init__([sys.executable, "manage.py", "relay", *options], log_path, env={"TOPOLAB_QUEUE": queue})

    def ready(self) -> bool:
        return b"relay ready" in self.logged()

    def rss_kib(self) -> int:
        """The relay's resident memory now (KiB), from /proc."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS for the relay")
