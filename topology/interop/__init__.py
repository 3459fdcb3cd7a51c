"""Labs of other tools in and out: containerlab topologies and Kathará labs (issue 15).

Pure Python (no Django models): the API, the list page's import and the CLI all call it.

- :func:`detect` says which format a lab's files are in; :func:`read_upload` and :func:`read_folder`
  read an upload (a single file, or a zip/tar.gz of the lab's folder) or a folder safely (:mod:`.archive`).
- :func:`from_clab` / :func:`from_kathara` give the topolab/v1 document and the warnings;
  :func:`load` does the right one and checks the document with the schema, naming for each problem the
  file and line the node or link came from. Every error is an :class:`InteropError` listing
  :class:`Issue` s (file, line, YAML path, message); nothing is saved by this package.
- :func:`to_clab` / :func:`to_clab_files` and :func:`to_kathara` / :func:`kathara_zip` write them back.
"""
from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field

from .. import schema
from . import clab, kathara
from .archive import Entry, is_archive, read_archive, read_folder
from .clab import from_clab, to_clab, to_clab_files
from .errors import InteropError, Issue
from .kathara import from_kathara, kathara_files, to_kathara, zip_files

FORMATS = ("clab", "kathara", "topolab")

__all__ = [
    "FORMATS", "Entry", "Imported", "InteropError", "Issue", "clab_zip", "detect", "export", "from_clab",
    "from_kathara", "kathara_zip", "load", "read_folder", "read_upload", "to_clab", "to_clab_files", "to_kathara",
]


def read_upload(name: str, data: bytes) -> dict[str, Entry]:
    """The lab's files of one upload: an archive's members, or the file itself under its own name."""
    if is_archive(name, data):
        return read_archive(data, name)
    return {posixpath.basename(name.replace("\\", "/")) or "upload": Entry(data)}


def _topology_files(files: dict[str, Entry]) -> list[str]:
    """The containerlab topologies among the files: the shallowest ``*.clab.yml`` files, or a YAML file with
    a top-level ``topology:``."""
    named = [p for p in files if p.lower().endswith((".clab.yml", ".clab.yaml"))]
    if named:
        depth = min(p.count("/") for p in named)
        return sorted(p for p in named if p.count("/") == depth)
    return [found] if (found := _yaml_topology(files)) else []


def _topology_file(files: dict[str, Entry]) -> str | None:
    found = _topology_files(files)
    return found[0] if found else None


def _yaml_topology(files: dict[str, Entry]) -> str | None:
    yamls = [p for p in files if p.lower().endswith((".yml", ".yaml"))]
    for path in yamls:
        try:
            text = files[path].data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if clab.is_clab(path, text):
            return path
    return None


def _kathara_root(files: dict[str, Entry]) -> dict[str, Entry]:
    """The files of the folder holding the (one, shallowest) ``lab.conf``: an archive may hold the lab one
    folder down, beside a README."""
    if kathara.LAB_CONF in files:
        return files
    found = [p for p in files if p.endswith("/" + kathara.LAB_CONF)]
    if not found:
        return files
    depth = min(p.count("/") for p in found)
    shallowest = [p for p in found if p.count("/") == depth]
    if len(shallowest) != 1:
        return files
    prefix = shallowest[0][: -len(kathara.LAB_CONF)]
    return {p[len(prefix):]: e for p, e in files.items() if p.startswith(prefix)}


def detect(files: dict[str, Entry]) -> str | None:
    """``"kathara"`` (a ``lab.conf``), ``"clab"`` (a containerlab topology), ``"topolab"`` (a JSON document),
    or None."""
    if kathara.LAB_CONF in _kathara_root(files):
        return "kathara"
    if _topology_file(files):
        return "clab"
    if any(p.lower().endswith(".json") for p in files) or len(files) == 1 and next(
            iter(files.values())).data.lstrip()[:1] == b"{":
        return "topolab"
    return None


@dataclass
class Imported:
    """A lab read and checked: its document (valid topolab/v1 data), the format it came in and the warnings
    (the foreign format's and the schema's)."""

    document: dict
    format: str
    validation: schema.Validation
    warnings: list[Issue] = field(default_factory=list)


