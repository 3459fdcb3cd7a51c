"""Asking for check runs: "check my work", an instructor's re-run and trial, a whole class's re-run (web side).

:func:`request_run` makes the :class:`CheckRun` (state running; a trial's own checks, validated, in its
``checks``) and sends ``topology.run_checks(run_id)`` to the exec worker of the copy's host
(:func:`topology.workers.exec_queue`), after the row is committed; the root side
(:mod:`topology.check_runner`) runs the checks and records them. Two limits, in Redis:

- one run at a time per user whose work is checked (a key naming the run, with a TTL as long as the run
  may take: a crashed web process's key lapses; a key whose run has finished is taken over at once);
- at most ``TOPOLAB_EXEC_CONCURRENCY`` runs queued or running per host (its exec worker's pool size), a
  sorted set of run IDs by when they lapse. A class re-run is not refused by it, but counts in it.

Refusals are :class:`topology.services.ServiceError` subclasses whose ``status`` is the HTTP answer.
"""
from __future__ import annotations

import math

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import checks as checklist
from . import coursefeed, courses, leases, services, tasks, workers
from .errors import NoAnswer, Unavailable
from .models import LIVE_STATES, Assignment, CheckRun, CourseMember, Topology
from .schema import Problem

QUEUE_GRACE = 30  # seconds a run may wait in the exec queue, and the worker's overhead, beyond its checks' own time
BULK_EXPIRES = 15 * 60  # seconds a class re-run's task may wait for the exec worker before it is dropped

TAKE_HOST_SLOT_SCRIPT = """
local now = redis.call('time')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('zremrangebyscore', KEYS[1], '-inf', now)
if tonumber(ARGV[3]) > 0 and redis.call('zcard', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('zadd', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('pexpire', KEYS[1], math.max(tonumber(ARGV[2]), redis.call('pttl', KEYS[1])))
return 1
"""


class NotACopy(services.ServiceError):
    """Only a copy of an assignment has checks."""

    status = 400


class NoChecks(services.ServiceError):
    """The assignment has no checks (yet), or a trial gave none."""

    status = 400


class InvalidChecks(services.ServiceError):
    """A trial's checks break the rules; every problem is listed with its path."""

    status = 400


class Busy(services.ServiceError):
    """A run of this user's work is going on, or the host runs as many as it may: try again shortly."""

    status = 429


def node_names(document) -> set[str]:
    """The node names of a topolab/v1 document (what a check's ``node`` may name)."""
    nodes = document.get("nodes") if isinstance(document, dict) else None
    return {n["name"] for n in nodes or [] if isinstance(n, dict) and isinstance(n.get("name"), str)}


def _user_key(user_id: int) -> str:
    return f"topolab:{settings.TOPOLAB_SITE}:checks:user:{int(user_id)}"


def _host_key(queue: str) -> str:
    return f"topolab:{settings.TOPOLAB_SITE}:checks:host:{queue}"


def _still_running(run_id) -> bool:
    """False only when the run named by a key exists and has finished (a key of a missing run may be
    one being made right now, in a transaction not yet committed)."""
    try:
        state = CheckRun.objects.filter(pk=int(run_id)).values_list("state", flat=True).first()
    except (TypeError, ValueError):
        return True
    return state is None or state == CheckRun.State.RUNNING


def _take_user_lock(client: redis.Redis, user_id: int, run_id: int, ttl_ms: int) -> None:
    key = _user_key(user_id)
    for _ in range(2):
        if client.set(key, str(run_id), nx=True, px=ttl_ms):
            return
        holder = client.get(key)
        if holder is None or not _still_running(holder):
            client.eval(leases.RELEASE_SCRIPT, 1, key, holder or "")  # only if it still names that run
            continue
        break
    raise Busy("a check of this work is already running; wait for it to finish")


