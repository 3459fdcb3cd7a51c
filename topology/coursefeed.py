"""The live news of a course for its instructors' course page (``/ws/courses/<id>/``): one cell of the
student x assignment grid at a time (web side and root side both call it; it only publishes).

Filled in by the course-page work; until then these are no-ops that callers may already use.
"""
from __future__ import annotations


def check_run_changed(run_id: int) -> None:
    """A :class:`topology.models.CheckRun` started or finished: its student's cell changed."""


def lab_changed(lab_id: int) -> None:
    """A lab's state changed: if it is a copy of an assignment, its student's cell changed."""
