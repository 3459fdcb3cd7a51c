"""Consoles in a real browser: xterm.js in the editor's dock and in a window of its own, through
daphne, the channel layer and the real root relay, into the reference lab's containers.

    c1 (192.168.10.2/24) --eth0-- r1 --eth1-- c2 (192.168.11.2/24)
                         .10.1/24    .11.1/24

What a person would do: double-click a node, type, read the screen. The screen is read from
xterm's rendered rows (.xterm-rows), always through Playwright's expect, which waits.
"""
from __future__ import annotations

import itertools
import re

import pytest
from playwright.sync_api import expect

from tests.documents import reference_document

from .conftest import shot
from .helpers import click_node, node_point, open_editor

SHELL = 20_000  # ms: a shell starting, a ping crossing the lab
DESTROY = 120_000
MARKERS = itertools.count(1)


def pane(page, node: str, kind: str = "console"):
    return page.locator(f"#dock-terms .term-pane[data-key='{kind}:{node}']")


def tab(page, node: str, kind: str = "console"):
    return page.locator(f"#dock-tabs .dock-tab[data-key='{kind}:{node}']")


def screen(where):
    """The rendered rows of the one terminal inside `where` (a pane, or a whole pop-out page)."""
    return where.locator(".xterm-rows")


def type_in(where, page, line: str) -> None:
    """Click into the terminal and type a line, key by key, as a person would."""
    where.locator(".xterm-screen").click()
    page.keyboard.type(line)
    page.keyboard.press("Enter")


def size_of(where) -> tuple[int, int]:
    host = where.locator(".term-host")
    return int(host.get_attribute("data-rows")), int(host.get_attribute("data-cols"))


SETTLED = """(host) => {
    const key = host.closest('.term-pane').dataset.key;
    const s = key ? window.topolab.dock.terms.get(key).session : window.topolab.session;
    const want = s.fit.proposeDimensions();
    return want && want.rows === s.term.rows && want.cols === s.term.cols && host.dataset.rows === String(s.term.rows);
}"""


def expect_stty_size_matches(page, where) -> None:
    """`stty size` in the shell answers the rows and columns the terminal shows (once it fits its box)."""
    page.wait_for_function(SETTLED, arg=where.locator(".term-host").element_handle())
    rows, cols = size_of(where)
    type_in(where, page, "stty size | sed 's/^/size=/'")
    expect(screen(where)).to_contain_text(f"size={rows} {cols}", timeout=SHELL)


def shell_pid(where, page) -> str:
    """The shell's process id, asked under a marker of its own (older answers stay on the screen)."""
    marker = next(MARKERS)
    type_in(where, page, f"echo pid-{marker}=$$.")
    answer = re.compile(rf"pid-{marker}=(\d+)\.")
    expect(screen(where)).to_contain_text(answer, timeout=SHELL)
    return answer.search(screen(where).inner_text()).group(1)


def open_console_by_double_click(page, node: str):
    x, y = node_point(page, node)
    page.mouse.dblclick(x, y)
    expect(tab(page, node)).to_have_attribute("data-state", "open", timeout=SHELL)
    return pane(page, node)


def open_running_lab(page, labs):
    """Deploy the reference lab and open it in the editor, once the page knows it runs: the lab."""
    lab = labs.deploy(reference_document())
    open_editor(page, lab.topology_id)
    page.wait_for_function("() => window.topolab.ed.lab.state === 'running' && window.topolab.ed.states.c1?.state === 'running'")
    return lab


