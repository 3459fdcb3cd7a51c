"""Follows a lab operation from the database and prints each step as it is recorded."""
from __future__ import annotations

import time

from ..models import BUSY_STATES, Lab, LabEvent

POLL_SECONDS = 0.2
NO_WORKER_HINT_SECONDS = 10


def format_event(event: LabEvent) -> str:
    """One line for an event: ``[5/12] start c1 ... ok (120 ms)``."""
    counter = f"[{event.index}/{event.total}] " if event.total else ""
    took = f" ({event.elapsed_ms} ms)" if event.elapsed_ms is not None else ""
    message = f": {event.message}" if event.message else ""
    return f"{event.created:%H:%M:%S} {counter}{event.step} {event.status}{took}{message}"


def follow(lab: Lab, operation: str, write, timeout: float) -> Lab:
    """Print the operation's events until it ends (or ``timeout`` seconds pass); returns the lab."""
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    last_id = 0
    hinted = False
    while True:
        events = list(LabEvent.objects.filter(lab=lab, operation=operation, id__gt=last_id).order_by("id"))
        for event in events:
            write(format_event(event))
            last_id = event.id
        lab.refresh_from_db()
        if lab.operation != operation or lab.state not in BUSY_STATES:
            # One more read: the final events may have landed with the state.
            for event in LabEvent.objects.filter(lab=lab, operation=operation, id__gt=last_id).order_by("id"):
                write(format_event(event))
            return lab
        if not hinted and len(events) == 0 and last_id and time.monotonic() - started > NO_WORKER_HINT_SECONDS:
            if LabEvent.objects.filter(lab=lab, operation=operation).count() <= 1:
                write(f"... still waiting for a lab worker on queue '{lab.queue}' (is it running?)")
                hinted = True
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting after {timeout:g} s; the lab is still {lab.state}")
        time.sleep(POLL_SECONDS)
