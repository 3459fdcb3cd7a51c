"""The API's FRR tools: check a ``frr.conf`` with FRR's own checker, make a starting configuration for an frr
node, and save the running configurations of a lab's frr nodes into its document ("save configs").

The check and the running configurations are work for the root exec worker (:mod:`topology.frr_worker`, the
tasks ``topology.frr_check`` and ``topology.frr_running_configs`` on :func:`topology.workers.exec_queue`);
the view waits for the answer, bounded, and takes an exec slot like a command in a node. One check per user
at a time (429 otherwise). A starting configuration is a pure function of the saved document
(:func:`topology.frr.starting_config`). Saving goes through the same path as a PUT of the document
(:func:`topology.services.update_topology`: validated, every problem with its path).
"""
from __future__ import annotations

import copy
import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema, Status

from .. import frr, kinds, labstate, schema, services, tasks, workers
from ..models import LIVE_STATES, NodeStatus
from .routing import route_on
from .schemas import Detail, Errors
from .views import EXEC_REFUSALS, WORKER_GRACE, _ask_worker, _exec_turn, _invalid, _refused, _topology

router = Router(tags=["routing"])
route = route_on(router)

MAX_BODY_BYTES = frr.MAX_CONFIG_BYTES * 2 + 4096  # a configuration of the limit, JSON-escaped, and its key
CHECK_WAIT = 15 + 5 + WORKER_GRACE   # the checker's own timeout, the sandbox's start and removal, the worker
CHECK_RETRY_AFTER = 3
RUNNING_WAIT_PER_ROUND = 10 + 2      # frr_worker.RUNNING_TIMEOUT and a little, per round of parallel reads
RUNNING_PARALLEL = 4                 # frr_worker.RUNNING_PARALLEL


class CheckError(Schema):
    line: int | None
    message: str


class CheckOut(Schema):
    ok: bool
    errors: list[CheckError]


class FileOut(Schema):
    path: str
    content: str


class StartingConfigOut(Schema):
    files: list[FileOut]


class SavedConfig(Schema):
    node: str
    path: str
    diff: str
    changed: bool
    error: str = ""


def _body_schema(properties: dict, example: dict, required: list[str]) -> dict:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "properties": properties, "required": required, "example": example}}}}}


CHECK_BODY = _body_schema({"config": {"type": "string", "maxLength": frr.MAX_CONFIG_BYTES}},
                          {"config": "hostname f1\nrouter ospf\n ospf router-id 10.0.0.1\n"}, ["config"])
STARTING_BODY = _body_schema(
    {"node": {"type": "string"}, "daemons": {"type": "array", "items": {"type": "string", "enum": list(frr.CHOICES)}}},
    {"node": "f1", "daemons": ["ospf"]}, ["node", "daemons"])
SAVE_BODY = _body_schema({"dry_run": {"type": "boolean"}}, {"dry_run": True}, ["dry_run"])


