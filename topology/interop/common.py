"""What both importers share: a lab's text files as node files, document names, memory sizes."""
from __future__ import annotations

import re

from ..schema.models import MAX_FILE_BYTES
from .archive import Entry
from .draft import Where

DOCUMENT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def document_name(raw: str | None, fallback: str = "imported-lab") -> str:
    """A topolab/v1 document name for a foreign lab's name."""
    name = re.sub(r"[^a-z0-9-]+", "-", str(raw or "").lower()).strip("-")[:40].strip("-")
    return name if DOCUMENT_NAME.match(name) else fallback


def text_file(path: str, entry: Entry, where: Where, problems: list) -> dict | None:
    """A node's ``{"path", "content", "mode"}`` for a lab's file, or None (and a problem) for one that is
    binary or larger than a node's file may be."""
    if len(entry.data) > MAX_FILE_BYTES:
        problems.append(where.issue(f"'{where.path or path}' is {len(entry.data)} bytes; a node's file is at most "
                                    f"{MAX_FILE_BYTES} (256 KiB)"))
        return None
    try:
        content = entry.data.decode("utf-8")
    except UnicodeDecodeError:
        content = None
    if content is None or "\x00" in content:
        problems.append(where.issue(f"'{where.path or path}' is not a text file (UTF-8); a node's files are text"))
        return None
    out = {"path": path, "content": content}
    mode = f"{entry.mode & 0o7777:04o}"
    if mode != "0644":
        out["mode"] = mode
    return out


def memory_mb(value) -> int | None:
    """Megabytes for ``512m``, ``1Gb``, ``256MB``, ``1024`` (bytes when no unit, as Docker reads it)."""
    match = _MEMORY.match(str(value))
    if not match:
        return None
    number, unit = float(match.group(1)), match.group(2).lower()
    scale = {"": 1 / (1024 * 1024), "k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}[unit]
    return max(int(round(number * scale)), 1)
