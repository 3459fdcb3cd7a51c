"""Other tools' labs through the API: ``POST /topologies/import`` (containerlab, Kathará or topolab/v1, one
file or a .zip/.tar.gz of a lab's folder) and ``GET /topologies/{id}/export?format=clab|kathara``.

Reading and converting is :mod:`topology.interop`'s; saving goes through :func:`services.import_topology`
(the owner's limits apply there). Every problem names the lab's file and line it is about, and nothing is
saved when there is one.
"""
from __future__ import annotations

import json

from django.conf import settings
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema, Status

from .. import interop, services
from ..limits import document_limits
from .routing import route_on
from .schemas import Detail, TopologyFull
from .views import _full, _topology, export_topology
from .views import router as views_router

WARNINGS_HEADER = "X-Topolab-Warnings"
router = Router(tags=["topologies"])
route = route_on(router)


class ImportIssue(Schema):
    file: str
    line: int
    path: str = ""
    message: str


class ImportErrors(Schema):
    errors: list[ImportIssue]
    warnings: list[ImportIssue] = []


class ImportOut(Schema):
    topology: TopologyFull
    format: str
    warnings: list[ImportIssue]


IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary",
                         "description": "a topolab/v1 .json, a containerlab .clab.yml, a Kathará lab.conf, or a "
                                        ".zip/.tar.gz of a lab's folder (at most 10 MiB)"},
                "format": {"type": "string", "enum": list(interop.FORMATS),
                           "description": "the lab's format (detected when left out)"},
                "replace": {"type": "boolean", "description": "overwrite your topology of the same name"},
                "name": {"type": "string", "description": "save it under this name instead of the lab's own (the "
                                                          "list page's \"Import as a copy\")"},
            }}}},
    }
}


def _errors(problems, warnings=()) -> Status:
    return Status(400, {"errors": [p.as_dict() for p in problems], "warnings": [w.as_dict() for w in warnings]})


@route(["POST"], "/topologies/import", response={201: ImportOut, 400: ImportErrors, 409: Detail, 429: Detail},
       openapi_extra=IMPORT_BODY, summary="Import a containerlab, Kathará or topolab/v1 lab (a file or an archive)")
def import_lab(request: HttpRequest):
    upload = request.FILES.get("file")
    if upload is None:
        return _errors([interop.Issue("", 0, "no file: send the lab as the multipart field 'file'")])
    if upload.size > interop.archive.MAX_ARCHIVE_BYTES:
        return _errors([interop.Issue(upload.name, 0, f"the upload is {upload.size} bytes; the limit is "
                                                      f"{interop.archive.MAX_ARCHIVE_BYTES}")])
    chosen = request.POST.get("format") or None
    replace = request.POST.get("replace", "").lower() in ("1", "true", "on", "yes")
    rename = request.POST.get("name", "").strip()
    try:
        files = interop.read_upload(upload.name, upload.read(interop.archive.MAX_ARCHIVE_BYTES + 1))
        imported = interop.load(files, format=chosen, image_map=settings.TOPOLAB_IMAGE_MAP,
                                limits=document_limits(), name=upload.name)
    except interop.InteropError as exc:
        return _errors(exc.problems, exc.warnings)
    try:
        # Renamed, the document is checked again (the new name by the same rule, at the same path).
        document = {**imported.document, "name": rename} if rename else imported.validation
        topology = services.import_topology(request.auth, document, replace=replace)
    except services.ServiceError as exc:
        if exc.status != 400:
            return Status(exc.status, {"detail": exc.message})
        return _errors([interop.Issue(upload.name, 0, p.message, p.path) for p in exc.problems]
                       or [interop.Issue(upload.name, 0, exc.message)], imported.warnings)
    except IntegrityError:  # the same name created by a concurrent request
        return _errors([interop.Issue(upload.name, 0, f"you already have a topology named "
                                                      f"'{rename or imported.document['name']}'", "name")], imported.warnings)
    return Status(201, {"topology": _full(topology), "format": imported.format,
                        "warnings": [w.as_dict() for w in imported.warnings]})


@route(["GET"], "/topologies/{int:topology_id}/export", response={200: dict, 400: Detail, 404: Detail},
       summary="The topology as a download: topolab/v1 JSON, or ?format=clab (a .clab.yml, or a zip with the "
               "files its binds name) or ?format=kathara (a zip of the Kathará lab); the header X-Topolab-Warnings "
               "says, as JSON, what the other tool does not carry")
def export_lab(request: HttpRequest, topology_id: int, format: str = "topolab"):
    if format in ("topolab", "json", ""):
        return export_topology(request, topology_id)
    topology = _topology(request, topology_id, supervised=True)
    if format not in ("clab", "kathara"):
        return Status(400, {"detail": f"unknown export format '{format}' (topolab, clab or kathara)"})
    warnings: list[interop.Issue] = []
    body, name, content_type = interop.export(topology.document, format, warnings)
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    # What the other tool does not carry, beside the download (JSON in ASCII: [{file, line, path, message}]),
    # within what proxies pass in a header: past WARNINGS_HEADER_BYTES, a last entry says how many more.
    response[WARNINGS_HEADER] = warnings_header([w.as_dict() for w in warnings])
    return response


WARNINGS_HEADER_BYTES = 4096


def warnings_header(warnings: list[dict]) -> str:
    """``warnings`` as the header's JSON, cut to :data:`WARNINGS_HEADER_BYTES` with a last entry saying how
    many were left out. One pass: each entry is serialised once, however many there are."""
    room = WARNINGS_HEADER_BYTES - 2 - len(json.dumps(_more(len(warnings)))) - 2  # the brackets, the last entry
    kept, used = [], 0
    for warning in warnings:
        text = json.dumps(warning)
        if used + len(text) + 2 > room:
            break
        kept.append(text)
        used += len(text) + 2
    if len(kept) < len(warnings):
        kept.append(json.dumps(_more(len(warnings) - len(kept))))
    return "[" + ", ".join(kept) + "]"


def _more(count: int) -> dict:
    return {"file": "", "line": None, "path": "", "message": f"and {count} more"}


def _shadowed_export_out_of_schema() -> None:
    """This router is added before :mod:`.views`' and so answers ``/export`` (its plain JSON too, by
    calling the view it shadows); the schema describes this answer, not the shadowed one."""
    for path, view in views_router.path_operations.items():
        if path.startswith("/topologies/{int:topology_id}/export"):
            for operation in view.operations:
                operation.include_in_schema = False


_shadowed_export_out_of_schema()
