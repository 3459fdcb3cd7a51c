"""Waiting for lab operations, for tests and benchmarks."""
from __future__ import annotations

import time

from .. import leases
from ..models import BUSY_STATES, Lab


def wait_for(lab: Lab, operation: str, timeout: float = 120, poll: float = 0.05) -> Lab:
    """Wait until ``operation`` of ``lab`` has ended; returns the refreshed lab."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lab.refresh_from_db()
        if lab.operation == operation and lab.state not in BUSY_STATES and not leases.is_held(lab.pk):
            return lab
        time.sleep(poll)
    raise AssertionError(f"lab {lab.pk} still {lab.state} after {timeout} s")