def _where(origins: dict, path: str, fallback: str) -> tuple[str, int]:
    """The file and line of the node or link a document path is in."""
    head = path.split(".", 1)[0]
    if head in origins:
        return origins[head].file, origins[head].line
    return fallback, 0


def load(files: dict[str, Entry], *, format: str | None = None, image_map: dict | None = None,
         limits: schema.Limits | None = None, name: str = "upload", topology: str | None = None) -> Imported:
    """Read a lab's files in ``format`` (detected when None) and check the document; :class:`InteropError`
    with every problem (each naming its file and line) otherwise. ``topology`` names the containerlab
    topology among the files (found when None: there must be one)."""
    chosen = format or detect(files)
    if chosen is None:
        raise InteropError([Issue(name, 0, "not a lab this server reads: a topolab/v1 .json, a containerlab "
                                           ".clab.yml, a Kathará lab.conf, or a .zip/.tar.gz of a lab's folder")])
    if chosen not in FORMATS:
        raise InteropError([Issue(name, 0, f"unknown format '{chosen}' (one of {', '.join(FORMATS)})")])
    stem = posixpath.basename(name).split(".")[0] or "lab"
    if chosen == "topolab":
        path = next((p for p in files if p.lower().endswith(".json")), next(iter(files), name))
        data = files[path].data if path in files else b""
        result = schema.loads(data, limits)
        if not result.ok:
            raise InteropError([Issue(path, 0, p.message, p.path) for p in result.errors])
        return Imported(json.loads(data), "topolab", result, [Issue(path, 0, p.message, p.path) for p in result.warnings])
    if chosen == "clab":
        found = [topology] if topology in files else _topology_files(files)
        if not found:
            raise InteropError([Issue(name, 0, "no containerlab topology (a .clab.yml) in the upload")])
        if len(found) > 1:
            raise InteropError([Issue(name, 0, f"{len(found)} containerlab topologies ({', '.join(found)}); "
                                               "import one lab at a time")])
        path = found[0]
        try:
            text = files[path].data.decode("utf-8")
        except UnicodeDecodeError:
            raise InteropError([Issue(path, 0, "not a text file (UTF-8)")]) from None
        document, warnings, origins = clab.read(text, files, file=path, image_map=image_map)
        fallback = path
    else:
        document, warnings, origins = kathara.read(_kathara_root(files), image_map=image_map, fallback_name=stem)
        fallback = kathara.LAB_CONF
    result = schema.validate(document, limits)
    if not result.ok:
        problems = []
        for problem in result.errors:
            file, line = _where(origins, problem.path, fallback)
            problems.append(Issue(file, line, problem.message, problem.path))
        raise InteropError(problems, warnings)
    for problem in result.warnings:
        file, line = _where(origins, problem.path, fallback)
        warnings.append(Issue(file, line, problem.message, problem.path))
    return Imported(document, chosen, result, warnings)


def clab_zip(document: dict) -> bytes:
    """A zip of the containerlab topology and the files its binds name."""
    return zip_files(to_clab_files(document))


def kathara_zip(document: dict) -> bytes:
    """A zip of the Kathará lab."""
    return zip_files(kathara_files(document))


def export(document: dict, format: str, warnings: list[Issue] | None = None) -> tuple[bytes, str, str]:
    """A download of ``document`` in ``format``: (bytes, file name, content type). containerlab is a bare
    ``.clab.yml`` unless the nodes have files (then a zip with them); Kathará is always a zip. What the other
    tool cannot hold (or holds differently: a node renamed, a variable set by a script) is added to
    ``warnings``, each naming the exported file and the document's path it is about."""
    name = document["name"]
    warnings = [] if warnings is None else warnings
    if format == "clab":
        warnings += clab.clab_losses(document)
        if any(node.get("files") for node in document.get("nodes", [])):
            return clab_zip(document), f"{name}.clab.zip", "application/zip"
        return to_clab(document).encode("utf-8"), f"{name}.clab.yml", "application/yaml"
    if format == "kathara":
        return zip_files(kathara_files(document, warnings)), f"{name}.kathara.zip", "application/zip"
    raise ValueError(f"unknown export format '{format}'")