def _take_host_slot(client: redis.Redis, queue: str, run_id: int, ttl_ms: int, *, capped: bool) -> None:
    key = _host_key(queue)
    members = client.zrange(key, 0, -1)
    if members:  # runs that finished before their slot lapsed give it back now
        ids = [int(m) for m in members if m.isdigit()]
        done = CheckRun.objects.filter(pk__in=ids).exclude(state=CheckRun.State.RUNNING).values_list("pk", flat=True)
        if done:
            client.zrem(key, *[str(pk) for pk in done])
    cap = max(1, settings.TOPOLAB_EXEC_CONCURRENCY) if capped else 0
    if not client.eval(TAKE_HOST_SLOT_SCRIPT, 1, key, str(run_id), ttl_ms, cap):
        raise Busy(f"this host already runs {cap} check runs, as many as it runs at once; try again in a moment")


def _release(client: redis.Redis, run: CheckRun, queue: str) -> None:
    try:
        client.eval(leases.RELEASE_SCRIPT, 1, _user_key(run.user_id), str(run.pk))
        client.zrem(_host_key(queue), str(run.pk))
    except redis.RedisError:
        pass  # both lapse by themselves


def _fail(run: CheckRun, reason: str) -> None:
    """Record a run that will not finish (only while it still runs: a late answer from the worker wins)."""
    now = timezone.now()
    due = run.assignment.due  # late by when it was asked for, as topology.grading counts it
    CheckRun.objects.filter(pk=run.pk, state=CheckRun.State.RUNNING).update(
        state=CheckRun.State.FAILED, reason=reason, finished=now, late=due is not None and run.started > due)
    run.refresh_from_db()


def _tell(run: CheckRun) -> None:
    """The course page's cell of this run's student changed (news only: its failure changes nothing)."""
    try:
        coursefeed.check_run_changed(run.pk)
    except Exception:  # noqa: BLE001 - the live course page is news, not the record
        pass


def _checks_for(topology: Topology, checks) -> list[dict]:
    """The checks to run (a trial's own, validated against the template; else the assignment's), or refused."""
    assignment = topology.assignment
    if checks is None:
        saved = assignment.checks if isinstance(assignment.checks, list) else []
        if not saved:
            raise NoChecks("this assignment has no checks yet", [Problem("checks", "no checks")])
        normal, _ = checklist.validate_checks(saved, node_names(assignment.template))
        return normal
    normal, problems = checklist.validate_checks(checks, node_names(assignment.template))
    if problems:
        raise InvalidChecks("the checks have errors", problems)
    if not normal:
        raise NoChecks("give at least one check", [Problem("checks", "must not be empty")])
    return normal


def _is_instructor(user_id: int, assignment: Assignment) -> bool:
    return CourseMember.objects.filter(course_id=assignment.course_id, user_id=user_id,
                                       role=CourseMember.Role.INSTRUCTOR).exists()


def _start(topology: Topology, requested_by, checks, trial: bool, *, capped: bool, expires: float | None):
    """Make the run and send its task after commit: ``(run, [AsyncResult once sent], queue, seconds)``."""
    if topology.assignment_id is None:
        raise NotACopy("this topology is not a copy of an assignment: it has no checks",
                       [Problem("", "not an assignment copy")])
    assignment = topology.assignment
    normal = _checks_for(topology, checks)
    lab = getattr(topology, "lab", None)
    if lab is None:
        raise services.Conflict("the lab is not running (it has never been deployed): deploy it, then check again")
    lab.refresh_from_db()
    if lab.state not in LIVE_STATES:
        raise services.Conflict(f"the lab is not running (it is {lab.state}): deploy it, then check again")
    queue = workers.exec_queue(lab.queue)
    seconds = checklist.longest_run(normal) + QUEUE_GRACE
    # A queued run (a class re-run's) holds its places while it waits too; one that ends gives them back.
    ttl_ms = int((seconds + (expires or 0)) * 1000)
    trial = bool(trial or topology.owner.is_superuser or _is_instructor(topology.owner_id, assignment))
    client = leases.client()
    try:
        if leases.worker_alive(queue) is None:
            raise services.NoWorker(f"no exec worker is running for this host (queue {queue}); nothing was run: "
                                    "start it, then try again")
        sent: list = []
        with transaction.atomic():
            # A trial's own checks travel in the row, validated above; the task carries the run's ID only.
            run = CheckRun.objects.create(assignment=assignment, topology=topology, user_id=topology.owner_id,
                                          requested_by=requested_by, trial=trial,
                                          checks=normal if checks is not None else [])
            _take_user_lock(client, topology.owner_id, run.pk, ttl_ms)
            try:
                _take_host_slot(client, queue, run.pk, ttl_ms, capped=capped)
            except Exception:
                client.eval(leases.RELEASE_SCRIPT, 1, _user_key(topology.owner_id), str(run.pk))
                raise

            def send() -> None:
                try:
                    sent.append(tasks.run_checks.apply_async(args=[run.pk], queue=queue, expires=expires or seconds))
                except Exception as exc:  # noqa: BLE001 - the broker cannot be reached: the run will not happen
                    _fail(run, f"the exec worker's queue cannot be reached: {exc}")
                    _release(client, run, queue)
                _tell(run)

            transaction.on_commit(send)
    except redis.RedisError as exc:
        raise Unavailable(f"Redis cannot be reached, so nothing was run: {exc}") from exc
    if run.state == CheckRun.State.FAILED:
        raise Unavailable(run.reason)
    return run, sent, queue, seconds


