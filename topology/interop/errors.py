"""What an import reports: problems and warnings, each naming the file, the line and (for YAML) the path."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Issue:
    """One problem or warning about a lab being imported.

    ``file`` is the lab's file it is about (as named in the upload or folder), ``line`` its line
    (1-based; 0 when the issue is about the whole file or lab), ``path`` the YAML path (``topology.nodes.r1.binds[0]``)
    or the document path for problems the topolab/v1 schema finds, ``message`` a sentence.
    """

    file: str
    line: int
    message: str
    path: str = ""

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "path": self.path, "message": self.message}

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path + ': ' if self.path else ''}{self.message}"


class InteropError(ValueError):
    """A lab that cannot be imported (or a document that cannot be exported); ``problems`` says every reason."""

    def __init__(self, problems: list[Issue], warnings: list[Issue] | None = None):
        self.problems = list(problems)
        self.warnings = list(warnings or [])
        super().__init__("; ".join(str(p) for p in self.problems))


def refuse(file: str, line: int, message: str, path: str = "") -> InteropError:
    """An :class:`InteropError` with one problem."""
    return InteropError([Issue(file, line, message, path)])
