"""Markdown to HTML that is safe to put in a page: an assignment's instructions, the editor's preview.

CommonMark (with tables and strikethrough) through markdown-it-py, with raw HTML off: any ``<tag>`` in the
text is escaped and shown as text, never passed through. Links and images may only point at http, https,
mailto or a relative address; anything else (``javascript:``, ``vbscript:``, ``data:``, ``file:``...)
stays text, whichever Markdown syntax wrote it (inline, reference, autolink) and however its characters
were encoded (entities, percent-escapes, spaces or controls a browser would skip). Every link gets
``rel="noopener noreferrer nofollow"``. Neutral: both sides may import it; it imports nothing of Topolab.
"""
from __future__ import annotations

import html
import re
from functools import lru_cache
from urllib.parse import unquote

from markdown_it import MarkdownIt

MAX_BYTES = 64 * 1024  # of UTF-8 text: what an assignment's instructions and a preview may hold
LINK_REL = "noopener noreferrer nofollow"
ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})
# What a browser's URL parser reads as a scheme, once it has dropped the characters it ignores.
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):", re.IGNORECASE)
# Browsers skip leading C0 controls and spaces, and tabs and newlines anywhere in a URL.
_IGNORED = re.compile(r"[\x00-\x20\x7f]+")


class TooLong(ValueError):
    """The text is longer than :data:`MAX_BYTES`; nothing was rendered."""


def safe_url(url: str) -> bool:
    """True when ``url`` (as markdown-it normalised it) may be a link's or an image's address.

    Percent-escapes and character references are undone (repeatedly: ``%256A`` is ``%6A`` is ``j``; an
    entity markdown-it kept as text, such as ``&#x01;``, too) and ignored characters dropped before the
    scheme is read, so an encoded ``javascript:`` is still refused; no scheme means a relative address,
    which stays on this site.
    """
    text = url
    for _ in range(4):
        decoded = html.unescape(unquote(text))
        if decoded == text:
            break
        text = decoded
    else:
        return False  # still encoded after four rounds: nobody writes that by accident
    text = _IGNORED.sub("", text)
    match = _SCHEME.match(text)
    if match is None:
        # No scheme a browser would read; a colon before the first slash is nothing a writer needs in a
        # relative address and the kind of thing a trick leaves behind, so it is refused too.
        head = text.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        return ":" not in head
    return match.group(1).lower() in ALLOWED_SCHEMES


class _SafeMarkdownIt(MarkdownIt):
    """markdown-it with this module's address rule in place of its own (which lets ``data:image/png`` by)."""

    def validateLink(self, url: str) -> bool:  # markdown-it calls it by this name
        return safe_url(url)


def _link_open(self, tokens, idx, options, env):
    tokens[idx].attrSet("rel", LINK_REL)
    return self.renderToken(tokens, idx, options, env)


def _parser() -> MarkdownIt:
    md = _SafeMarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.add_render_rule("link_open", _link_open)
    return md


# One parser for the process: rendering keeps its state per call, so threads may share it.
_MD = _parser()


def render(text: str) -> str:
    """Safe HTML for the Markdown ``text``; :class:`TooLong` when it has more than :data:`MAX_BYTES`."""
    text = text or ""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise TooLong(f"{size} bytes of text; the limit is {MAX_BYTES} (64 KiB)")
    # A lone surrogate cannot be written out as UTF-8: show the replacement character instead.
    text = text.encode("utf-8", "replace").decode("utf-8") if not text.isascii() else text
    return _MD.render(text)


@lru_cache(maxsize=64)
def render_cached(text: str) -> str:
    """:func:`render`, remembered for the texts rendered most lately (an assignment's instructions are read far
    more often than written, and a hostile 64 KiB text can cost seconds of CPU to render)."""
    return render(text)