def test_it_opens_consoles_types_pings_tiles_resizes_and_closes_them_on_destroy(signed_in, labs, relay):
    page = signed_in
    open_running_lab(page, labs)

    # Double-click c1: its console opens in the dock, in front, with the keyboard in it.
    c1 = open_console_by_double_click(page, "c1")
    expect(c1).to_be_visible()
    expect(page.locator("#dock-body")).to_be_hidden()
    page.keyboard.type("ping -c 1 192.168.11.2")
    page.keyboard.press("Enter")
    expect(screen(c1)).to_contain_text(re.compile(r"ttl=63\b"), timeout=SHELL)
    expect_stty_size_matches(page, c1)
    shot(page, "console-c1")

    # Opening c1 again brings the same tab to the front, not a second one.
    page.mouse.dblclick(*node_point(page, "c1"))
    expect(page.locator("#dock-tabs .dock-tab[data-key='console:c1']")).to_have_count(1)

    # r1 from the panel's Console button, c2 by double-click: three consoles at once.
    click_node(page, "r1")
    page.locator("#panel").get_by_role("button", name="Console").click()
    r1 = pane(page, "r1")
    expect(tab(page, "r1")).to_have_attribute("data-state", "open", timeout=SHELL)
    c2 = open_console_by_double_click(page, "c2")
    expect(c1).to_be_hidden()  # one at a time, until Tile
    page.get_by_role("button", name="Tile").click()
    for p in (c1, r1, c2):
        expect(p).to_be_visible()
    boxes = [p.bounding_box() for p in (c1, r1, c2)]
    assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"], boxes  # side by side
    assert abs(boxes[0]["y"] - boxes[2]["y"]) < 2, boxes
    type_in(r1, page, "ip -brief addr show eth1")
    expect(screen(r1)).to_contain_text("192.168.11.1/24", timeout=SHELL)
    type_in(c2, page, "hostname")
    expect(screen(c2)).to_contain_text("c2", timeout=SHELL)
    # Each tile is narrower than the whole dock was: the shell was told its new size.
    expect_stty_size_matches(page, c2)

    # A taller dock (drag its top edge up): more rows, and the shell knows.
    rows_before, _ = size_of(c1)
    handle = page.locator("#dock-resize").bounding_box()
    page.mouse.move(handle["x"] + 400, handle["y"] + 3)
    page.mouse.down()
    page.mouse.move(handle["x"] + 400, handle["y"] + 3 - 100, steps=8)
    page.mouse.up()
    # The dock's top edge follows the pointer (to within a pixel or two of rounding).
    page.wait_for_function("(y) => Math.abs(document.getElementById('dock').getBoundingClientRect().top - y) < 3",
                           arg=handle["y"] + 3 - 100)
    expect(c1.locator(".term-host")).not_to_have_attribute("data-rows", str(rows_before))
    assert size_of(c1)[0] > rows_before
    expect_stty_size_matches(page, c1)
    shot(page, "console-tiled")

    # Destroy the lab from the toolbar: every console says it closed, and none comes back.
    page.get_by_role("button", name="Destroy ■").click()
    page.locator("#destroy-ok").click()  # it asks first (destroy-confirm.js)
    for node in ("c1", "r1", "c2"):
        expect(tab(page, node)).to_have_attribute("data-state", "closed", timeout=DESTROY)
    for p in (c1, r1, c2):
        message = p.locator(".term-state").get_attribute("title")
        assert message, "the server's closed status carried no message"
        expect(screen(p)).to_contain_text(f"[{message}]")
        expect(p.get_by_role("button", name="Reopen")).to_be_disabled()
    page.wait_for_function("() => window.topolab.ed.lab.state === 'stopped' && !window.topolab.ed.lab.busy", timeout=DESTROY)
    page.wait_for_timeout(1500)  # a reconnect would have begun by now (its first try is after 0.5 s)
    for node in ("c1", "r1", "c2"):
        expect(tab(page, node)).to_have_attribute("data-state", "closed")
    shot(page, "console-destroyed")

    # Closing a tab takes it away; the panel's buttons say why there is no console now.
    tab(page, "c1").get_by_role("button", name="Close c1").click()
    expect(tab(page, "c1")).to_have_count(0)
    click_node(page, "c1")
    console_button = page.locator("#panel").get_by_role("button", name="Console")
    expect(console_button).to_be_disabled()
    expect(page.locator("#panel .node-actions .btn-wrap").first).to_have_attribute("title", re.compile("not running"))


