"""The refusals of the web tier's services: each says why, and ``status`` is the HTTP answer that says it.

Here rather than in :mod:`topology.services` (which re-exports them, and where
callers name them) so that the modules services call, such as
:mod:`topology.quotas`, can raise them without importing services back.
"""
from __future__ import annotations

from . import schema


class ServiceError(Exception):
    """A request was refused; ``status`` is the HTTP status that says why, ``problems`` the details."""

    status = 400

    def __init__(self, message: str, problems: list[schema.Problem] | None = None):
        self.message = message
        self.problems = problems or []
        super().__init__(message)


class InvalidDocument(ServiceError):
    """The document breaks the format's rules (every problem is listed)."""

    status = 400


class Conflict(ServiceError):
    """The lab's state does not allow this now (another operation runs, or it already runs)."""

    status = 409


class NoWorker(ServiceError):
    """No lab worker is running for the lab's host: nothing was queued, nothing changed."""

    status = 503


class Unavailable(ServiceError):
    """Something the request needs (Redis, which holds the locks and leases) cannot be reached: nothing changed."""

    status = 503


class NotFound(ServiceError):
    """Not there, or not the caller's to see (existence is not revealed)."""

    status = 404


class NoAnswer(ServiceError):
    """A worker took the request but did not answer in time (what it did meanwhile is said in the message)."""

    status = 504


class WorkerFailed(ServiceError):
    """A worker took the request and could not carry it out (the message says what it left as it was)."""

    status = 502


class TooMany(ServiceError):
    """The caller has as many requests of this kind running as one user may: one ends first.

    ``retry_after``: the seconds an answer's ``Retry-After`` says, when there is a sensible figure.
    """

    status = 429

    def __init__(self, message: str, problems: list[schema.Problem] | None = None, retry_after: int | None = None):
        super().__init__(message, problems)
        self.retry_after = retry_after
