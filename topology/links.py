"""The rules of changing one link of a topology, live when its lab runs (web side, unprivileged).

A change sets a link's administrative ``state`` ("up"/"down") and/or its
``impairment`` (an object, or None to clear it). It is checked against the
format (problems at ``state``/``impairment.<key>``), and, on a running lab,
against what the lab worker's kernel offers (:mod:`topology.engine.impair`,
the probe's answer kept in Redis by :mod:`topology.kernel`) before anything
changes. Then it is saved in the document, under the lab's lease (so no deploy
or destroy can interleave), and on a running lab the lab worker applies it to
both ends (:mod:`topology.live`) while this waits for its answer; should the
worker fail, the document is given its old link back.
"""
from __future__ import annotations

import copy
import json
import uuid

import redis
from django.conf import settings

from . import lab_worker, labstate, leases, schema, services, tasks
from .engine import impair
from .errors import Conflict, InvalidDocument, NotFound, NoWorker, ServiceError, Unavailable, WorkerFailed
from .models import BUSY_STATES, LIVE_STATES, Topology

LINK_WAIT = 30  # seconds the web tier waits for the lab worker to apply a change
CHANGE_KEYS = ("state", "impairment")


class NoSuchLink(NotFound):
    """The topology has no link at that end."""


def capabilities(queue: str | None = None) -> dict | None:
    """What the kernel of the lab worker of ``queue`` offers (its probe at start), or None if it never said."""
    try:
        raw = leases.client().get(impair.capabilities_key(settings.TOPOLAB_SITE, queue or settings.TOPOLAB_QUEUE))
    except redis.RedisError as exc:
        raise Unavailable(f"Redis cannot be reached: {exc}") from exc
    return json.loads(raw) if raw else None


def find(document: dict, end: str) -> int | None:
    """The index of the link of ``document`` (JSON) with endpoint ``end`` (``node:interface``), or None."""
    node, sep, interface = end.partition(":")
    if not sep:
        return None
    for i, link in enumerate(document.get("links", [])):
        for endpoint in link.get("endpoints", []):
            if endpoint.get("node") == node and endpoint.get("interface") == interface:
                return i
    return None


def _changed(document: dict, index: int, change) -> tuple[dict, list[schema.Problem]]:
    """The document with the change made to link ``index``, and the change's problems (paths of the change)."""
    if not isinstance(change, dict):
        return document, [schema.Problem("", "an object with 'state' and/or 'impairment'")]
    problems = [schema.Problem(key, "unknown key; a change has 'state' and/or 'impairment'")
                for key in change if key not in CHANGE_KEYS]
    if not any(key in change for key in CHANGE_KEYS):
        problems.append(schema.Problem("", "give 'state' and/or 'impairment'"))
    if problems:
        return document, problems
    new = copy.deepcopy(document)
    link = new["links"][index]
    if "state" in change:
        link["state"] = change["state"]
    if "impairment" in change:
        if change["impairment"] is None:
            link.pop("impairment", None)
        else:
            link["impairment"] = change["impairment"]
    result = services.validate(new)
    prefix = f"links[{index}]."
    for problem in result.errors:
        path = problem.path[len(prefix):] if problem.path.startswith(prefix) else problem.path
        problems.append(schema.Problem(path, problem.message))
    return (schema.dump(result.document) if result.ok else new), problems


def _save(topology: Topology, document: dict) -> None:
    Topology.objects.filter(pk=topology.pk).update(document=document)
    topology.document = document


def _ask(lab, operation: str, end: str) -> dict:
    """Send the change to the lab worker and wait for its answer."""
    return lab_worker.ask(tasks.change_link, [lab.pk, operation, end], lab.queue, LINK_WAIT,
                          "the change may still be applied")


def change(topology: Topology, end: str, body) -> dict:
    """Change the link of ``topology`` at ``end``: ``{"link": <the link as saved>, "applied": bool}``.

    Refused before anything changes: :class:`NoSuchLink` (404), :class:`InvalidDocument` (400, with the paths
    of the change, also when this host's kernel cannot do it), :class:`Conflict` (409, an operation runs),
    :class:`NoWorker` (503, a running lab and no lab worker).
    """
    index = find(topology.document, end)
    if index is None:
        raise NoSuchLink(f"'{topology.name}' has no link at '{end}' (give it as node:interface)")
    new, problems = _changed(topology.document, index, body)
    if problems:
        raise InvalidDocument("the change is not valid", problems)
    lab = topology.lab
    lab.refresh_from_db()
    if lab.state in BUSY_STATES:
        raise Conflict(f"the lab is busy ({lab.state}); wait until its current operation ends")
    live = lab.state in LIVE_STATES
    worker = ""
    if live:
        worker = lab_worker.require_worker(lab)
        offered = capabilities(lab.queue)
        if offered is None:
            raise NoWorker("the lab worker has not said what its kernel can do yet; nothing was changed")
        refused = impair.problems(new["links"][index].get("impairment"), offered)
        if refused:
            raise InvalidDocument("this host's kernel cannot do that", refused)
    operation = uuid.uuid4().hex
    if not leases.acquire(lab.pk, operation, ttl_ms=(LINK_WAIT + 10) * 1000, worker=worker):
        raise Conflict("another operation runs on the lab; wait until it ends")
    old = topology.document
    handed_over = False
    try:
        lab.refresh_from_db()
        if lab.state in BUSY_STATES or (lab.state in LIVE_STATES) != live:
            raise Conflict(f"the lab became {lab.state} meanwhile; try again")
        _save(topology, new)
        if not live:
            return {"link": new["links"][index], "applied": False}
        labstate.do_live_operation(lab, operation, f"change link {end}")
        handed_over = True  # the worker takes the lease over and gives it back
        answer = _ask(lab, operation, end)
    except BaseException:
        if topology.document is not old:
            _save(topology, old)
        raise
    finally:
        if not handed_over:
            leases.release(lab.pk, operation)
    if not answer.get("ok"):
        _save(topology, old)
        if answer.get("error") == "busy":
            raise Conflict(answer.get("detail", "another operation runs on the lab"))
        detail = answer.get("detail", answer.get("error"))
        undone = _put_back(lab, end, worker) if answer.get("error") == "failed" else ""
        raise WorkerFailed(f"the change could not be applied: {detail}; the document keeps the link as it was"
                           f"{undone}")
    return {"link": new["links"][index], "applied": True}


def _put_back(lab, end: str, worker: str) -> str:
    """After a change that failed half-way (one end changed, the other not), have the lab worker apply the
    document's link, as it was, to both ends again; what to add to the refusal: how that went."""
    operation = uuid.uuid4().hex
    if not leases.acquire(lab.pk, operation, ttl_ms=(LINK_WAIT + 10) * 1000, worker=worker):
        return "; the lab's kernel may hold part of the change (another operation took the lab before it was undone)"
    try:
        labstate.do_live_operation(lab, operation, f"undo the change of link {end}")
        answer = _ask(lab, operation, end)
    except ServiceError as exc:
        leases.release(lab.pk, operation)
        return f"; undoing it in the lab's kernel failed too ({exc.message}): deploy again to be sure"
    if not answer.get("ok"):
        return (f"; undoing it in the lab's kernel failed too ({answer.get('detail', answer.get('error'))}): "
                "deploy again to be sure")
    return "; the lab's kernel has it as it was again"