def request_run(topology: Topology, requested_by, *, checks=None, trial: bool = False, wait: bool = True) -> CheckRun:
    """Run the checks of an assignment copy (``checks``: a trial's own unsaved ones, validated here).

    With ``wait``, waits for the run to finish (bounded by its checks' timeouts) and returns it finished;
    without, returns it running. The copy's owner being an instructor of the course makes it a trial.
    """
    run, sent, queue, seconds = _start(topology, requested_by, checks, trial, capped=True, expires=None)
    if not wait or not sent:  # not sent yet: the caller's own transaction has not committed
        return run
    from celery.exceptions import TimeoutError as CeleryTimeout

    client = leases.client()
    result = sent[0]
    try:
        result.get(timeout=seconds, propagate=True)
    except CeleryTimeout:
        _fail(run, f"the exec worker did not finish the checks in {math.ceil(seconds)} s")
        if run.state == CheckRun.State.FAILED:
            _tell(run)
            raise NoAnswer(run.reason) from None
    except Exception as exc:  # noqa: BLE001 - the task itself crashed (the runner records its own failures)
        _fail(run, f"the exec worker failed: {exc}")
        _tell(run)
    finally:
        _release(client, run, queue)
        try:
            result.forget()
        except Exception:  # noqa: BLE001 - a result left to expire is harmless
            pass
    run.refresh_from_db()
    return run


def rerun_class(assignment: Assignment, requested_by) -> dict:
    """Queue (not wait for) a run on every student's copy whose lab runs.

    ``{"queued": [usernames], "skipped": [{"username", "reason"}]}``; every enrolled student is in one.
    """
    students = (CourseMember.objects.filter(course_id=assignment.course_id, role=CourseMember.Role.STUDENT)
                .select_related("user").order_by("user__username"))
    copies = {t.owner_id: t for t in Topology.objects.filter(assignment=assignment).select_related("lab", "owner")}
    queued, skipped = [], []
    for member in students:
        username = member.user.username
        copy = copies.get(member.user_id)
        if copy is None:
            skipped.append({"username": username, "reason": "has not started the assignment"})
            continue
        lab = getattr(copy, "lab", None)
        if lab is None or lab.state not in LIVE_STATES:
            skipped.append({"username": username,
                            "reason": f"the lab is not running (it is {lab.state if lab else 'never deployed'})"})
            continue
        try:
            _start(copy, requested_by, None, False, capped=False, expires=BULK_EXPIRES)
        except services.NoWorker:
            raise  # nothing of the class can run: say so once
        except services.ServiceError as exc:
            skipped.append({"username": username, "reason": exc.message})
            continue
        queued.append(username)
    return {"queued": queued, "skipped": skipped}


def may_check(user, topology: Topology) -> bool:
    """The copy's owner checks their work; a supervisor (an instructor of its course) re-runs it."""
    return topology.owner_id == user.pk or courses.supervises(user, topology)
