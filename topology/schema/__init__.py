"""Reading and checking ``topolab/v1`` documents: the public contract of Topolab.

Use :func:`validate` (or :func:`loads` for raw JSON text). It never raises on a
bad document: it returns every problem, each with the JSON path it is about.
:func:`dump` gives back the document as the user wrote it (unset defaults stay
unset), so export then import is a round trip.
"""
from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from .checks import Limits, LongInteger, Problem, check_document, check_json, check_parts, count_problems
from .messages import problems_from_validation_error
from .models import FORMAT, KINDS, MAX_DOCUMENT_BYTES, MAX_INTEGER_DIGITS, Document, Link, Node, remembered_addresses

__all__ = [
    "FORMAT", "KINDS", "Document", "DocumentError", "Limits", "Link", "Node", "Problem", "Validation",
    "dump", "loads", "parse", "validate",
]


@dataclass
class Validation:
    """The outcome of checking a document: the typed document when it has no errors."""

    document: Document | None
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": self.ok,
            "errors": [p.as_dict() for p in self.errors],
            "warnings": [p.as_dict() for p in self.warnings],
        }


class DocumentError(ValueError):
    """A document was rejected; ``problems`` lists every reason."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


def _typed_items(data: dict, key: str, model: type) -> list[tuple[int, Any]]:
    """The items of ``data[key]`` that pass their own type checks, with their indexes."""
    items = data.get(key)
    if not isinstance(items, list):
        return []
    typed = []
    for i, item in enumerate(items):
        try:
            typed.append((i, model.model_validate(item)))
        except ValidationError:
            pass
    return typed


def validate(data: Any, limits: Limits | None = None) -> Validation:
    """Check a parsed JSON value against the whole format; never raises for bad input."""
    return _validate(data, limits, values=True)


def _validate(data: Any, limits: Limits | None, values: bool) -> Validation:
    """:func:`validate`; ``values=False`` skips :func:`check_json` (for text known to need none)."""
    with remembered_addresses():  # the models read each address; the checks after them do not again
        return _validate_values(data, limits or Limits(), values)


def _validate_values(data: Any, limits: Limits, values: bool) -> Validation:
    if not isinstance(data, dict):
        return Validation(None, [Problem("", "a topolab/v1 document is a JSON object")])
    if values:
        # Strings that are not text and integers too long to write: reported alone, as a syntax
        # error is (every other message would have to quote them).
        problems = check_json(data)
        if problems:
            return Validation(None, problems)
    # Counted on the raw data before any model reads it: a document over the server's limits would cost
    # the models and the checks time in proportion to its excess, so it is refused with those problems alone.
    over = count_problems(data, limits)
    if over:
        return Validation(None, over)
    try:
        document = Document.model_validate(data)
    except ValidationError as exc:
        errors = problems_from_validation_error(exc)
        # Cross-document rules still run over the parts that are well typed, so
        # that one run reports every problem instead of one kind at a time.
        nodes = _typed_items(data, "nodes", Node)
        links = _typed_items(data, "links", Link)
        raw_nodes = data.get("nodes")
        if isinstance(raw_nodes, list):
            names = {n.get("name") for n in raw_nodes if isinstance(n, dict) and isinstance(n.get("name"), str)}
        else:
            # No list of nodes to look in: "no node named ..." on every endpoint would only repeat that.
            names = {end.node for _, link in links for end in link.endpoints}
        raw_links = data.get("links") if isinstance(data.get("links"), list) else []
        named = {
            (end.get("node"), end.get("interface"))
            for link in raw_links if isinstance(link, dict) and isinstance(link.get("endpoints"), list)
            for end in link["endpoints"]
            if isinstance(end, dict) and isinstance(end.get("node"), str) and isinstance(end.get("interface"), str)
        }
        more, _ = check_parts(
            nodes, links, names, limits,
            node_count=len(raw_nodes) if isinstance(raw_nodes, list) else None,
            link_count=len(raw_links), interfaces=named,
        )
        # Warnings drawn from part of a document would mislead (a node whose
        # only link is mistyped is not really unlinked), so they wait.
        known = set(errors)
        return Validation(None, errors + [p for p in more if p not in known])
    errors, warnings = check_document(document, limits)
    return Validation(None if errors else document, errors, warnings)


class _NotJSONNumber(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    # Python's json reads NaN and Infinity, which JSON does not have.
    raise _NotJSONNumber(name)


def _read_integer(text: str) -> int | LongInteger:
    """An integer of the JSON text, or a :class:`LongInteger` where Python would refuse to read it."""
    digits = len(text) - text.startswith("-")
    if digits > MAX_INTEGER_DIGITS:
        return LongInteger(digits)
    try:
        return int(text)
    except ValueError:  # this interpreter was set to read fewer digits
        return LongInteger(digits)


# Where a str may come to hold a lone surrogate: an escape \ud800 to \udfff (either case), or one
# written raw (a str given as is, or bytes decoded as json does, with "surrogatepass").
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_RAW_SURROGATE = re.compile("[\ud800-\udfff]")


def _json(text: str, **hooks) -> tuple[Any, Problem | None]:
    """(the data, None) or (None, why the text is not JSON); ValueError for an integer too long to read."""
    try:
        return json.loads(text, parse_constant=_reject_constant, **hooks), None
    except RecursionError:
        return None, Problem("", "not valid JSON here: the document is nested too deeply")
    except _NotJSONNumber as exc:
        return None, Problem("", f"not valid JSON: {exc} is not a number in JSON")
    except json.JSONDecodeError as exc:
        return None, Problem("", f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")


def loads(text: str | bytes, limits: Limits | None = None) -> Validation:
    """Check a document given as JSON text (size and syntax first)."""
    # surrogatepass: a str holding a lone surrogate is still measured, not a crash.
    size = len(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    if size > MAX_DOCUMENT_BYTES:
        return Validation(None, [Problem("", f"the document is {size} bytes; the limit is {MAX_DOCUMENT_BYTES} (5 MiB)")])
    if not isinstance(text, str):
        try:  # as json.loads does
            text = bytes(text).decode(json.detect_encoding(text), "surrogatepass")
        except UnicodeDecodeError:
            return Validation(None, [Problem("", "the document is not UTF-8 text")])
    # check_json walks every value; it only can find something where the text says so. Integers
    # too long are refused by json.loads itself (then read again, to say where they are), as long
    # as this interpreter keeps Python's limit.
    values = (_ESCAPED_SURROGATE.search(text) is not None
              or (not text.isascii() and _RAW_SURROGATE.search(text) is not None)
              or not 0 < sys.get_int_max_str_digits() <= MAX_INTEGER_DIGITS)
    try:
        data, problem = _json(text)
    except ValueError:  # "Exceeds the limit (4300 digits) for integer string conversion"
        data, problem = _json(text, parse_int=_read_integer)
        values = True
    if problem is not None:
        return Validation(None, [problem])
    return _validate(data, limits, values)


def parse(data: Any, limits: Limits | None = None) -> Document:
    """The typed document, or :class:`DocumentError` listing every problem."""
    result = validate(data, limits)
    if not result.ok:
        raise DocumentError(result.errors)
    return result.document


def dump(document: Document) -> dict[str, Any]:
    """The document as JSON data, with only the keys its author set."""
    return document.model_dump(mode="json", exclude_unset=True)
