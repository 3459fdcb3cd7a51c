"""The Content-Security-Policy in a real browser: every page the site has, in use, reports no violation.

Each page's answer must carry the policy (so a site without one fails here, not only a site that
breaks it), and a ``securitypolicyviolation`` listener, put in every page of the browser context
before its own scripts run, and the console's "Content Security Policy" messages, must stay empty
while the page works: the list, the editor with a console open in the dock (its websockets
included), the pop-out terminal window, the tokens page showing a new token, the format help and
the API docs (Swagger UI, drawn and with an operation opened).

And a websocket to a path no socket lives at closes, for the browser, with code 4404, with one
line in the server's log and no traceback.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.documents import reference_document

from .helpers import click_node

SHELL = 20_000

WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`);
});
"""


class Watch:
    """Every violation and CSP console message in every page of one browser context."""

    def __init__(self, context):
        self.console: list[str] = []
        self.pages = []
        context.add_init_script(WATCH)
        context.on("page", self._watch)
        for page in context.pages:
            self._watch(page)

    def _watch(self, page) -> None:
        self.pages.append(page)
        page.on("console", self._console)

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(f"{message.type}: {message.text}")

    def forget(self) -> None:
        self.console.clear()
        for page in self.pages:
            if not page.is_closed():
                page.evaluate("() => { window.__csp = []; }")

    def violations(self) -> list[str]:
        found = list(self.console)
        for page in self.pages:
            if not page.is_closed():
                found += [f"{page.url}: {v}" for v in page.evaluate("() => window.__csp || []")]
        return found


@pytest.fixture
def csp(page):
    """The test's page, watched from before it signs in (the sign-in page is watched too)."""
    return Watch(page.context)


def visit(page, path: str) -> dict:
    """Open ``path``; the page's answer must carry the policy. Its policy, directive by directive."""
    response = page.goto(path)
    assert response.ok, (path, response.status)
    header = response.headers.get("content-security-policy")
    assert header, f"{path} answered without a Content-Security-Policy"
    return {d.split()[0]: d.split()[1:] for d in header.split(";") if d.strip()}


def test_the_list_tokens_format_and_api_docs_pages_break_no_rule(csp, signed_in):
    page = signed_in

    assert visit(page, "/")["script-src"] == ["'self'"]
    expect(page.locator("#topologies")).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert csp.violations() == []

    # The watch sees what the policy refuses: an inline <style> and an inline script are both reported.
    page.evaluate("""() => {
        const style = document.createElement('style'); style.textContent = 'body { color: red; }'; document.head.append(style);
        const script = document.createElement('script'); script.textContent = 'window.ran = 1;'; document.head.append(script);
    }""")
    page.wait_for_function("() => window.__csp.length >= 2")
    assert page.evaluate("() => window.ran") is None
    reported = page.evaluate("() => window.__csp")
    assert {v.split()[0] for v in reported if "blocked inline" in v} >= {"style-src-elem", "script-src-elem"}, reported
    assert any("Content Security Policy" in m for m in csp.console), csp.console
    csp.forget()

    visit(page, "/tokens/")
    page.get_by_label("Name of a new token").fill("csp check")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#token-secret-value")
    expect(secret).to_be_visible()
    secret.focus()  # the focus handler (a file now, not an onfocus attribute) selects the whole secret
    assert page.evaluate("() => { const s = document.getElementById('token-secret-value');"
                         " return s.selectionStart === 0 && s.selectionEnd === s.value.length; }")

    visit(page, "/help/format/")
    expect(page.locator("article.format-doc h1")).to_be_visible()

    visit(page, "/api/v1/docs")
    operation = page.locator(".opblock").first
    expect(operation).to_be_visible(timeout=15000)
    operation.locator(".opblock-summary").click()
    expect(page.locator(".opblock-body").first).to_be_visible()
    page.wait_for_load_state("networkidle")

    assert csp.violations() == []


def test_the_admin_breaks_no_rule(csp, signed_in, owner):
    page = signed_in
    owner.is_staff = owner.is_superuser = True
    owner.save()
    for path in ("/admin/", "/admin/auth/user/", f"/admin/auth/user/{owner.pk}/change/", "/admin/topology/"):
        visit(page, path)
        page.wait_for_load_state("networkidle")
    assert csp.violations() == []


def test_the_editor_with_a_console_and_the_pop_out_window_break_no_rule(csp, signed_in, labs, relay):
    page = signed_in
    lab = labs.deploy(reference_document())

    policy = visit(page, f"/topologies/{lab.topology_id}/")
    assert policy["script-src"] == ["'self'"] and policy["connect-src"] == ["'self'"]
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_function("() => window.topolab.ed.lab.state === 'running' && window.topolab.ed.states.c1?.state === 'running'")
    # Edgehandles (a classic script, handed lodash by commonjs.js) is loaded, and window.module is gone again.
    assert page.evaluate("() => typeof window.cytoscapeEdgehandles === 'function' && window.module === undefined")

    # A console in the dock: its websocket is connect-src 'self' (ws: of this very host), xterm draws
    # (a 24-bit colour is a style attribute of xterm's own).
    click_node(page, "c1")
    page.locator("#panel").get_by_role("button", name="Console").click()
    c1 = page.locator("#dock-terms .term-pane[data-key='console:c1']")
    expect(page.locator("#dock-tabs .dock-tab[data-key='console:c1']")).to_have_attribute("data-state", "open",
                                                                                        timeout=SHELL)
    c1.locator(".xterm-screen").click()
    page.keyboard.type("printf '\\033[38;2;200;30;30mtrue-colour\\033[0m %s\\n' $((6*7))")
    page.keyboard.press("Enter")
    expect(c1.locator(".xterm-rows")).to_contain_text("true-colour 42", timeout=SHELL)

    # The same shell, popped out into a window of its own.
    with page.context.expect_page() as popped:
        c1.get_by_role("button", name="Pop out c1").click()
    window = popped.value
    window.wait_for_load_state()
    expect(window.locator("#term-state")).to_have_attribute("data-state", "open", timeout=SHELL)
    window.locator(".xterm-screen").click()
    window.keyboard.type("echo popped-$((6*7))")
    window.keyboard.press("Enter")
    expect(window.locator(".xterm-rows")).to_contain_text("popped-42", timeout=SHELL)

    assert csp.violations() == []
    window.close()


def test_an_unknown_websocket_path_closes_with_4404_and_one_log_line(csp, signed_in, web):
    page = signed_in
    before = len(web.logged())
    codes = page.evaluate("""async (paths) => {
        const codes = [];
        for (const path of paths) {
            codes.push(await new Promise((resolve) => {
                const ws = new WebSocket(`ws://${location.host}${path}`);
                ws.onclose = (e) => resolve(e.code);
            }));
        }
        return codes;
    }""", ["/ws/nope", "/ws/topologies/abc/", "/ws/topologies/1/nodes/x/bogus"])
    assert codes == [4404, 4404, 4404]
    page.wait_for_timeout(300)  # the server's log lines reach its file
    logged = web.logged()[before:].decode(errors="replace")
    assert "Traceback" not in logged and "Exception inside application" not in logged, logged
    for path in ("/ws/nope", "/ws/topologies/abc/", "/ws/topologies/1/nodes/x/bogus"):
        # One line in the web server's log, and only one (each record is printed by the root handler alone).
        said = [line for line in logged.splitlines() if f"Not Found (websocket): {path!r}" in line]
        assert len(said) == 1, logged
    assert csp.violations() == []
