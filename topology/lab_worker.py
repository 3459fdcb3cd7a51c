"""Asking the lab worker of a running lab to do something now, and waiting for its answer (web side).

A live change (a link's state, a node's stop or start) is a task on the lab
worker's queue (``lab.queue``) that the web tier waits for: it must not be
sent when no worker listens there (:func:`require_worker`), and a worker that
does not answer in time, fails, or cannot be reached is a refusal that says
which (:func:`ask`). The caller holds the lab's lease and hands it over to the
task, which gives it back.
"""
from __future__ import annotations

import redis

from . import leases
from .errors import NoAnswer, NoWorker, Unavailable, WorkerFailed


def require_worker(lab) -> str:
    """The name of the worker alive on ``lab``'s queue; :class:`NoWorker` if there is none (nothing was sent)."""
    try:
        worker = leases.worker_alive(lab.queue) or ""
    except redis.RedisError as exc:
        raise Unavailable(f"Redis cannot be reached: {exc}") from exc
    if not worker:
        raise NoWorker(f"no lab worker is running for this host (queue {lab.queue}); nothing was changed")
    return worker


def ask(task, args: list, queue: str, wait: float, pending: str) -> dict:
    """Send ``task`` with ``args`` to ``queue`` and wait up to ``wait`` seconds for its answer (a dict).

    :class:`Unavailable` when the broker cannot be reached, :class:`NoAnswer` (saying ``pending``: what may
    still happen) after ``wait``, :class:`WorkerFailed` when the task itself crashed.
    """
    from celery.exceptions import TimeoutError as CeleryTimeout

    try:
        result = task.apply_async(args=args, queue=queue, expires=wait)
    except Exception as exc:  # the broker cannot be reached
        raise Unavailable(f"the lab worker's queue cannot be reached: {exc}") from exc
    try:
        return result.get(timeout=wait)
    except CeleryTimeout:
        raise NoAnswer(f"the lab worker did not answer in time; {pending}") from None
    except Exception as exc:  # the task itself crashed
        raise WorkerFailed(f"the lab worker failed: {exc}") from exc
    finally:
        try:
            result.forget()
        except Exception:  # noqa: BLE001 - a result left to expire is harmless
            pass
