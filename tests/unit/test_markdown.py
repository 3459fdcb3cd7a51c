"""Safe Markdown (topology.markdown): raw HTML is text, hostile addresses are never links, in every syntax."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from topology import markdown

HOSTILE_SCHEMES = ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "vbscript:msgbox(1)", "data:text/html,<script>x</script>",
                   "data:image/png;base64,iVBORw0KGgo=", "file:///etc/passwd", "%6Aavascript:alert(1)",
                   "&#106;avascript:alert(1)", "&#x6A;&#x61;vascript&colon;alert(1)", "java&#x09;script:alert(1)",
                   "&#x01;javascript:alert(1)", "%256Aavascript:alert(1)"]


def hrefs(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="([^"]*)"', html)


SAFE_TAGS = {"p", "a", "img", "code", "pre", "em", "strong", "s", "h1", "h2", "ul", "ol", "li", "table", "thead",
             "tbody", "tr", "th", "td", "br", "hr", "blockquote"}


class _Elements(HTMLParser):
    """Every element and attribute of the HTML, as a browser's tokenizer reads them."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def assert_no_active_content(html: str) -> None:
    """Only markdown-it's own elements, no event handler attributes, and every address http(s), mailto or
    relative, as the browser would decode it."""
    parser = _Elements()
    parser.feed(html)
    for tag, attrs in parser.found:
        assert tag in SAFE_TAGS, (tag, html)
        assert not [name for name in attrs if name.startswith("on") or name == "style"], (tag, attrs)
        for name in ("href", "src"):
            if name in attrs:
                url = re.sub(r"[\x00-\x20]", "", attrs[name])
                assert markdown.safe_url(url), url
                assert not re.match(r"(javascript|vbscript|data|file):", url, re.IGNORECASE), url


@pytest.mark.parametrize("text", [
    "<script>alert(1)</script>",
    "before <script>alert(1)</script> after",
    "<img src=x onerror=alert(1)>",
    "text <img src=x onerror=alert(1)> inline",
    "<div onclick=\"alert(1)\">block</div>",
    "<a href=\"javascript:alert(1)\">raw link</a>",
    "<iframe src=\"https://example.org\"></iframe>",
    "<svg onload=alert(1)>",
    "<!-- comment --><style>body{}</style>",
])
def test_raw_html_is_escaped_never_passed_through(text):
    html = markdown.render(text)
    assert_no_active_content(html)
    tag = re.match(r"[^<]*<(\w+|!--)", text).group(1)
    assert f"&lt;{tag}" in html, html  # shown as text
    assert f"<{tag}" not in html


@pytest.mark.parametrize("url", HOSTILE_SCHEMES)
@pytest.mark.parametrize("syntax", ["inline", "reference", "image", "autolink", "angle"])
def test_hostile_addresses_are_never_links_in_any_syntax(url, syntax):
    text = {
        "inline": f"[click]({url})",
        "reference": f"[click][r]\n\n[r]: {url}",
        "image": f"![pic]({url})",
        "autolink": f"<{url}>",
        "angle": f"[click](<{url}>)",
    }[syntax]
    html = markdown.render(text)
    assert_no_active_content(html)
    assert "<a " not in html and "<img" not in html, html


def test_an_entity_encoded_scheme_is_decoded_before_it_is_judged():
    assert markdown.safe_url("https://example.org/") and not markdown.safe_url("javascript:x")
    html = markdown.render("[x](&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1))")
    assert "<a " not in html and "href" not in html


def test_good_links_get_rel_and_stay():
    html = markdown.render("[site](https://example.org/a?b=1) [rel](../help/) [top](#top) [mail](mailto:t@example.org)"
                           " <https://example.net/x> [ref]\n\n[ref]: http://example.com/r")
    assert hrefs(html) == ["https://example.org/a?b=1", "../help/", "#top", "mailto:t@example.org",
                           "https://example.net/x", "http://example.com/r"]
    assert html.count('rel="noopener noreferrer nofollow"') == 6
    assert html.count("<a ") == 6


def test_http_images_are_kept_data_images_not():
    assert '<img src="https://example.org/a.png" alt="a"' in markdown.render("![a](https://example.org/a.png)")
    assert "<img" not in markdown.render("![a](data:image/gif;base64,R0lGODlhAQABAAAAACw=)")


def test_html_in_code_spans_and_blocks_stays_text():
    html = markdown.render("Use `<b>bold</b>` and\n\n```\n<script>alert(1)</script>\n```\n\n    <img onerror=x>")
    assert "<code>&lt;b&gt;bold&lt;/b&gt;</code>" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img onerror=x&gt;" in html
    assert_no_active_content(html)


def test_tables_and_ordinary_markdown_render():
    html = markdown.render("# Lab 1\n\n| node | address |\n|------|---------|\n| c1 | 192.168.10.2 |\n\n"
                           "*ping* **c2** ~~not~~\n\n- one\n- two")
    assert "<h1>Lab 1</h1>" in html
    assert "<table>" in html and "<th>node</th>" in html and "<td>192.168.10.2</td>" in html
    assert "<em>ping</em>" in html and "<strong>c2</strong>" in html and "<s>not</s>" in html
    assert "<li>one</li>" in html


def test_attribute_breaking_quotes_in_a_link_are_escaped():
    html = markdown.render('[x](https://example.org/"onmouseover="alert(1) "t\\"itle")')
    assert_no_active_content(html)
    html = markdown.render('[x](https://example.org/ "a\\" onmouseover=\\"alert(1)")')
    assert 'title="a&quot; onmouseover=&quot;alert(1)"' in html
    assert_no_active_content(html)


def test_at_most_64_kib_of_text():
    markdown.render("a" * markdown.MAX_BYTES)
    with pytest.raises(markdown.TooLong, match="65537 bytes"):
        markdown.render("a" * (markdown.MAX_BYTES + 1))
    with pytest.raises(markdown.TooLong):  # bytes of UTF-8, not characters
        markdown.render("é" * (markdown.MAX_BYTES // 2 + 1))


def test_a_lone_surrogate_does_not_crash():
    assert "<p>" in markdown.render("a\ud800b")


def test_rendered_instructions_are_remembered():
    text = "# Remembered\n\n" + "![" * 100
    first = markdown.render_cached(text)
    hits = markdown.render_cached.cache_info().hits
    assert markdown.render_cached(text) is first and markdown.render_cached.cache_info().hits == hits + 1
    assert first == markdown.render(text)