def _json(request: HttpRequest, allowed: tuple[str, ...]) -> tuple[dict | None, list[schema.Problem]]:
    """The body as a JSON object with only ``allowed`` keys, or the problems."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or -1)
    except ValueError:
        length = -1
    if length > MAX_BODY_BYTES:
        return None, [schema.Problem("", f"the body is over {MAX_BODY_BYTES} bytes")]
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return None, [schema.Problem("", f"the body is over {MAX_BODY_BYTES} bytes")]
    try:
        data = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return None, [schema.Problem("", f"the body is not JSON: {exc}")]
    if not isinstance(data, dict):
        return None, [schema.Problem("", f"the body is a JSON object with {', '.join(allowed)}")]
    problems = [schema.Problem(key, f"unknown key (allowed: {', '.join(allowed)})") for key in data if key not in allowed]
    return data, problems


@route(["POST"], "/frr/check",
       response={200: CheckOut, 400: Errors, 429: Detail, 502: Detail, 503: Detail, 504: Detail},
       openapi_extra={**CHECK_BODY, "responses": {**EXEC_REFUSALS, 429: {
           **EXEC_REFUSALS[429], "description": "A check of yours runs already (one per user at a time), or too "
                                                "many commands run: " + EXEC_REFUSALS[429]["description"]}}},
       summary="Check a frr.conf with FRR's own checker (vtysh -C, in a throwaway container with no network); "
               "each error with its line")
def check(request, response: HttpResponse):
    data, problems = _json(request, ("config",))
    if data is not None and not problems:
        config = data.get("config")
        if not isinstance(config, str):
            problems.append(schema.Problem("config", "the frr.conf text, a string"))
        elif "\x00" in config:
            problems.append(schema.Problem("config", "must not contain a NUL character"))
        elif len(config.encode("utf-8", "surrogatepass")) > frr.MAX_CONFIG_BYTES:
            problems.append(schema.Problem("config", f"is larger than {frr.MAX_CONFIG_BYTES} bytes (256 KiB)"))
    if problems:
        return _invalid(problems)
    queue = workers.exec_queue(settings.TOPOLAB_QUEUE)
    # No lab's: its "lab" is the user's own (minus their ID), so that only the user's cap and the host's
    # count and one user's checks never take another's turn.
    release, refused = _exec_turn(request, response, lab=-request.auth.pk, queue=queue, seconds=CHECK_WAIT + 5,
                                  mark="frr-check", busy="a check of yours runs already; wait for it to end",
                                  retry_after=CHECK_RETRY_AFTER)
    if refused:
        return refused
    try:
        answer, error = _ask_worker(tasks.frr_check, [config], queue, CHECK_WAIT,
                                    who="exec worker (it runs commands in nodes)")
    finally:
        release()
    if error:
        return error
    if answer.get("error") == "bad_config":
        return _invalid([schema.Problem("config", answer.get("detail", "not a configuration"))])
    if answer.get("error"):
        return Status(502, {"detail": answer.get("detail", "the check could not run")})
    return answer


def _runs_frr(node) -> bool:
    """True for a node (of a document's JSON) whose kind runs FRR."""
    kind = kinds.KINDS.get(node.get("kind", kinds.DEFAULT)) if isinstance(node, dict) else None
    return bool(kind and kind.frr)


def _frr_node(document: dict, name) -> dict | None:
    for node in document.get("nodes", []):
        if _runs_frr(node) and node.get("name") == name:
            return node
    return None


@route(["POST"], "/topologies/{int:topology_id}/frr/starting-config",
       response={200: StartingConfigOut, 400: Errors, 404: Detail}, openapi_extra=STARTING_BODY,
       summary="A starting frr.conf and daemons file for an frr node of the saved document, running the chosen "
               "protocols (ospf, bgp, isis) on its addressed interfaces; nothing is saved")
def starting_config(request, topology_id: int):
    topology = _topology(request, topology_id)
    data, problems = _json(request, ("node", "daemons"))
    if data is not None and not problems:
        if _frr_node(topology.document, data.get("node")) is None:
            problems.append(schema.Problem("node", f"'{topology.name}' has no frr node named {data.get('node')!r}"))
        if frr.valid_choices(data.get("daemons")) is None:
            problems.append(schema.Problem("daemons", f"a non-empty list of {', '.join(frr.CHOICES)}"))
    if problems:
        return _invalid(problems)
    try:
        document = services.parse(topology.document)
    except services.ServiceError as exc:  # a document saved before a rule it breaks was made
        return _refused(exc)
    kind_of = {n.name: kinds.kind(n.kind) for n in document.nodes}
    return {"files": frr.starting_config(document, data["node"], frr.valid_choices(data["daemons"]), kind_of)}


def _saved_config(node: dict) -> str:
    for item in node.get("files", []):
        if isinstance(item, dict) and frr.same_path(str(item.get("path", ""))) == frr.CONF:
            return item.get("content", "")
    return ""


@route(["POST"], "/topologies/{int:topology_id}/frr/save",
       response={200: list[SavedConfig], 400: Errors, 404: Detail, 409: Detail, 429: Detail, 502: Detail,
                 503: Detail, 504: Detail},
       openapi_extra={**SAVE_BODY, "responses": EXEC_REFUSALS},
       summary="Save configs: each running frr node's running configuration against its frr.conf in the document "
               "(a diff); with dry_run false, saved into the document's files")
def save_configs(request, topology_id: int, response: HttpResponse):
    topology = _topology(request, topology_id)
    data, problems = _json(request, ("dry_run",))
    if data is not None and not problems and not isinstance(data.get("dry_run"), bool):
        problems.append(schema.Problem("dry_run", "true (show the diffs) or false (save the running configs)"))
    if problems:
        return _invalid(problems)
    lab = topology.lab
    if lab.state not in LIVE_STATES:
        return Status(409, {"detail": f"the lab is {lab.state}; deploy it first"})
    document = topology.document
    running_nodes = set(lab.nodes.filter(state=NodeStatus.RUNNING).exclude(container_id="")
                        .values_list("name", flat=True))
    names = [n["name"] for n in document.get("nodes", [])
             if _runs_frr(n) and n.get("name") in running_nodes]
    if not names:
        return []
    queue = workers.exec_queue(lab.queue)
    wait = RUNNING_WAIT_PER_ROUND * -(-len(names) // RUNNING_PARALLEL) + WORKER_GRACE
    release, refused = _exec_turn(request, response, lab=lab.pk, queue=queue, seconds=wait + 5)
    if refused:
        return refused
    try:
        answer, error = _ask_worker(tasks.frr_running_configs, [lab.pk, names], queue, wait,
                                    who="exec worker (it runs commands in nodes)")
    finally:
        release()
    if error:
        return error
    configs = answer.get("configs", {})
    results, changed = [], {}
    for name in names:
        got = configs.get(name, {"error": "no_answer", "detail": "the worker did not read it"})
        node = _frr_node(document, name)
        if "config" not in got:
            results.append({"node": name, "path": frr.CONF, "diff": "", "changed": False,
                            "error": got.get("detail") or got.get("error", "")})
            continue
        saved = _saved_config(node)
        diff = frr.config_diff(name, saved, got["config"])
        results.append({"node": name, "path": frr.CONF, "diff": diff, "changed": bool(diff), "error": ""})
        if diff:
            changed[name] = got["config"]
    if data["dry_run"] or not changed:
        return results
    updated = copy.deepcopy(document)
    for node in updated["nodes"]:
        if isinstance(node, dict) and node.get("name") in changed:
            files = node.setdefault("files", [])
            entry = next((f for f in files if isinstance(f, dict) and frr.same_path(str(f.get("path", ""))) == frr.CONF),
                         None)
            if entry is None:
                files.append({"path": frr.CONF, "content": changed[node["name"]]})
            else:
                entry["content"] = changed[node["name"]]
    try:
        services.update_topology(topology, updated)
    except services.ServiceError as exc:
        return _refused(exc)
    # The lab runs these configs already: its running document says so too (Apply changes would redo them).
    labstate.do_running_files(topology.lab, {name: {frr.CONF: config} for name, config in changed.items()})
    return results
