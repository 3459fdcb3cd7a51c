"""The API's routes: small views over :mod:`topology.services` and :mod:`topology.labview`.

Documents in request bodies are read as raw bytes and checked by
:func:`topology.schema.loads` (size, syntax, then every rule), so the API
reports problems exactly as the command line and the editor do. Anything that
needs Docker (a command in a node, the image list) is a Celery task on the
root worker; the view waits for its answer and says 504 if none comes.
"""
from __future__ import annotations

import json
import math

import redis
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import Router, Status

from .. import courses, labview, leases, schema, services, tasks, workers
from ..errors import TooMany
from ..limits import EXEC_DEFAULT_TIMEOUT, EXEC_MAX_TIMEOUT, document_limits
from ..models import LIVE_STATES, NodeStatus, Topology
from ..schema.models import MAX_DOCUMENT_BYTES
from .routing import route_on
from .schemas import (
    DOCUMENT_BODY,
    EXEC_BODY,
    Detail,
    Errors,
    ExecOut,
    ImageOut,
    LabOut,
    OperationOut,
    TopologyFull,
    TopologyItem,
    ValidationOut,
)

router = Router(tags=["topologies"])

EXEC_MAX_ARGV_BYTES = 64 * 1024
WORKER_GRACE = 10  # seconds a view waits for a worker beyond the command's own timeout
SLOT_GRACE = 5     # seconds an exec slot outlives that wait (a crashed web process's slots lapse after it)
EXEC_REFUSALS = {
    429: {"description": "Too many commands run already: yours (`TOPOLAB_MAX_EXECS_PER_USER`), this lab's "
                         "(`TOPOLAB_MAX_EXECS_PER_LAB`) or this host's (`TOPOLAB_EXEC_CONCURRENCY`); the detail "
                         "says which. Retry after the `Retry-After` header's seconds.",
          "headers": {"Retry-After": {"description": "Seconds to wait before trying again.",
                                      "schema": {"type": "integer"}}}},
    503: {"description": "No exec worker is running for this host (nothing was run)."},
    504: {"description": "The exec worker runs but did not answer in time."},
}
IMAGES_WAIT = 20
IMAGES_CACHE_SECONDS = 30


route = route_on(router)


# -- helpers -------------------------------------------------------------------------------------------------
def _problems(problems) -> list[dict]:
    return [p.as_dict() for p in problems]


def _invalid(errors, warnings=()) -> Status:
    return Status(400, {"errors": _problems(errors), "warnings": _problems(warnings)})


def _refused(exc: services.ServiceError, warnings=()) -> Status:
    """A service's refusal as the API's answer: 400 lists every problem, others give a detail."""
    if exc.status == 400:
        return _invalid(exc.problems or [schema.Problem("", exc.message)], warnings)
    return Status(exc.status, {"detail": exc.message})


def _topology(request: HttpRequest, topology_id: int, *, supervised: bool = False) -> Topology:
    """The caller's topology, or 404 (another user's topology does not exist for them).

    ``supervised``: a read that a supervisor of the copy may make too (:func:`topology.courses.supervises`,
    an instructor of the course of its assignment), for the read-only editor; every change stays the owner's.
    """
    topology = Topology.objects.select_related("lab", "owner").filter(pk=topology_id).first()
    if topology is None or (topology.owner_id != request.auth.pk
                            and not (supervised and courses.supervises(request.auth, topology))):
        raise Http404("no such topology")
    return topology


def _item(topology: Topology) -> dict:
    description = topology.document.get("description", "")
    return {"id": topology.pk, "name": topology.name,
            "description": description if isinstance(description, str) else "",
            "node_count": topology.node_count, "link_count": topology.link_count,
            "lab": labview.summary(topology.lab), "created": topology.created, "updated": topology.updated}


def _full(topology: Topology) -> dict:
    """The topology with its document and the warnings kept when it was saved (a read never validates:
    a large document costs). A row saved before warnings were kept gets them now, once."""
    if topology.warnings is None:
        topology.warnings = _problems(services.validate(topology.document).warnings)
        # update(), not save(): the document has not changed, nor must its date.
        Topology.objects.filter(pk=topology.pk).update(warnings=topology.warnings)
    return {**_item(topology), "document": topology.document, "warnings": topology.warnings}


