"""Running an assignment's checks on a student's copy and recording what they saw (root side, exec worker).

:func:`run` is the body of the task ``topology.run_checks``: it reads the :class:`CheckRun` the web tier
made (a trial's own checks are in its row: the task carries the run's ID only), runs every check at once
(at most :data:`PARALLEL` commands at a time) in the copy's lab through
:func:`topology.node_exec.run_in_node`, or :func:`topology.probes.run_in_probe` for a check ``in`` "probe",
judges each with :func:`topology.checks.judge` and writes the results, the score and the state. It never
raises: whatever goes wrong becomes the run's ``failed`` state and its reason,
so a run never stays "running" because of a crash here.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections, connection
from django.utils import timezone

from . import checks as checklist
from . import coursefeed
from .models import LIVE_STATES, CheckRun, Lab
from .node_exec import run_in_node

log = logging.getLogger(__name__)

PARALLEL = checklist.PARALLEL


def _names(items: list) -> set[str]:
    return {c["node"] for c in items if isinstance(c, dict) and isinstance(c.get("node"), str)}


def _points(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= checklist.MAX_POINTS else 0


def _nothing_seen(answer: dict) -> bool:
    """A command that ended well and printed nothing at all."""
    return not answer.get("error") and answer.get("exit_code") == 0 and not answer.get("timed_out") \
        and not answer.get("output")


def _run_in_probe(lab_id: int, node_name: str, argv: list, timeout: float) -> dict:
    """``argv`` run in a probe container sharing the node's network (the answer of ``run_in_node``)."""
    try:
        from .probes import run_in_probe  # lazily: only checks run "in" a probe need it
    except ImportError as exc:
        return {"error": "no_probe", "detail": f"probes are not available on this host ({exc})"}
    return run_in_probe(lab_id, node_name, argv, timeout)


def _probe_session(lab_id: int, items: list):
    """One probe per node for the whole run (a probe costs about 0.3 s to make; a command in it 0.07 s),
    when any check runs "in" a probe; else None."""
    if not any(isinstance(c, dict) and c.get("in") == "probe" for c in items):
        return None
    try:
        from .probes import Session
    except ImportError:  # each probe check then says why on its own (_run_in_probe)
        return None
    return Session(lab_id)


def _run_one(lab_id: int, index: int, raw, session=None) -> dict:
    """One check run and judged: its result (``{index, description, node, points, passed, seen, ...}``, and
    ``student_seen``: what its student is told, never the pattern)."""
    try:
        normal, problems = checklist.validate_checks([raw], _names([raw]))
        check = normal[0] if normal else {}
        result = {"index": index, "description": str(check.get("description") or "")[:checklist.MAX_DESCRIPTION],
                  "node": check.get("node") if isinstance(check.get("node"), str) else "",
                  "points": _points(check.get("points")),
                  "hidden": check.get("hidden") is True, "passed": False, "seen": "", "exit_code": None,
                  "timed_out": False, "error": "", "student_seen": ""}
        if problems:  # saved before the rules were what they are (or changed by hand): never compiled
            result["error"] = f"{checklist.INVALID_PREFIX}: " + "; ".join(p.message for p in problems)
            result["seen"], result["student_seen"] = result["error"], checklist.INVALID_TOLD
            return result
        if check.get("in") != "probe":
            runner = run_in_node
        elif session is not None:
            def runner(lab_id, node, argv, timeout):
                return session.run(node, argv, timeout)
        else:
            runner = _run_in_probe
        answer = runner(lab_id, check["node"], check["argv"], check["timeout"])
        if check["expect"] != "exit0" and _nothing_seen(answer):
            # The Docker Engine now and then loses all of a fast command's output (docker-py#2042): for a
            # check that reads the output, an empty one is asked once more before it is judged.
            answer = runner(lab_id, check["node"], check["argv"], check["timeout"])
        error = f"{answer['error']}: {answer.get('detail', '')}" if answer.get("error") else ""
        output = (answer.get("output") or "")[:checklist.OUTPUT_KEPT]
        result.update(exit_code=answer.get("exit_code"), timed_out=bool(answer.get("timed_out")), error=error)
        result["passed"], result["seen"], result["student_seen"] = checklist.judge(
            check, result["exit_code"], output, result["timed_out"], error)
        return result
    except Exception as exc:  # one check's crash is its own failure, not the run's
        log.exception("check %s crashed", index)
        return {"index": index, "description": "", "node": "", "points": 0, "hidden": False, "passed": False,
                "seen": f"the check crashed: {exc}", "exit_code": None, "timed_out": False,
                "error": f"{checklist.CRASHED_PREFIX}: {exc}", "student_seen": checklist.INVALID_TOLD}
    finally:
        connection.close()  # each pool thread has its own database connection: do not leave it open


