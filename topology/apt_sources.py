"""Which Debian mirror the node images are built from: the one this host's apt already uses.

:func:`host_mirror` answers, in this order:

1. ``TOPOLAB_DEBIAN_MIRROR``, when set and not blank: the operator's word wins.
2. The first entry of the host's apt sources, in the order apt reads them
   (``sources.list``, then ``sources.list.d/*.list`` and ``*.sources`` sorted
   by file name), that is a ``deb`` (not ``deb-src``) entry for exactly the
   suite the recipe asks for (``bookworm``) with all its components (``main``).
3. Failing that, the first such entry for another Debian release or alias
   (``trixie``, ``stable``, ``sid``...): a Debian mirror serves every current
   release, and on an offline site it is the only one that answers.
4. Failing that, :data:`FALLBACK_MIRROR` (deb.debian.org), with a note saying why.

Both file formats are read: one-line (``deb [arch=amd64 signed-by=...] URI
suite component...``, ``#`` starting a comment anywhere outside ``[...]``) and
deb822 stanzas (``Types``/``URIs``/``Suites``/``Components``, several values
each, ``Enabled: no`` skipped, comment lines, continuation lines). Files
``sources.list.d`` holds under other names (``*.disabled``, ``*.dpkg-old``...)
are ignored, as apt ignores them.

What is never picked:

- the security archive (``security.debian.org``, a path ending in
  ``-security``) and update or backport suites (``bookworm-security``,
  ``bookworm-updates``, ``bookworm-backports``, ``bookworm/updates``): they
  hold a few packages, not a release debootstrap can install;
- flat repositories (a suite ending in ``/``);
- ``cdrom:``: apt-cdrom's media are not a path debootstrap can read;
- apt-only transports such as ``mirror+file:``, ``mirror+http:``, ``mirror:``
  and ``tor+http:``: their URI names a list of mirrors or needs a transport
  that debootstrap (wget) does not have. Use ``TOPOLAB_DEBIAN_MIRROR`` to
  point at one mirror of such a list;
- ``file:`` and ``copy:`` URIs unless they name a local mirror tree that
  holds ``dists/<suite>/InRelease`` or ``Release``; such a tree is picked
  and handed to debootstrap as ``file://<path>`` (debootstrap copies from
  ``file:`` URIs itself, and ``copy:`` is apt's name for the same tree).

A trailing slash is dropped from the URI. The result names the file and line
the URI came from. Only files are read: no subprocess, no network, no Django.
Apt settings that move the sources elsewhere (``Dir::Etc::sourcelist``) are
not followed; pass ``root`` instead.
"""
from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

FALLBACK_MIRROR = "http://deb.debian.org/debian"
MIRROR_ENV = "TOPOLAB_DEBIAN_MIRROR"
DEFAULT_ROOT = "/etc/apt"

# Debian's release code names and the archive's aliases for them: a mirror
# listing any of these is a Debian archive (the security, updates and
# backports suites all carry a suffix, so they never match).
DEBIAN_SUITES = frozenset({
    "buzz", "rex", "bo", "hamm", "slink", "potato", "woody", "sarge", "etch", "lenny",
    "squeeze", "wheezy", "jessie", "stretch", "buster", "bullseye", "bookworm", "trixie",
    "forky", "duke", "sid", "oldoldstable", "oldstable", "stable", "testing", "unstable",
})

# How apt names the files it reads in sources.list.d (any other name is ignored).
_PART_NAME = re.compile(r"[A-Za-z0-9_.-]+\.(list|sources)")
# The type word of a one-line entry, then options in brackets (if any), URI, suite, components.
_ONE_LINE_TYPE = re.compile(r"(deb-src|deb)(?=[\s\[])(.*)")
_NETWORK_SCHEMES = ("http", "https", "ftp")
_LOCAL_SCHEMES = ("file", "copy")
_FALSE = frozenset({"no", "false", "off", "0", "disable", "without"})


@dataclasses.dataclass(frozen=True)
class Entry:
    """One ``deb`` URI and suite of the host's sources, where apt reads it."""

    uri: str
    suite: str
    components: tuple[str, ...]
    path: str
    line: int