def test_it_follows_a_nodes_logs_and_pops_a_console_out_into_its_own_window(signed_in, labs, relay):
    page = signed_in
    lab = open_running_lab(page, labs)

    # Something in c1's own output (what its main process prints), then its Logs view.
    c1 = open_console_by_double_click(page, "c1")
    type_in(c1, page, "echo from-pid-one-$((6*7)) > /proc/1/fd/1")
    click_node(page, "c1")
    page.locator("#panel").get_by_role("button", name="Logs").click()
    logs = pane(page, "c1", "logs")
    expect(tab(page, "c1", "logs")).to_have_attribute("data-state", "open", timeout=SHELL)
    expect(tab(page, "c1", "logs")).to_contain_text("Logs · c1")
    expect(screen(logs)).to_contain_text("from-pid-one-42", timeout=SHELL)
    # Followed live: a later line arrives by itself.
    tab(page, "c1").locator(".tab-label").click()
    type_in(c1, page, "echo later-line-$((6*8)) > /proc/1/fd/1")
    tab(page, "c1", "logs").locator(".tab-label").click()
    expect(screen(logs)).to_contain_text("later-line-48", timeout=SHELL)
    shot(page, "console-logs")

    # Pop c1's console out: the same shell in a window of its own; the dock's tab goes away.
    tab(page, "c1").locator(".tab-label").click()
    pid = shell_pid(c1, page)
    with page.context.expect_page() as popped:
        c1.get_by_role("button", name="Pop out c1").click()
    window = popped.value
    errors: list[str] = []
    window.on("pageerror", lambda e: errors.append(str(e)))
    window.wait_for_load_state()
    expect(window).to_have_title(f"c1 · console · {lab.topology.name}")
    expect(tab(page, "c1")).to_have_count(0)
    expect(window.locator("#term-state")).to_have_attribute("data-state", "open", timeout=SHELL)
    type_in(window, window, "echo popped-$((6*7))")
    expect(screen(window)).to_contain_text("popped-42", timeout=SHELL)
    assert shell_pid(window, window) == pid
    expect_stty_size_matches(window, window)
    shot(window, "console-popped-out")

    # Destroy: the window and the logs view say they closed too.
    page.get_by_role("button", name="Destroy ■").click()
    page.locator("#destroy-ok").click()  # it asks first (destroy-confirm.js)
    expect(window.locator("#term-state")).to_have_attribute("data-state", "closed", timeout=DESTROY)
    expect(tab(page, "c1", "logs")).to_have_attribute("data-state", "closed", timeout=DESTROY)
    expect(window.get_by_role("button", name="Reopen")).to_be_visible()
    shot(window, "console-popped-out-closed")
    page.wait_for_function("() => window.topolab.ed.lab.state === 'stopped' && !window.topolab.ed.lab.busy", timeout=DESTROY)
    assert not errors, f"JavaScript errors in the pop-out window: {errors}"


def test_it_gets_the_same_shell_back_after_a_dropped_connection_and_after_a_reload(signed_in, labs, relay):
    page = signed_in
    lab = open_running_lab(page, labs)
    c1 = open_console_by_double_click(page, "c1")
    pid = shell_pid(c1, page)

    # The connection drops (as a network would: any code but 1000) while the shell is printing.
    type_in(c1, page, "sleep 1; echo printed-while-away-$((6*7))")
    page.evaluate("() => window.topolab.dock.terms.get('console:c1').session.drop()")
    expect(screen(c1)).to_contain_text("reconnecting…")
    expect(tab(page, "c1")).to_have_attribute("data-state", "open", timeout=SHELL)
    expect(screen(c1)).to_contain_text("printed-while-away-42", timeout=SHELL)
    assert shell_pid(c1, page) == pid

    # A flood (4 MB): it all arrives, because the page acknowledges what it wrote (the server
    # holds back after 512 KiB unacknowledged), and the page keeps answering meanwhile.
    type_in(c1, page, "yes 0123456789abcdef | head -c 4000000; echo; echo flood-$((6*7))-done")
    expect(screen(c1)).to_contain_text("flood-42-done", timeout=60_000)
    assert page.evaluate("() => 1 + 1") == 2
    kept = page.evaluate("() => window.topolab.dock.terms.get('console:c1').session.term.buffer.active.length")
    assert kept == 5000 + size_of(c1)[0]

    # A reload: the editor asks for the same shell again (its token is kept for this browser tab).
    type_in(c1, page, "sleep 2; echo printed-across-the-reload-$((6*7))")
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    expect(tab(page, "c1")).to_have_attribute("data-state", "open", timeout=SHELL)
    expect(screen(c1)).to_contain_text("printed-across-the-reload-42", timeout=SHELL)
    assert shell_pid(c1, page) == pid
    shot(page, "console-resumed")

    # The shell exits: the tab stays, with its output and a Reopen button that starts a new shell.
    type_in(c1, page, "exit")
    expect(tab(page, "c1")).to_have_attribute("data-state", "closed", timeout=SHELL)
    expect(screen(c1)).to_contain_text("printed-across-the-reload-42")
    c1.get_by_role("button", name="Reopen").click()
    expect(tab(page, "c1")).to_have_attribute("data-state", "open", timeout=SHELL)
    expect(c1.get_by_role("button", name="Reopen")).to_be_hidden()
    second = shell_pid(c1, page)
    assert second != pid

    # Closing the tab ends the shell for good: a later console is a new shell.
    tab(page, "c1").get_by_role("button", name="Close c1").click()
    c1 = open_console_by_double_click(page, "c1")
    assert shell_pid(c1, page) not in (pid, second)
    labs.destroy(lab)
    expect(tab(page, "c1")).to_have_attribute("data-state", "closed", timeout=DESTROY)


