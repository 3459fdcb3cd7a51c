"""Help pages anybody may read (no sign-in): the ``topolab/v1`` format and the example labs.

``/help/format/`` renders ``docs/topolab-v1.md``, the format's description kept
in the repository beside the schema; ``/help/examples/<name>`` hands out one
file of ``examples/`` as a download. Both read only those two places: a name
is looked up among the files that exist, never joined onto a path.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404
from django.shortcuts import render
from django.views.decorators.http import require_safe
from markdown_it import MarkdownIt

FORMAT_DOC = Path(settings.BASE_DIR) / "docs" / "topolab-v1.md"
EXAMPLES_DIR = Path(settings.BASE_DIR) / "examples"


def _slug(text: str, seen: dict[str, int]) -> str:
    """GitHub's anchor for a heading (so ``#node`` works on both), made unique on the page."""
    slug = re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")
    count = seen.get(slug, 0)
    seen[slug] = count + 1
    return f"{slug}-{count}" if count else slug


def _page_rules(state) -> None:
    """Anchors on headings, and the site's table style on tables."""
    seen: dict[str, int] = {}
    tokens = state.tokens
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and i + 1 < len(tokens):
            inline = tokens[i + 1]
            text = "".join(child.content for child in inline.children or () if child.type in ("text", "code_inline"))
            token.attrSet("id", _slug(text, seen))
        elif token.type == "table_open":
            token.attrSet("class", "topologies")


def _markdown() -> MarkdownIt:
    # CommonMark plus tables; raw HTML in the text is shown as text, never passed through.
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    md.core.ruler.push("topolab_page", _page_rules)
    return md


def render_markdown(text: str) -> str:
    """``text`` (Markdown) as HTML, any HTML it holds escaped."""
    return _markdown().render(text)


@lru_cache(maxsize=4)
def _rendered(path: Path, mtime_ns: int) -> tuple[str, str]:
    """The page's title (its first heading) and its HTML, for one version of the file."""
    text = path.read_text(encoding="utf-8")
    first = next((line for line in text.splitlines() if line.startswith("# ")), "# topolab/v1")
    return first[2:].replace("`", "").strip(), render_markdown(text)


@require_safe
def format_page(request):
    """The ``topolab/v1`` format, rendered from ``docs/topolab-v1.md``."""
    title, html = _rendered(FORMAT_DOC, FORMAT_DOC.stat().st_mtime_ns)
    return render(request, "topology/help/format.html", {"title": title, "html": html})


def examples() -> dict[str, Path]:
    """The example labs that exist, by file name (regular files only: a link could lead out of the folder)."""
    if not EXAMPLES_DIR.is_dir():
        return {}
    return {p.name: p for p in sorted(EXAMPLES_DIR.glob("*.json")) if p.is_file() and not p.is_symlink()}


@require_safe
def example(request, name: str):
    """One example lab as a download; 404 for any name that is not a file of ``examples/``."""
    path = examples().get(name)
    if path is None:
        raise Http404("no such example")
    return FileResponse(path.open("rb"), as_attachment=True, filename=name, content_type="application/json")
