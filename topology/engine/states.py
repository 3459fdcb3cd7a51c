"""The states a node goes through, as the engine reports them (the database's ``NodeStatus`` has the same values).

The executor says which state a step leaves its node in; the recorder writes
it as it is, so no caller has to read a state out of a step's title.
"""
from __future__ import annotations

from enum import Enum


class NodeState(str, Enum):
    """One node's state: pending -> creating -> running | failed -> stopped.

    A running node whose container ended behind the engine's back is
    ``exited`` (its main process ended: a crash, the OOM killer, a kill) or
    ``gone`` (its container was removed, or dockerd lost it).
    """

    PENDING = "pending"
    CREATING = "creating"
    RUNNING = "running"
    FAILED = "failed"
    STOPPED = "stopped"
    EXITED = "exited"
    GONE = "gone"

    def __str__(self) -> str:
        return self.value