@dataclasses.dataclass(frozen=True)
class Mirror:
    """The mirror debootstrap is to use and where that choice came from.

    ``origin`` is ``"env"``, ``"apt"`` or ``"fallback"``; ``path`` and
    ``line`` locate the apt entry (None otherwise); ``note`` says in words
    where it came from, for the build's log.
    """

    uri: str
    origin: str
    note: str
    path: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        return f"{redact(self.uri)} ({self.note})"


def host_mirror(suite: str, components: Sequence[str] = ("main",), root: str | os.PathLike = DEFAULT_ROOT,
                environ: Mapping[str, str] | None = None) -> Mirror:
    """The mirror to debootstrap ``suite`` (with ``components``) from on this host; see the module's doc."""
    environ = os.environ if environ is None else environ
    override = (environ.get(MIRROR_ENV) or "").strip()
    if override:
        return Mirror(override, "env", f"from {MIRROR_ENV}")
    mirror = find_archive(suite, components, root)
    if mirror is not None:
        return mirror
    wanted = " ".join((suite, *components))
    return Mirror(FALLBACK_MIRROR, "fallback",
                  f"the default: the apt sources in {root} name no usable Debian archive for {wanted}")


def find_archive(suite: str, components: Sequence[str] = ("main",),
                 root: str | os.PathLike = DEFAULT_ROOT) -> Mirror | None:
    """The first usable apt entry for ``suite`` itself, else for another Debian release; None if neither."""
    other_release = None
    for entry in read_entries(root):
        if not set(components) <= set(entry.components) or _is_security(entry.uri):
            continue
        if entry.suite == suite:
            exact = True
        elif suite in DEBIAN_SUITES and entry.suite in DEBIAN_SUITES:
            exact = False
        else:
            continue
        uri = usable_uri(entry.uri, suite)
        if uri is None:
            continue
        where = f"{entry.path}:{entry.line}"
        if exact:
            return Mirror(uri, "apt", f"from {where}", entry.path, entry.line)
        if other_release is None:
            other_release = Mirror(uri, "apt", f"from {where}, a Debian archive listed there for {entry.suite}",
                                   entry.path, entry.line)
    return other_release


def usable_uri(uri: str, suite: str) -> str | None:
    """``uri`` as debootstrap takes it, without a trailing slash; None if debootstrap cannot use it for ``suite``."""
    parts = _split(uri)
    scheme = parts.scheme.lower() if parts else ""
    if scheme in _NETWORK_SCHEMES:
        if not parts.netloc:
            return None
        return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), parts.query, parts.fragment))
    if scheme in _LOCAL_SCHEMES:
        if parts.netloc not in ("", "localhost"):
            return None
        tree = Path(unquote(parts.path))
        if not tree.is_absolute():
            return None
        if not any((tree / "dists" / suite / name).is_file() for name in ("InRelease", "Release")):
            return None
        return "file://" + (str(tree).rstrip("/") or "/")
    return None  # cdrom:, mirror+file:, tor+http:, ssh: ... (see the module's doc)


def redact(uri: str) -> str:
    """``uri`` with any password replaced by ``***``, for logs."""
    parts = _split(uri)
    if parts is None or parts.password is None:
        return uri
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.partition(':')[0]}:***@{host}"))


def source_files(root: str | os.PathLike = DEFAULT_ROOT) -> list[Path]:
    """The files apt reads, in its order: ``sources.list``, then ``sources.list.d``'s parts by name."""
    root = Path(root)
    files = [root / "sources.list"]
    try:
        names = sorted(os.listdir(root / "sources.list.d"))
    except OSError:
        names = []
    files += [root / "sources.list.d" / name for name in names if _PART_NAME.fullmatch(name)]
    return [f for f in files if f.is_file()]


def read_entries(root: str | os.PathLike = DEFAULT_ROOT) -> Iterator[Entry]:
    """Every enabled ``deb`` entry of the host's sources, one per URI and suite, in apt's order.

    Unreadable files are skipped (apt would complain; choosing a mirror should not).
    """
    for path in source_files(root):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        parse = parse_deb822 if path.suffix == ".sources" else parse_one_line
        yield from parse(text, str(path))