def _finish(run: CheckRun, state: str, reason: str = "", results: list | None = None) -> None:
    run.state, run.reason, run.finished = state, reason, timezone.now()
    if results is not None:
        run.results = results
        run.score = sum(r["points"] for r in results if r["passed"])
        run.max_score = sum(r["points"] for r in results)
    # Late by when the run was asked for (see topology.grading): a check clicked in time is on time.
    due = run.assignment.due
    run.late = due is not None and run.started is not None and run.started > due
    run.save(update_fields=["state", "reason", "finished", "results", "score", "max_score", "late"])


def _execute(run: CheckRun) -> None:
    # A trial's own checks are in its row (an instructor's own copy checked as is has none there); a graded
    # run always runs its assignment's checks, whatever its row holds.
    items = run.checks if run.trial and run.checks else run.assignment.checks
    if not isinstance(items, list) or not items:
        _finish(run, CheckRun.State.FAILED, "the assignment has no checks", [])
        return
    lab = Lab.objects.filter(topology_id=run.topology_id).first() if run.topology_id else None
    if lab is None or lab.state not in LIVE_STATES:
        state = lab.state if lab is not None else "gone"
        _finish(run, CheckRun.State.FAILED, f"the lab is not running (it is {state}): deploy it, then check again", [])
        return
    session = _probe_session(lab.pk, items)
    try:
        with ThreadPoolExecutor(max_workers=min(PARALLEL, len(items)), thread_name_prefix=f"checks-{run.pk}") as pool:
            results = list(pool.map(lambda pair: _run_one(lab.pk, *pair, session=session), enumerate(items)))
    finally:
        if session is not None:
            session.close()  # no probe outlives its run
    ran = [r for r in results if not r["error"]]  # a timed-out command ran: it is judged, not an error
    if not ran:
        reasons = sorted({r["error"] for r in results})
        _finish(run, CheckRun.State.FAILED, f"{checklist.NO_CHECK_RAN}: " + "; ".join(reasons)[:2000], results)
        return
    _finish(run, CheckRun.State.DONE, "", results)


def run(run_id: int) -> dict:
    """Run the checks of the :class:`CheckRun` ``run_id`` (a trial's own are in its ``checks``).

    Answers ``{"id", "state", "score", "max_score"}`` (or ``{"error"}`` when there is no such run).
    """
    close_old_connections()
    run_row = CheckRun.objects.select_related("assignment").filter(pk=int(run_id)).first()
    if run_row is None:
        return {"error": f"no check run {run_id}"}
    try:
        _execute(run_row)
    except Exception as exc:  # the task must never leave the run "running"
        log.exception("check run %s crashed", run_id)
        try:
            _finish(run_row, CheckRun.State.FAILED, f"the check run crashed: {exc}"[:2000])
        except Exception:  # the database itself is gone: nothing more to do here
            log.exception("could not record the crash of check run %s", run_id)
    try:
        coursefeed.check_run_changed(run_row.pk)
    except Exception:  # the live course page is news, not the record
        log.exception("course feed of check run %s", run_id)
    return {"id": run_row.pk, "state": run_row.state, "score": run_row.score, "max_score": run_row.max_score}
