"""The document as containerlab YAML and back, saving nothing: the editor's text view (issue 13) converts with these.

``POST /convert/to-clab`` takes a topolab/v1 document as its body (read and checked as ``POST /validate``
reads it: 400 with every problem and its path) and answers ``{"text": the .clab.yml, "warnings": [{path,
message}]}``; each warning names a part of the document that the containerlab file does not carry: the
export's own warnings, and any part that differs when the file is read back.

``POST /convert/from-clab`` takes ``{"text": a .clab.yml, "document": the document it was written from
(optional)}`` and answers ``{"document", "warnings"}`` or 400 ``{"errors", "warnings"}``; each problem and
warning is an import's (file, line, path, message), as ``POST /topologies/import`` reports them, with the line
of the text it is about. A single text has no files beside it: the files its ``binds`` name (a node's files, as
the export writes them) are the given document's, and so are the annotations, which the file does not carry.

The conversions are :mod:`topology.interop`'s, the same the import and the export use.
"""
from __future__ import annotations

import json
import time
from contextlib import contextmanager
from typing import Any, Iterator

import redis
from django.conf import settings
from django.http import HttpRequest
from ninja import Router, Schema, Status

from .. import interop, kinds, leases, schema
from ..errors import TooMany
from ..limits import document_limits
from .interop import ImportErrors, ImportIssue
from .routing import route_on
from .schemas import DOCUMENT_BODY, Detail, Errors
from .views import _body, _document, _invalid, _refused

CONVERT_WAIT = 5.0  # seconds a conversion waits for the same user's previous one before a 429
CONVERT_TTL_MS = 30_000  # a web process that died holding the mark frees it by then


@contextmanager
def _one_at_a_time(request: HttpRequest) -> Iterator[None]:
    """One conversion per user at a time (each can cost a web thread a second of YAML on a large lab): a
    second waits up to CONVERT_WAIT for the first, then is refused (TooMany, 429). Without Redis, it runs."""
    deadline = time.monotonic() + CONVERT_WAIT
    mark = None
    while mark is None:
        try:
            mark = leases.take_user_mark(request.auth.pk, "convert", ttl_ms=CONVERT_TTL_MS, retry_after=1,
                                         busy="a conversion of yours runs already; wait for it to end")
        except TooMany:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
        except redis.RedisError:
            break
    try:
        yield
    finally:
        if mark is not None:
            mark.release()

router = Router(tags=["topologies"])
route = route_on(router)

CLAB_FILE = "topology.clab.yml"  # the name its problems give the text (an import names the uploaded file)
KEPT = ("the containerlab file does not carry the annotations (read back together with the document, as the editor "
        "does, the document's are kept)")
MAX_LOST = 50  # warnings about what the file does not carry, at most (then one sentence says how many more)

FROM_CLAB_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {
            "type": "object", "required": ["text"],
            "properties": {
                "text": {"type": "string", "description": "a containerlab topology (.clab.yml); the body is at most 5 MiB"},
                "document": {"type": "object", "description": "the topolab/v1 document the text was written from "
                                                              "(optional): its nodes' files are the files the binds "
                                                              "name, and its annotations are kept"},
            },
            "example": {"text": "name: two-hosts\ntopology:\n  nodes:\n    a: {kind: linux, image: topolab/base}\n"
                                "    b: {kind: linux, image: topolab/base}\n  links:\n"
                                "    - endpoints: ['a:eth0', 'b:eth0']\n"},
        }}},
    }
}


class Lost(Schema):
    path: str
    message: str


class ClabOut(Schema):
    text: str
    warnings: list[Lost]


class DocumentOut(Schema):
    document: dict
    warnings: list[ImportIssue]


def _comparable(validation: schema.Validation) -> dict:
    """A valid document with every default filled in (a node's image too), so that two documents that mean the
    same compare equal however each was written."""
    out = validation.document.model_dump(mode="json")
    for node in out.get("nodes", []):
        node["image"] = node.get("image") or kinds.kind(node["kind"]).image
    for link in out.get("links", []):
        shaping = link.get("impairment")
        if shaping is not None and all(v is None for v in shaping.values()):
            link["impairment"] = None
    return out


GONE = object()  # a part of the document the file read back has not


def _differences(mine: Any, back: Any, path: str = "") -> list[tuple[str, Any]]:
    """Where ``back`` (the document read back from its file) is not ``mine``: (path, what is there instead, or
    GONE) for the deepest parts of ``mine`` that differ, in the document's order."""
    if isinstance(mine, dict) and isinstance(back, dict):
        out = []
        for key, value in mine.items():
            child = f"{path}.{key}" if path else str(key)
            if key not in back:
                if value not in (None, [], {}):
                    out.append((child, GONE))
            else:
                out += _differences(value, back[key], child)
        return out
    if isinstance(mine, list) and isinstance(back, list) and len(mine) == len(back):
        return [d for i, (a, b) in enumerate(zip(mine, back, strict=True)) for d in _differences(a, b, f"{path}[{i}]")]
    if isinstance(mine, (int, float)) and isinstance(back, (int, float)) and not isinstance(mine, bool):
        return [] if float(mine) == float(back) else [(path, back)]
    return [] if mine == back else [(path, GONE if back in (None, [], {}) else back)]


