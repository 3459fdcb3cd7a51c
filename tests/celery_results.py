"""A stand-in for Celery's AsyncResult, for the unit tests of views that send a task and wait for its answer."""
from __future__ import annotations


class FakeResult:
    """An AsyncResult whose answer is given in advance: ``value``, or ``error`` raised by :meth:`get` (an
    exception given as the value is raised too); ``during`` runs inside the wait. It keeps how long it was
    waited for (``waited``) and whether it was forgotten."""

    def __init__(self, value=None, error: BaseException | None = None, during=None):
        if error is None and isinstance(value, BaseException):
            value, error = None, value
        self.value, self.error, self.during = value, error, during
        self.waited, self.forgotten = None, False

    def get(self, timeout=None, propagate=True):
        self.waited = timeout
        if self.during:
            self.during()
        if self.error:
            raise self.error
        return self.value

    def forget(self):
        self.forgotten = True
