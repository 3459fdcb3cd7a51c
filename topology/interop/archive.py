"""Reading a lab's files safely: from a zip or tar(.gz) upload, or from a folder on disk.

Everything is read into memory (a dict of relative path to :class:`Entry`); nothing is ever written. A
member is refused when its path is absolute or climbs out with ``..``, when it is a device, a FIFO or a
link whose target leaves the lab's folder, and the whole archive is refused past the limits on the number
of files, their total size, one file's size and the compression ratio (a zip bomb is refused before it is
inflated: sizes are checked from the headers, then reads stop at the declared size). A link inside the
folder is followed to its target's content. A single top folder that holds everything is stripped, so that
``lab.zip`` holding ``lab/lab.conf`` reads as ``lab.conf``.
"""
from __future__ import annotations

import io
import os
import posixpath
import stat
import tarfile
import zipfile
from dataclasses import dataclass

from .errors import InteropError, Issue, refuse

MAX_ARCHIVE_BYTES = 10 * 1024 * 1024   # an upload (compressed)
MAX_TOTAL_BYTES = 32 * 1024 * 1024     # all the files, uncompressed
MAX_FILE_BYTES = 8 * 1024 * 1024       # one file, uncompressed (a node's file is refused past 256 KiB later)
MAX_FILES = 2000
MAX_RATIO = 100                        # uncompressed / compressed, past a small size
RATIO_FLOOR = 1024 * 1024              # below this total, any ratio (small text compresses well)
MAX_LINK_HOPS = 8


@dataclass(frozen=True)
class Entry:
    """One regular file of a lab: its bytes and its permission bits (0o644 when the archive says none)."""

    data: bytes
    mode: int = 0o644


def is_archive(name: str, data: bytes) -> bool:
    """Whether ``data`` (an upload called ``name``) is a zip or a tar archive, by its magic bytes."""
    if data[:4] == b"PK\x03\x04" or data[:4] == b"PK\x05\x06":
        return True
    if data[:2] == b"\x1f\x8b":  # gzip: a .tar.gz (a lone gzipped file is not a lab)
        return True
    return len(data) > 262 and data[257:262] == b"ustar"


def clean_path(name: str, where: str) -> str:
    """``name`` as a relative POSIX path inside the lab, or an error for an absolute path or ``..``."""
    if "\x00" in name:
        raise refuse(where, 0, f"'{name!r}' holds a NUL byte")
    raw = name.replace("\\", "/")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise refuse(where, 0, f"'{name}' is an absolute path; a lab's files are relative to its folder")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise refuse(where, 0, f"'{name}' climbs out of the lab's folder ('..')")
    return "/".join(parts)


def _resolve_links(files: dict[str, Entry], links: dict[str, str], where: str) -> dict[str, Entry]:
    """Follow the links (path -> target, relative to the link's folder) that stay inside; refuse the others."""
    for name in links:
        current, seen = name, 0
        while True:
            folder = posixpath.dirname(current)
            goal = links[current] if current in links else None
            if goal is None:
                break
            if goal.startswith("/"):
                raise refuse(where, 0, f"'{name}' is a link to '{goal}', outside the lab's folder")
            joined = posixpath.normpath(posixpath.join(folder, goal))
            if joined == ".." or joined.startswith("../"):
                raise refuse(where, 0, f"'{name}' is a link to '{goal}', outside the lab's folder")
            current, seen = joined, seen + 1
            if seen > MAX_LINK_HOPS:
                raise refuse(where, 0, f"'{name}' is a loop of links")
        if current not in files:
            continue  # a link to a folder or to nothing: it carries no file
        files[name] = files[current]
    return files


def _strip_top(files: dict[str, Entry]) -> dict[str, Entry]:
    """Drop a single top folder holding every file (``lab/lab.conf`` -> ``lab.conf``)."""
    tops = {path.split("/", 1)[0] for path in files}
    if len(tops) == 1 and all("/" in path for path in files):
        return {path.split("/", 1)[1]: entry for path, entry in files.items()}
    return files


class _Budget:
    """Counts files and bytes against the limits as they are read."""

    def __init__(self, where: str, compressed: int):
        self.where, self.compressed, self.files, self.total = where, compressed, 0, 0

    def take(self, name: str, size: int) -> None:
        self.files += 1
        self.total += size
        if self.files > MAX_FILES:
            raise refuse(self.where, 0, f"more than {MAX_FILES} files")
        if size > MAX_FILE_BYTES:
            raise refuse(self.where, 0, f"'{name}' is {size} bytes; a lab's file is at most {MAX_FILE_BYTES}")
        if self.total > MAX_TOTAL_BYTES:
            raise refuse(self.where, 0, f"the files add up to more than {MAX_TOTAL_BYTES} bytes")
        if self.total > RATIO_FLOOR and self.total > MAX_RATIO * max(self.compressed, 1):
            raise refuse(self.where, 0, f"the archive inflates more than {MAX_RATIO} times its size "
                                        "(a zip bomb?); nothing was read")


