"""``/ws/topologies/<id>/nodes/<name>/logs``: a node's own output, from its start (read-only)."""
from __future__ import annotations

from .relayed import RelayedTerminalConsumer


class LogsConsumer(RelayedTerminalConsumer):
    """A node's container output (what its main process prints), from the start, read-only: for the
    topology's owner and its supervisors alike (:meth:`RelayedTerminalConsumer.allowed`)."""

    open_kind = "logs.open"