def parse_one_line(text: str, path: str = "") -> Iterator[Entry]:
    """The ``deb`` entries of a file in the one-line format (``sources.list``, ``*.list``)."""
    for number, raw in enumerate(text.splitlines(), start=1):
        match = _ONE_LINE_TYPE.match(_strip_comment(raw).strip())
        if match is None or match.group(1) != "deb":
            continue  # blank, comment, deb-src, or another type
        words = _words(match.group(2))
        if words and words[0].startswith("["):
            if not words[0].endswith("]"):
                continue  # malformed: apt refuses the line
            words = words[1:]  # the options: arch=, signed-by=...
        if len(words) < 2:
            continue
        uri, suite, components = words[0], words[1], tuple(words[2:])
        if suite.endswith("/") or not components:
            continue  # a flat repository: no dists/<suite> for debootstrap
        yield Entry(uri, suite, components, path, number)


def parse_deb822(text: str, path: str = "") -> Iterator[Entry]:
    """The ``deb`` entries of a file in the deb822 format (``*.sources``)."""
    for fields, lines in _stanzas(text):
        if fields.get("enabled", "yes").strip().lower() in _FALSE:
            continue
        if "deb" not in fields.get("types", "").split():
            continue
        components = tuple(fields.get("components", "").split())
        if not components:
            continue
        for suite in fields.get("suites", "").split():
            if suite.endswith("/"):
                continue
            for uri in fields.get("uris", "").split():
                yield Entry(uri, suite, components, path, lines.get("uris", 0))


def _stanzas(text: str) -> Iterator[tuple[dict[str, str], dict[str, int]]]:
    """Each stanza's fields (names lower-cased, continuation lines joined) and the line each starts on."""
    fields: dict[str, str] = {}
    lines: dict[str, int] = {}
    name = None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            if fields:
                yield fields, lines
            fields, lines, name = {}, {}, None
        elif line.startswith("#"):
            continue
        elif line[0] in " \t":
            if name is not None:
                fields[name] += "\n" + line.strip()
        elif ":" in line:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            fields[name] = value.strip()
            lines[name] = number
        else:
            name = None  # malformed: apt refuses the file; ignore the line
    if fields:
        yield fields, lines


def _words(text: str) -> list[str]:
    """``text`` split at white space, except inside ``[...]`` or ``"..."`` (apt's ParseQuoteWord).

    So options such as ``[ arch=amd64 ]`` and a URI such as ``cdrom:[Debian GNU/Linux 12]/``
    stay one word each; double quotes are dropped, as apt drops them.
    """
    words: list[str] = []
    word: list[str] = []
    closing = None
    for char in text:
        if closing is None and char.isspace():
            if word:
                words.append("".join(word))
                word = []
            continue
        if closing is None and char in '["':
            closing = "]" if char == "[" else '"'
        elif char == closing:
            closing = None
        if char != '"':
            word.append(char)
    if word:
        words.append("".join(word))
    return words


def _strip_comment(line: str) -> str:
    """``line`` up to a ``#`` that is not inside ``[...]`` (apt's rule for one-line entries)."""
    in_options = False
    for i, char in enumerate(line):
        if char == "[":
            in_options = True
        elif char == "]":
            in_options = False
        elif char == "#" and not in_options:
            return line[:i]
    return line


def _split(uri: str) -> SplitResult | None:
    """``urlsplit(uri)``, or None for a malformed URI (``http://[oops]/``) rather than an error."""
    try:
        return urlsplit(uri)
    except ValueError:
        return None


def _is_security(uri: str) -> bool:
    """Whether ``uri`` is Debian's security archive (or a mirror of it)."""
    parts = _split(uri)
    if parts is None:
        return False  # not a URI debootstrap can use anyway
    host = (parts.hostname or "").lower()
    if host == "security.debian.org" or host.endswith(".security.debian.org"):
        return True
    last = parts.path.rstrip("/").rpartition("/")[2].lower()
    return last.endswith("-security")
