"""Records what the engine reports: events and node states, written in batches (root side).

The engine reports from many threads at once; writing each report as its own
transaction would make the database the bottleneck of a 100-node build, so
reports are buffered and one writer thread flushes them every
``FLUSH_SECONDS`` (and at the end), on a single database connection. Each
flush then publishes what it wrote to the lab's channel-layer group (one
``events`` message and a ``node`` message per changed node, see
:mod:`topology.events`), so browsers follow the build live.
"""
from __future__ import annotations

import threading

from django.db import connection

from . import events as live
from .engine.executor import Report
from .models import Lab, LabEvent, LabNode, NodeStatus

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
        event = LabEvent(lab=self.lab, operation=self.operation, step=report.step[:200], node=report.node,
                         status=report.status, message=report.message, elapsed_ms=report.elapsed_ms,
                         index=report.index, total=report.total)
        with self._lock:
            self._events.append(event)
            state = self._node_state(report) if report.node else None
            if state:
                self._node_states[report.node] = (state, report.message if state == NodeStatus.FAILED else "")
        if self.echo:
            self.echo(report)

    @staticmethod
    def _node_state(report: Report) -> str | None:
        if report.status == "failed":
            return NodeStatus.FAILED
        if report.step.startswith("create ") and report.status == "ok":
            return NodeStatus.CREATING
        if report.step.startswith("remove ") and report.status == "ok":
            return NodeStatus.STOPPED
        return None

    def flush(self) -> None:
        """Write what is buffered."""
        with self._lock:
            events, self._events = self._events, []
            states, self._node_states = self._node_states, {}
        if events:
            # With RETURNING (SQLite 3.35+, PostgreSQL) the objects get their ids, which clients need.
            events = LabEvent.objects.bulk_create(events)
        for node, (state, reason) in states.items():
            LabNode.objects.filter(lab=self.lab, name=node).update(state=state, reason=reason)
        if events or states:
            live.publish_many(self.lab.pk, [live.events_message(events)]
                              + [live.node_message(node, state, reason) for node, (state, reason) in states.items()])
