"""``lab import`` of containerlab and Kathará labs (a file or a folder, the format detected or ``--format``) and
``lab export NAME --format clab|kathara [-o FILE]``: the command's side of :mod:`topology.interop`."""
from __future__ import annotations

import os
import sys

from django.conf import settings
from django.core.management.base import CommandError

from .. import interop
from ..limits import document_limits

EXIT_INVALID = 2


def add_import_arguments(parser) -> None:
    parser.add_argument("--format", choices=interop.FORMATS, default=None,
                        help="the lab's format: topolab (JSON), clab (a .clab.yml) or kathara (a folder with lab.conf); "
                             "detected when left out. PATH may be a folder or a .zip/.tar.gz")


def add_export_arguments(parser) -> None:
    parser.add_argument("--format", choices=interop.FORMATS, default="topolab",
                        help="topolab (the JSON document, the default), clab or kathara")
    parser.add_argument("-o", "--output", help="write to this file (default: standard output)")


def wants(path: str, fmt: str | None) -> bool:
    """Whether ``lab import`` hands PATH to interop (anything but a topolab/v1 file or standard input)."""
    if fmt == "topolab" or path == "-":
        return False
    return fmt is not None or os.path.isdir(path) or not path.lower().endswith(".json")


def read_lab(command, path: str, fmt: str | None) -> interop.Imported:
    """Read PATH (a file, an archive or a folder) and convert it; every problem to stderr and exit 2 otherwise.
    Saving it is the command's (the services are the web side's)."""
    try:
        topology = None
        if os.path.isdir(path):
            files = interop.read_folder(path)
        else:
            with open(path, "rb") as handle:
                files = interop.read_upload(os.path.basename(path), handle.read(interop.archive.MAX_ARCHIVE_BYTES + 1))
            if fmt != "kathara" and len(files) == 1 and interop.clab.is_clab(path, _text(files)):
                # A topology file's binds are files beside it: read its folder (within the same limits).
                files = _beside(path, files)
                topology = os.path.basename(path)
        return interop.load(files, format=fmt, image_map=settings.TOPOLAB_IMAGE_MAP, limits=document_limits(),
                            name=os.path.basename(path.rstrip("/")), topology=topology)
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}", returncode=EXIT_INVALID) from None
    except interop.InteropError as exc:
        for warning in exc.warnings:
            command.stderr.write(f"warning: {warning}")
        for problem in exc.problems:
            command.stderr.write(str(problem))
        count = len(exc.problems)
        raise CommandError(f"{path}: {count} problem{'s' if count != 1 else ''}, nothing saved",
                           returncode=EXIT_INVALID) from None


def _text(files: dict) -> str:
    return next(iter(files.values())).data.decode("utf-8", "replace")


def _beside(path: str, alone: dict) -> dict:
    """The files of the topology's folder, or the topology alone when that folder cannot be read as a lab."""
    try:
        return interop.read_folder(os.path.dirname(os.path.abspath(path)))
    except interop.InteropError:
        return alone


def report(command, imported: interop.Imported, topology, owner) -> None:
    """The warnings, then what was saved."""
    for warning in imported.warnings:
        command.stderr.write(f"warning: {warning}")
    command.stdout.write(f"imported '{topology.name}' ({imported.format}) for {owner.get_username()} "
                         f"({topology.node_count} nodes, {topology.link_count} links)")


def export_lab(command, topology, fmt: str, output: str | None) -> None:
    """Write the topology as a containerlab or Kathará lab, to ``output`` or standard output."""
    warnings: list = []
    body, name, _ = interop.export(topology.document, fmt, warnings)
    for warning in warnings:  # what the other tool does not carry
        command.stderr.write(f"warning: {warning}")
    if output:
        with open(output, "wb") as handle:
            handle.write(body)
        command.stderr.write(f"wrote {output} ({name.rsplit('.', 1)[-1]}, {len(body)} bytes)")
    elif name.endswith(".zip") and sys.stdout.isatty():
        raise CommandError(f"the {fmt} export is a zip; give -o FILE (for instance -o {name})")
    elif name.endswith(".zip"):
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
    else:
        command.stdout.write(body.decode("utf-8"), ending="")
