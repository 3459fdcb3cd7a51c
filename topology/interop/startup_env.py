"""Environment variables that Kathará's ``lab.conf`` cannot hold, set by a machine's ``.startup`` instead.

Kathará reads ``r1[env]="NAME=value"`` by dropping every quote of the value, stripping its spaces at both ends
and reading one line, so a value with a quote, a line break (or another control character) or spaces at its
ends does not come through. Such a variable is written as one line at the top of the machine's
``.startup``, which Kathará runs with bash before the machine's commands, and which gives the exact value:

- ``export NAME='value'  # topolab env`` (single quotes: spaces, ``$``, backslashes and double quotes are
  literal; a single quote is ``'\\''``) when the value has no control character;
- ``NAME="$(printf 'x...x')" && NAME="${NAME#x}" && export NAME="${NAME%x}"  # topolab env`` otherwise:
  printf's format holds each control character as octal escapes (``\\012`` for a line break), ``\\\\`` for a
  backslash and ``%%`` for a percent sign; the ``x`` at both ends keeps trailing line breaks (which ``$(...)``
  drops) and a leading ``-`` (which printf would read as an option).

:func:`read_line` reads both forms back (the import), so that export then import gives the same ``env``.
"""
from __future__ import annotations

import re

MARK = "# topolab env"
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")  # the last three: line breaks for str.splitlines
_QUOTED = r"'(?:[^']|'\\'')*'"
_PLAIN = re.compile(rf"^export (?P<key>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>{_QUOTED})\s+{MARK}$")
_PRINTF = re.compile(rf"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)=\"\$\(printf (?P<format>{_QUOTED})\)\" && "
                     rf"(?P=key)=\"\$\{{(?P=key)#x\}}\" && export (?P=key)=\"\$\{{(?P=key)%x\}}\"\s+{MARK}$")
_ESCAPE = re.compile(r"\\(\\|[0-7]{3})|%%")


def fits_lab_conf(value: str) -> bool:
    """Whether Kathará reads ``value`` from a lab.conf ``[env]`` line exactly as it is."""
    return not re.search(r"[\"']", value) and not _CONTROL.search(value) and value == value.strip()


def _single(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _unsingle(quoted: str) -> str:
    return quoted[1:-1].replace("'\\''", "'")


def _printf_text(char: str) -> str:
    if char == "\\":
        return "\\\\"
    if char == "%":
        return "%%"
    if _CONTROL.match(char):
        return "".join(f"\\{byte:03o}" for byte in char.encode("utf-8"))
    return char


def line(key: str, value: str) -> str:
    """The ``.startup`` line that sets ``key`` to exactly ``value`` for the rest of the script."""
    if not _CONTROL.search(value):
        return f"export {key}={_single(value)}  {MARK}"
    form = "x" + "".join(_printf_text(c) for c in value) + "x"
    return f'{key}="$(printf {_single(form)})" && {key}="${{{key}#x}}" && export {key}="${{{key}%x}}"  {MARK}'


def read_line(text: str) -> tuple[str, str] | None:
    """``(key, value)`` of a line :func:`line` wrote, or None for any other line."""
    text = text.strip()
    if not text.endswith(MARK):
        return None
    match = _PLAIN.match(text)
    if match:
        return match.group("key"), _unsingle(match.group("value"))
    match = _PRINTF.match(text)
    if not match:
        return None
    form = _unsingle(match.group("format"))
    if len(form) < 2 or form[0] != "x" or form[-1] != "x":
        return None
    out, at, body = bytearray(), 0, form[1:-1]
    for escape in _ESCAPE.finditer(body):
        out += body[at:escape.start()].encode("utf-8")
        code = escape.group(1)
        out += b"%" if code is None else b"\\" if code == "\\" else bytes([int(code, 8) & 0xFF])
        at = escape.end()
    out += body[at:].encode("utf-8")
    try:
        return match.group("key"), out.decode("utf-8")
    except UnicodeDecodeError:
        return None