def read_archive(data: bytes, where: str = "upload") -> dict[str, Entry]:
    """The files of a zip or tar(.gz) archive; :class:`InteropError` naming ``where`` for anything unsafe."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise refuse(where, 0, f"the archive is {len(data)} bytes; the limit is {MAX_ARCHIVE_BYTES}")
    if data[:2] == b"PK":
        files = _read_zip(data, where)
    else:
        files = _read_tar(data, where)
    return _strip_top(files)


def _read_zip(data: bytes, where: str) -> dict[str, Entry]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise refuse(where, 0, f"not a readable zip archive: {exc}") from None
    budget = _Budget(where, len(data))
    files: dict[str, Entry] = {}
    links: dict[str, str] = {}
    with archive:
        infos = archive.infolist()
        # Sizes from the headers first: a bomb is refused before anything is inflated.
        declared = 0
        for info in infos:
            declared += info.file_size
            if info.file_size > MAX_FILE_BYTES or declared > MAX_TOTAL_BYTES or len(infos) > MAX_FILES or (
                    declared > RATIO_FLOOR and declared > MAX_RATIO * len(data)):
                raise refuse(where, 0, f"the archive declares {declared} bytes in {len(infos)} files, past the limits "
                                       f"({MAX_TOTAL_BYTES} bytes, {MAX_FILES} files, {MAX_RATIO} times its size); "
                                       "nothing was read")
        for info in infos:
            name = clean_path(info.filename, where)
            unix = info.external_attr >> 16
            kind = stat.S_IFMT(unix) if unix else 0
            if info.is_dir() or kind == stat.S_IFDIR or not name:
                continue
            if kind and kind not in (stat.S_IFREG, stat.S_IFLNK):
                raise refuse(where, 0, f"'{name}' is not a regular file (a device or FIFO)")
            try:
                with archive.open(info) as member:
                    content = member.read(MAX_FILE_BYTES + 1)
            except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
                raise refuse(where, 0, f"'{name}' cannot be read: {exc}") from None
            budget.take(name, len(content))
            if kind == stat.S_IFLNK:
                links[name] = content.decode("utf-8", "replace")
                continue
            files[name] = Entry(content, stat.S_IMODE(unix) if unix else 0o644)
    return _resolve_links(files, links, where)


def _read_tar(data: bytes, where: str) -> dict[str, Entry]:
    budget = _Budget(where, len(data))
    files: dict[str, Entry] = {}
    links: dict[str, str] = {}
    try:
        # Streaming mode: members are read in order, each no further than its header's size.
        with tarfile.open(fileobj=io.BytesIO(data), mode="r|*") as archive:
            for member in archive:
                name = clean_path(member.name, where)
                if member.isdir() or not name:
                    continue
                if member.issym() or member.islnk():
                    target = member.linkname
                    if member.islnk():  # a hard link names a member by its path from the archive's top
                        target_path = clean_path(target, where) if not target.startswith("/") else target
                        if target_path.startswith("/"):
                            raise refuse(where, 0, f"'{name}' is a link to '{target}', outside the lab's folder")
                        if target_path in files:
                            files[name] = files[target_path]
                        continue
                    links[name] = target
                    continue
                if not member.isfile():
                    raise refuse(where, 0, f"'{name}' is not a regular file (a device or FIFO)")
                budget.take(name, member.size)
                handle = archive.extractfile(member)
                content = handle.read(MAX_FILE_BYTES + 1) if handle else b""
                files[name] = Entry(content, stat.S_IMODE(member.mode) or 0o644)
    except InteropError:
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise refuse(where, 0, f"not a readable zip or tar archive: {exc}") from None
    return _resolve_links(files, links, where)


def read_folder(root: str) -> dict[str, Entry]:
    """The files under folder ``root`` (the CLI's ``lab import FOLDER``), with the archive's limits and rules.

    Links are followed only when their target is inside ``root``; anything else that is not a regular file
    or a folder is refused.
    """
    base = os.path.realpath(root)
    where = os.path.basename(base.rstrip("/")) or root
    budget = _Budget(where, MAX_TOTAL_BYTES)
    files: dict[str, Entry] = {}
    problems: list[Issue] = []
    for folder, dirs, names in os.walk(base, followlinks=False):
        dirs.sort()
        for name in sorted(names) + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, base).replace(os.sep, "/")
            real = os.path.realpath(full)
            if os.path.commonpath([base, real]) != base:
                problems.append(Issue(rel, 0, f"a link to '{real}', outside the lab's folder"))
                continue
            info = os.stat(real) if os.path.exists(real) else None
            if info is None or stat.S_ISDIR(info.st_mode):
                continue
            if not stat.S_ISREG(info.st_mode):
                problems.append(Issue(rel, 0, "not a regular file (a device, socket or FIFO)"))
                continue
            budget.take(rel, info.st_size)
            with open(real, "rb") as handle:
                files[rel] = Entry(handle.read(MAX_FILE_BYTES + 1), stat.S_IMODE(info.st_mode))
    if problems:
        raise InteropError(problems)
    return files
