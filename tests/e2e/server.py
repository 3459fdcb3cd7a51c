"""The live web tier for browser tests and the editor benchmark: daphne as a child process."""
from __future__ import annotations

import socket
import sys
from pathlib import Path

from topology.testing.process import ChildProcess


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer(ChildProcess):
    """daphne serving labsite.asgi (HTTP and websockets) on the test database."""

    name = "web server (daphne)"
    stop_grace = 15.0

    def __init__(self, log_path: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__([sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
                          "labsite.asgi:application"], log_path,
                         # Quick checks that websockets may go on: a sign-out shows within a second.
                         env={"TOPOLAB_HEARTBEAT_SECONDS": "1"})

    def ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False
