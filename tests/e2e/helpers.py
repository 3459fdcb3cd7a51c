"""Driving the pages as a person would: the editor (the mouse on the canvas, the keyboard, the panel), signing
in, a tab of a person's own, the assignment page's checks table, a console's screen; and the editor's
JavaScript unit tests."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

JS_TESTS = Path(__file__).resolve().parent / "js"


def canvas_box(page) -> dict:
    return page.locator("#cy").bounding_box()


def node_point(page, name: str) -> tuple[float, float]:
    """The page coordinates of a point inside a node, a little off its centre (Cytoscape's
    hit test misses the exact centre of a diamond)."""
    box = canvas_box(page)
    p = page.evaluate("(id) => window.topolab.canvas.cy.getElementById(id).renderedPosition()", f"n:{name}")
    return box["x"] + p["x"] + 3, box["y"] + p["y"] + 4


def open_editor(page, topology_id: int) -> None:
    page.goto(f"/topologies/{topology_id}/")
    page.wait_for_selector("body[data-ready=true]")


def drop_kind(page, kind: str, x: float, y: float) -> None:
    """Drag a kind from the palette and drop it at (x, y), relative to the canvas."""
    page.locator(f".kind-btn[data-kind={kind}]").drag_to(page.locator("#cy"), target_position={"x": x, "y": y})


def rename_selected(page, name: str) -> None:
    field = page.locator("#panel").get_by_label("Name", exact=True)
    field.fill(name)
    page.wait_for_function("(n) => window.topolab.ed.doc.nodes.some((x) => x.name === n)", arg=name)


def link(page, a: str, b: str) -> None:
    """Drag from a's ● handle (it shows on hover) onto b. A person whose drag did not take tries again; so
    does this, up to three times (a drag started while the canvas was still being resized, after the panel
    opened, can begin off the handle: seen once in CI)."""
    has_link = ("([a, b]) => window.topolab.ed.doc.links.some("
                "(l) => l.endpoints.map((e) => e.node).sort().join() === [a, b].sort().join())")
    for attempt in range(3):
        _drag_a_link(page, a, b)
        try:
            page.wait_for_function(has_link, arg=[a, b], timeout=4000)
            return
        except Exception:
            if attempt == 2:
                raise
            page.mouse.move(5, 5)
            page.wait_for_timeout(300)


def _drag_a_link(page, a: str, b: str) -> None:
    ax, ay = node_point(page, a)
    page.mouse.move(ax, ay)
    page.wait_for_function("() => window.topolab.canvas.cy.$('.eh-handle').nonempty()")
    box = canvas_box(page)
    h = page.evaluate("() => window.topolab.canvas.cy.$('.eh-handle').renderedPosition()")
    hx, hy = box["x"] + h["x"], box["y"] + h["y"]
    page.mouse.move(hx, hy, steps=3)
    page.mouse.down()
    bx, by = node_point(page, b)
    page.mouse.move(bx, by, steps=12)
    page.wait_for_timeout(150)
    page.mouse.move(bx + 1, by + 1, steps=2)
    page.mouse.up()


def click_node(page, name: str, shift: bool = False) -> None:
    x, y = node_point(page, name)
    if shift:
        page.keyboard.down("Shift")
    page.mouse.click(x, y)
    if shift:
        page.keyboard.up("Shift")
    page.wait_for_function("(n) => window.topolab.canvas.selection().nodes.includes(n)", arg=name)
    if not shift:
        # The panel follows the selection a frame later: what is typed next must go to this node's fields.
        page.wait_for_function(
            "(n) => (document.querySelector('#panel .panel-head .title-text') || {}).textContent?.startsWith(n + ' ·')",
            arg=name)


def document(page) -> dict:
    return page.evaluate("() => window.topolab.ed.doc")


def node_states(page) -> dict:
    return page.evaluate("() => Object.fromEntries("
                         "window.topolab.canvas.cy.nodes('.doc').map((n) => [n.data('name'), n.data('state')]))")


# -- people and their tabs --------------------------------------------------------------------------------------

# Every Content-Security-Policy violation of a page goes into its errors too (the pages put in no inline code).
CSP_WATCH = """document.addEventListener('securitypolicyviolation', (e) => {
  throw new Error(`CSP: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`); });"""


def new_page(browser, web, errors: list[str]):
    """(a browser context of its own, its 1280x720 tab): one more person at the site; JavaScript errors and
    CSP violations go into ``errors``. The caller closes the context."""
    context = browser.new_context(viewport={"width": 1280, "height": 720}, base_url=web.url)
    context.set_default_timeout(15000)
    context.add_init_script(CSP_WATCH)
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    return context, page


def sign_in(page, username: str, password: str) -> None:
    """Sign in on the login page, as typed, and wait for the home page."""
    page.goto("/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


# -- the assignment page's checks -------------------------------------------------------------------------------

def check_row(page, index: int):
    """The ``index``-th row of the assignment page's checks table."""
    return page.locator("#checks tr.check-row").nth(index)


def add_check(page, index: int, node: str, command: str, description: str, *, expect_: str = "exit0",
              pattern: str = "", points: int = 1) -> None:
    """A new row of the assignment page's checks table, filled in as the instructor types it."""
    page.locator("#a-add-check").click()
    row = check_row(page, index)
    row.locator("[data-field=node]").select_option(node)
    row.locator("[data-field=command]").fill(command)
    row.locator("[data-field=expect]").select_option(expect_)
    if pattern:
        row.locator("[data-field=pattern]").fill(pattern)
    row.locator("[data-field=description]").fill(description)
    row.locator("[data-field=points]").fill(str(points))


# --- the editor's JavaScript unit tests (Node's own test runner) and a console's screen ----------------------

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed (compose/lib.sh installs it)")


def run_js_tests(name: str, env: dict | None = None) -> None:
    """Run ``tests/e2e/js/<name>`` with ``node --test`` (``env`` added to this one's); they must all pass."""
    result = subprocess.run(["node", "--test", str(JS_TESTS / name)], capture_output=True, text=True, timeout=120,
                            cwd=JS_TESTS.parents[2], env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stdout + result.stderr


CONSOLE_TEXT = """(key) => {
    const b = window.topolab.dock.terms.get(key).session.term.buffer.active;
    const out = [];
    for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true));
    return out.join('\\n');
}"""
THROUGH_R1 = re.compile(r"icmp_seq=(\d+) ttl=63\b")  # an echo reply from across the reference lab's router


def console_text(page, key: str = "console:c1") -> str:
    """Everything the dock's terminal ``key`` holds (scrollback too), line by line."""
    return page.evaluate(CONSOLE_TEXT, key)


def echo_replies(page, key: str = "console:c1") -> list[int]:
    """The icmp_seq of every echo reply through r1 (TTL 63) that the console ``key`` has shown."""
    return [int(m) for m in THROUGH_R1.findall(console_text(page, key))]


def wait_for_reply_after(page, seq: int, timeout: float, key: str = "console:c1") -> int:
    """Wait until a reply numbered above ``seq`` shows in ``key``; its number."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = echo_replies(page, key)
        if got and max(got) > seq:
            return max(got)
        page.wait_for_timeout(100)
    raise AssertionError(f"no echo reply after icmp_seq={seq} within {timeout} s: {console_text(page, key)[-800:]}")
