"""Records what the engine reports: events and node states, written in batches (root side).

The engine reports from many threads at once; writing each report as its own
transaction would make the database the bottleneck of a 100-node build, so
reports are buffered and one writer thread flushes them every
``FLUSH_SECONDS`` (and at the end), on a single database connection. Each
flush hands the batch to :func:`topology.labstate.do_record`, which writes it
and publishes it (one ``events`` message and a ``node`` message per changed
node, see :mod:`topology.broadcast`), so browsers follow the build live.
"""
from __future__ import annotations

import threading
import time

from django.db import connection

from . import labstate
from .engine.executor import Report
from .models import Lab, LabEvent, NodeStatus

FLUSH_SECONDS = 0.2


class Recorder:
    """A thread-safe reporter for one operation of one lab; use it as a context manager."""

    def __init__(self, lab: Lab, operation: str, echo=None):
        self.lab = lab
        self.operation = operation
        self.echo = echo
        self._lock = threading.Lock()
        self._events: list[LabEvent] = []
        self._node_states: dict[str, tuple[str, str]] = {}
        self._stop = threading.Event()
        self._writer: threading.Thread | None = None
        self.flush_seconds = 0.0  # time spent writing and publishing batches, in all (the operation's log says it)

    def __enter__(self) -> "Recorder":
        self._writer = threading.Thread(target=self._write_loop, name=f"recorder-{self.lab.pk}", daemon=True)
        self._writer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._writer.join()
        self.flush()

    def _write_loop(self) -> None:
        try:
            while not self._stop.wait(FLUSH_SECONDS):
                self.flush()
        finally:
            connection.close()  # this thread's own connection

    def __call__(self, report: Report) -> None:
        # An unsaved row: labstate.do_record writes it with the rest of the batch.
        event = LabEvent(lab=self.lab, operation=self.operation, step=report.title[:200], node=report.node,
                         status=report.status, message=report.message, elapsed_ms=report.elapsed_ms,
                         index=report.index, total=report.total)
        with self._lock:
            self._events.append(event)
            if report.node and report.node_state is not None:
                state = NodeStatus(report.node_state.value)
                self._node_states[report.node] = (state, report.message if state == NodeStatus.FAILED else "")
        if self.echo:
            self.echo(report)

    def flush(self) -> None:
        """Write what is buffered."""
        with self._lock:
            events, self._events = self._events, []
            states, self._node_states = self._node_states, {}
        if not events and not states:
            return  # nothing new since the last flush: no transaction, no message
        started = time.perf_counter()
        labstate.do_record(self.lab, events, states)
        self.flush_seconds += time.perf_counter() - started