def _body(request: HttpRequest) -> bytes | schema.Problem:
    """The raw body, read no further than the document limit (a bigger one is refused unread)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or -1)
    except ValueError:
        length = -1
    if length > MAX_DOCUMENT_BYTES:
        return schema.Problem("", f"the document is {length} bytes; the limit is {MAX_DOCUMENT_BYTES} (5 MiB)")
    if hasattr(request, "_body"):
        return request._body
    # One byte more than the limit is enough for schema.loads to refuse it.
    return request.read(MAX_DOCUMENT_BYTES + 1)


def _document(request: HttpRequest) -> schema.Validation:
    """The validation of the body (the services take it as it is: a body is read and checked once)."""
    body = _body(request)
    if isinstance(body, schema.Problem):
        return schema.Validation(None, [body])
    return schema.loads(body, document_limits())


def _no_worker(who: str, queue: str) -> Status:
    """503: no worker process says it consumes ``queue`` (its heartbeat, :mod:`topology.workers`)."""
    return Status(503, {"detail": f"no {who} is running for this host (queue {queue}); start it, then try again"})


def _unreachable(exc: Exception) -> Status:
    return Status(504, {"detail": f"the lab worker's queue cannot be reached: {exc}"})


def _exec_turn(request: HttpRequest, response: HttpResponse, *, lab: int, queue: str, seconds: float,
               mark: str = "", busy: str = "", retry_after: int = 5):
    """The caller's turn to run something in the exec worker: ``(release, None)`` or ``(None, refusal)``.

    First, with ``mark`` (``ping-all``, ``frr-check``), the caller's one-at-a-time mark for it (refused with
    ``busy`` and ``retry_after``), then an exec slot for ``seconds`` against the caps per user, ``lab`` and
    host: 429 with Retry-After when either is taken, 504 when Redis cannot be reached. ``release()`` gives
    both back.
    """
    held = None
    try:
        if mark:
            held = leases.take_user_mark(request.auth.pk, mark, ttl_ms=int(seconds * 1000), busy=busy,
                                         retry_after=retry_after)
        slot = workers.take_exec_slot(user=request.auth.pk, lab=lab, queue=queue, seconds=seconds)
    except (TooMany, workers.ExecCapReached) as exc:
        if held:
            held.release()
        response["Retry-After"] = str(exc.retry_after)
        return None, Status(429, {"detail": exc.message})
    except redis.RedisError as exc:  # Redis, the broker too, cannot be reached
        if held:
            held.release()
        return None, _unreachable(exc)

    def release() -> None:
        slot.release()
        if held:
            held.release()

    return release, None


def _ask_worker(task, args: list, queue: str, wait: float, who: str = "lab worker"):
    """Send ``task`` to ``queue`` and wait for its answer: (answer, None) or (None, error response).

    503 at once when no worker (``who``) runs for ``queue``; 504 when one runs but does not answer in ``wait``.
    """
    from celery.exceptions import TimeoutError as CeleryTimeout

    try:
        if leases.worker_alive(queue) is None:
            return None, _no_worker(who, queue)
    except redis.RedisError as exc:  # Redis, the broker too, cannot be reached
        return None, _unreachable(exc)
    try:
        # expires: a worker that comes up later must not run a request nobody waits for any more.
        result = task.apply_async(args=args, queue=queue, expires=wait)
    except Exception as exc:  # noqa: BLE001 - the broker cannot be reached
        return None, _unreachable(exc)
    try:
        answer = result.get(timeout=wait)
    except CeleryTimeout:
        return None, Status(504, {"detail": f"no worker answered in time ({task.name}); it may be overloaded"})
    except Exception as exc:  # noqa: BLE001 - the task itself crashed
        return None, Status(502, {"detail": f"the lab worker failed: {exc}"})
    finally:
        try:
            result.forget()
        except Exception:  # noqa: BLE001 - a result left to expire is harmless
            pass
    return answer, None


# -- topologies ----------------------------------------------------------------------------------------------
@route(["GET"], "/topologies", response={200: list[TopologyItem]}, summary="List your topologies")
def list_topologies(request):
    rows = Topology.objects.filter(owner=request.auth).select_related("lab").order_by("name")
    return [_item(t) for t in rows]


@route(["POST"], "/topologies", response={201: TopologyFull, 400: Errors, 409: Detail, 429: Detail, 503: Detail},
       openapi_extra=DOCUMENT_BODY,
       summary="Create a topology from a topolab/v1 document")
def create_topology(request):
    result = _document(request)
    if not result.ok:
        return _invalid(result.errors, result.warnings)
    try:
        topology = services.import_topology(request.auth, result)
    except services.ServiceError as exc:
        return _refused(exc, result.warnings)
    except IntegrityError:  # the same name created by a concurrent request
        return _invalid([schema.Problem("name", f"you already have a topology named '{result.document.name}'")],
                        result.warnings)
    return Status(201, _full(topology))


@route(["GET"], "/topologies/{int:topology_id}", response={200: TopologyFull, 404: Detail},
       summary="A topology: its document, metadata, lab summary and warnings")
def get_topology(request, topology_id: int):
    return _full(_topology(request, topology_id, supervised=True))


@route(["PUT"], "/topologies/{int:topology_id}", response={200: TopologyFull, 400: Errors, 404: Detail, 409: Detail},
       openapi_extra=DOCUMENT_BODY, summary="Replace a topology's document (a new name renames it); "
       "?expected=<its updated> refuses with 409 if it was saved since")
def put_topology(request, topology_id: int, expected: str | None = None):
    topology = _topology(request, topology_id)
    result = _document(request)
    if not result.ok:
        return _invalid(result.errors, result.warnings)
    try:
        services.update_topology(topology, result, expected=expected)
    except services.ServiceError as exc:
        return _refused(exc, result.warnings)
    except IntegrityError:
        return _invalid([schema.Problem("name", f"you already have a topology named '{result.document.name}'")],
                        result.warnings)
    topology.refresh_from_db()
    return _full(topology)


@route(["DELETE"], "/topologies/{int:topology_id}", response={204: None, 404: Detail, 409: Detail},
       summary="Delete a topology (its lab must be stopped: destroy it first)")
def delete_topology(request, topology_id: int):
    topology = _topology(request, topology_id)
    try:
        services.delete_topology(topology)
    except services.ServiceError as exc:
        return _refused(exc)
    return Status(204, None)


@route(["GET"], "/topologies/{int:topology_id}/export", response={200: dict, 404: Detail},
       summary="The bare topolab/v1 document, as a download")
def export_topology(request, topology_id: int):
    topology = _topology(request, topology_id, supervised=True)
    text = json.dumps(topology.document, indent=2, ensure_ascii=False) + "\n"
    try:
        body = text.encode("utf-8")
    except UnicodeEncodeError:
        # A document saved before lone surrogates were refused: written with \u escapes, it is still JSON.
        body = (json.dumps(topology.document, indent=2, ensure_ascii=True) + "\n").encode("ascii")
    response = HttpResponse(body, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{topology.name}.json"'
    return response


@route(["POST"], "/validate", response={200: ValidationOut}, openapi_extra=DOCUMENT_BODY,
       summary="Errors and warnings of a document, saving nothing")
def validate(request):
    return _document(request).as_dict()


# -- labs ----------------------------------------------------------------------------------------------------
@route(["POST"], "/topologies/{int:topology_id}/deploy",
       response={202: OperationOut, 400: Errors, 404: Detail, 409: Detail, 429: Detail, 503: Detail}, tags=["labs"],
       summary="Queue the build of the topology's lab")
def deploy(request, topology_id: int):
    return _operate(request, topology_id, services.request_deploy)


@route(["POST"], "/topologies/{int:topology_id}/destroy",
       response={202: OperationOut, 404: Detail, 409: Detail, 503: Detail},
       tags=["labs"], summary="Queue the teardown of the topology's lab")
def destroy(request, topology_id: int):
    return _operate(request, topology_id, services.request_destroy)


def _operate(request, topology_id: int, start):
    """Start an operation on the lab of one of the user's topologies: 202, or why not."""
    topology = _topology(request, topology_id)
    try:
        operation = start(topology.lab)
    except services.ServiceError as exc:
        return _refused(exc)
    return Status(202, {"state": topology.lab.state, "operation": operation})