@pytest.fixture
def c1_console(signed_in, labs, relay):
    """The editor of the running reference lab with c1's console open: (the page, c1's pane)."""
    open_running_lab(signed_in, labs)
    return signed_in, open_console_by_double_click(signed_in, "c1")


def test_it_shows_colour_and_copies_and_pastes_with_ctrl_shift(c1_console):
    page, c1 = c1_console
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])

    # Colour: the shell's escape sequences reach the screen as colour, not as text.
    type_in(c1, page, r"printf 'plain \033[31mREDWORD\033[0m plain\n'")
    red = screen(c1).locator("span.xterm-fg-1", has_text="REDWORD")
    expect(red).to_have_count(1, timeout=SHELL)
    expect(screen(c1)).to_contain_text("plain REDWORD plain")  # the escapes became colour, not text

    # Copy: double-click a word to select it, Ctrl-Shift-C puts it on the clipboard.
    box = red.bounding_box()  # the rows sit under xterm's own mouse layer: click where the word is
    page.mouse.dblclick(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.keyboard.press("Control+Shift+C")
    page.wait_for_function("async () => (await navigator.clipboard.readText()) === 'REDWORD'")

    # Paste: Ctrl-Shift-V types the clipboard into the shell.
    page.evaluate("() => navigator.clipboard.writeText('echo pasted-$((40+2))')")
    c1.locator(".xterm-screen").click()
    page.keyboard.press("Control+Shift+V")
    expect(screen(c1)).to_contain_text("echo pasted-$((40+2))")  # on the prompt, not run yet
    page.keyboard.press("Enter")
    expect(screen(c1)).to_contain_text("pasted-42", timeout=SHELL)
    shot(page, "console-colour-copy-paste")


def test_a_flood_neither_stalls_the_page_nor_keeps_the_shell_from_ctrl_c(c1_console):
    page, c1 = c1_console
    type_in(c1, page, "yes FLOOD$((1+1))LINE")
    expect(screen(c1)).to_contain_text("FLOOD2LINE", timeout=SHELL)  # the output, not the command
    # While it floods (endlessly), the page still answers: tabs switch, the panel works.
    for _ in range(3):
        page.locator("#dock-toggle").click()
        expect(page.locator("#dock-body")).to_be_visible()
        tab(page, "c1").click()
        expect(c1).to_be_visible()
    click_node(page, "c2")
    expect(page.locator("#panel")).to_contain_text("c2")
    # Ctrl-C reaches the shell through the backlog, and the prompt comes back.
    c1.locator(".xterm-screen").click()
    page.keyboard.press("Control+C")
    type_in(c1, page, "echo calm-$((2*3))")
    expect(screen(c1)).to_contain_text("calm-6", timeout=SHELL)
    shot(page, "console-after-flood")


def test_signing_out_in_another_tab_ends_the_consoles_and_the_live_view(c1_console):
    page, c1 = c1_console
    other = page.context.new_page()
    other.goto("/")
    other.locator("#account-toggle").click()  # Sign out is in the header's account menu
    other.get_by_role("button", name="Sign out").click()
    other.wait_for_url("**/login/**")
    # The open editor learns it (the server re-checks every second in these tests, 10 s by default).
    expect(screen(c1)).to_contain_text("you signed out", timeout=SHELL)
    expect(tab(page, "c1")).to_have_attribute("data-state", "closed")
    expect(page.locator("#dock-status")).to_contain_text("You signed out. Sign in again to follow this lab.")
    expect(page.locator("#lab-state")).to_have_class(re.compile("offline"))
    expect(c1.get_by_role("button", name="Reopen")).to_be_disabled()  # it would be refused: says why instead
    expect(c1.get_by_role("button", name="Reopen")).to_have_attribute("title", re.compile("You signed out"))
    shot(page, "editor-signed-out")