def _instead(back: Any) -> str:
    if back is GONE:
        return "read back, it is gone"
    text = json.dumps(back, ensure_ascii=False)
    return f"read back, it is {text}" if len(text) <= 80 else "read back, it is different"


def lost_in_clab(validation: schema.Validation, text: str) -> list[dict]:
    """What a containerlab file written from the document does not carry, as warnings with the document's paths
    (none for a document it carries whole): the export's own warnings (:func:`topology.interop.clab.clab_losses`),
    then each part that differs when the file is read back. The files its binds name are read from the
    document, as ``/convert/from-clab`` reads them; so are the annotations, which it keeps."""
    document = schema.dump(validation.document)
    out = [{"path": w.path, "message": KEPT if w.path == "annotations" else w.message}
           for w in interop.clab.clab_losses(document)]
    said = {w["path"] for w in out}
    back = _read(text, _bound_files(document))
    if isinstance(back, interop.InteropError):
        return out + [{"path": "", "message": f"the containerlab file does not read back: {back}"}]
    found = [(path, instead) for path, instead in _differences(_comparable(validation), _comparable(back.validation))
             if path not in said]
    out += [{"path": path, "message": KEPT if path == "annotations" else
             f"the containerlab file does not carry this ({_instead(instead)})"} for path, instead in found[:MAX_LOST]]
    if len(found) > MAX_LOST:
        out.append({"path": "", "message": f"and {len(found) - MAX_LOST} more parts the file does not carry"})
    return out


def _bound_files(document: dict) -> dict[str, interop.Entry]:
    """The files beside the .clab.yml that its ``binds`` name: the nodes' files of a valid document."""
    files = interop.to_clab_files(document)
    return {path: entry for path, entry in files.items() if not path.endswith(".clab.yml")}


def _read(text: str, files: dict[str, interop.Entry]) -> interop.Imported | interop.InteropError:
    """The containerlab ``text`` read as an import reads it, with ``files`` beside it."""
    try:
        return interop.load({**files, CLAB_FILE: interop.Entry(text.encode("utf-8", "replace"))}, format="clab",
                            image_map=settings.TOPOLAB_IMAGE_MAP, limits=document_limits(), name=CLAB_FILE,
                            topology=CLAB_FILE)
    except interop.InteropError as exc:
        return exc


@route(["POST"], "/convert/to-clab", response={200: ClabOut, 400: Errors, 429: Detail}, openapi_extra=DOCUMENT_BODY,
       summary="A document as containerlab YAML (the export's .clab.yml), saving nothing, with what the file "
               "does not carry")
def to_clab(request: HttpRequest):
    try:
        with _one_at_a_time(request):
            return _to_clab(request)
    except TooMany as exc:
        return _refused(exc)


def _to_clab(request: HttpRequest):
    result = _document(request)
    if not result.ok:
        return _invalid(result.errors, result.warnings)
    # The export writes what the user wrote (defaults unset), as GET /topologies/{id}/export?format=clab does.
    text = interop.to_clab(schema.dump(result.document))
    return {"text": text, "warnings": lost_in_clab(result, text)}


def _issue(message: str) -> Status:
    return Status(400, {"errors": [interop.Issue(CLAB_FILE, 0, message).as_dict()], "warnings": []})


@route(["POST"], "/convert/from-clab", response={200: DocumentOut, 400: ImportErrors, 429: Detail}, openapi_extra=FROM_CLAB_BODY,
       summary="containerlab YAML as a topolab/v1 document (as an import reads it), saving nothing; every problem "
               "and warning with its line")
def from_clab(request: HttpRequest):
    try:
        with _one_at_a_time(request):
            return _from_clab(request)
    except TooMany as exc:
        return _refused(exc)


def _from_clab(request: HttpRequest):
    body = _body(request)
    if isinstance(body, schema.Problem):
        return _issue(body.message)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _issue('the body is JSON: {"text": "<the containerlab YAML>"}')
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        return _issue('the body is JSON: {"text": "<the containerlab YAML>"}')
    files, annotations = {}, None
    base = data.get("document")
    if base is not None:
        checked = schema.validate(base, document_limits())
        if not checked.ok:
            return _issue("'document' (the document the text was written from) is not valid: "
                          f"{checked.errors[0].path or 'the document'}: {checked.errors[0].message}")
        base = schema.dump(checked.document)
        files, annotations = _bound_files(base), base.get("annotations")
    imported = _read(data["text"], files)
    if isinstance(imported, interop.InteropError):
        return Status(400, {"errors": [p.as_dict() for p in imported.problems],
                            "warnings": [w.as_dict() for w in imported.warnings]})
    document = imported.document
    if annotations:  # the editor's own notes, which the file does not carry: kept (the file's labels over them)
        document = {**document, "annotations": {**annotations, **document.get("annotations", {})}}
    return {"document": document, "warnings": [w.as_dict() for w in imported.warnings]}