@route(["GET"], "/topologies/{int:topology_id}/lab", response={200: LabOut, 404: Detail}, tags=["labs"],
       summary="The lab's state, its nodes and interfaces, and the events of its current or last operation")
def lab(request, topology_id: int):
    return labview.detail(_topology(request, topology_id, supervised=True))


def _exec_request(request) -> tuple[list[str] | None, float, list[schema.Problem]]:
    """(argv, timeout, problems) from an exec body."""
    try:
        body = request.body
    except RequestDataTooBig:  # over Django's DATA_UPLOAD_MAX_MEMORY_SIZE
        return None, 0, [schema.Problem("", "the request body is too large")]
    if len(body) > EXEC_MAX_ARGV_BYTES * 2:
        return None, 0, [schema.Problem("", f"the request body is larger than {EXEC_MAX_ARGV_BYTES * 2} bytes")]
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None, 0, [schema.Problem("", 'not valid JSON: send {"argv": ["cmd", "arg", ...]}')]
    if not isinstance(data, dict):
        return None, 0, [schema.Problem("", 'the body is a JSON object: {"argv": ["cmd", "arg", ...]}')]
    problems = [schema.Problem(key, "unknown key (allowed: argv, timeout)") for key in data
                if key not in ("argv", "timeout")]
    argv = data.get("argv")
    if not isinstance(argv, list) or not argv:
        problems.append(schema.Problem("argv", "a non-empty list of strings: the command and its arguments"))
        argv = None
    else:
        for i, arg in enumerate(argv):
            if not isinstance(arg, str):
                problems.append(schema.Problem(f"argv[{i}]", "must be a string"))
            elif "\x00" in arg:
                problems.append(schema.Problem(f"argv[{i}]", "must not contain a NUL character"))
        if not problems and argv[0] == "":
            problems.append(schema.Problem("argv[0]", "the command must not be empty"))
        if not problems and sum(len(a.encode("utf-8", "surrogatepass")) for a in argv) > EXEC_MAX_ARGV_BYTES:
            problems.append(schema.Problem("argv", f"longer than {EXEC_MAX_ARGV_BYTES} bytes in all"))
    timeout = data.get("timeout", EXEC_DEFAULT_TIMEOUT)
    if (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout)
            or not 1 <= timeout <= EXEC_MAX_TIMEOUT):
        problems.append(schema.Problem("timeout", f"seconds, a number from 1 to {EXEC_MAX_TIMEOUT}"))
        timeout = EXEC_DEFAULT_TIMEOUT
    return argv, float(timeout), problems


@route(["POST"], "/topologies/{int:topology_id}/nodes/{name}/exec",
       response={200: ExecOut, 400: Errors, 404: Detail, 409: Detail, 429: Detail, 502: Detail, 503: Detail,
                 504: Detail}, tags=["labs"],
       openapi_extra={**EXEC_BODY, "responses": EXEC_REFUSALS},
       summary="Run a command (an argv list, no shell) in a running node")
def exec_in_node(request, topology_id: int, name: str, response: HttpResponse):
    topology = _topology(request, topology_id)
    argv, timeout, problems = _exec_request(request)
    if problems:
        return _invalid(problems)
    lab = topology.lab
    node = lab.nodes.filter(name=name).first()
    if node is None and name not in [n.get("name") for n in topology.document.get("nodes", [])]:
        return Status(404, {"detail": f"'{topology.name}' has no node named '{name}'"})
    if lab.state not in LIVE_STATES or node is None or node.state != NodeStatus.RUNNING or not node.container_id:
        if lab.state in LIVE_STATES:  # a degraded lab: this node exited or vanished
            why = f"it is {node.state if node else 'not deployed'}; destroy the lab, then deploy it again"
        else:
            why = f"the lab is {lab.state}; deploy it first"
        return Status(409, {"detail": f"'{name}' is not running ({why})"})
    # Commands run on a worker of their own, in slots per user, lab and host: one user's long commands can
    # neither take the lab worker's threads from deploys and destroys nor all of the exec worker's.
    queue = workers.exec_queue(lab.queue)
    wait = timeout + WORKER_GRACE
    release, refused = _exec_turn(request, response, lab=lab.pk, queue=queue, seconds=wait + SLOT_GRACE)
    if refused:
        return refused
    try:
        answer, error = _ask_worker(tasks.exec_in_node, [lab.pk, name, argv, timeout], queue, wait,
                                    who="exec worker (it runs commands in nodes)")
    finally:
        release()
    if error:
        return error
    if answer.get("error") == "no_node":
        return Status(404, {"detail": answer.get("detail", "no such node")})
    if answer.get("error") == "exec_failed":  # the node runs, but Docker failed to run the command
        return Status(502, {"detail": answer.get("detail", "the command could not be run")})
    if answer.get("error"):
        return Status(409, {"detail": answer.get("detail", "the node is not running")})
    return answer


# -- images --------------------------------------------------------------------------------------------------
@route(["GET"], "/images", response={200: list[ImageOut], 502: Detail, 503: Detail, 504: Detail}, tags=["images"],
       summary="The node images on this host, by kind")
def images(request):
    key = f"topolab:{settings.TOPOLAB_SITE}:images:{settings.TOPOLAB_QUEUE}"
    found = cache.get(key)
    if found is None:
        answer, error = _ask_worker(tasks.list_images, [], settings.TOPOLAB_QUEUE, IMAGES_WAIT)
        if error:
            return error
        if answer.get("error"):
            return Status(502, {"detail": answer["error"]})
        found = answer["images"]
        cache.set(key, found, IMAGES_CACHE_SECONDS)
    return found
