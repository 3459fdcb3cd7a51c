"""A node of a running lab stopped, started and restarted from its panel (issue 11), in a real browser, on the
reference lab's real containers:

    c1 (192.168.10.2/24) --eth0-- r1 --eth1-- c2 (192.168.11.2/24)

A person opens consoles on c1 and r1, pings c2 from c1, and restarts r1 from its panel: r1's console says it
stopped, then that it restarted, with a new shell that works at once; c1's console stays the same session
throughout and its pings come back through r1 (TTL 63). Then Stop (no confirmation; the keyboard lands on
Start): r1 shows stopped, the pings stop; Start: they come back. A refusal's words show in the panel. Consoles
are read from xterm's own buffer (scrollback included), so no line is missed by scrolling.

Also here: the pure functions of static/topolab/node-live.js under node's test runner.
"""
from __future__ import annotations

import re
import time

from playwright.sync_api import expect

from topology import nodes

from .conftest import shot
from .helpers import (
    CONSOLE_TEXT,
    THROUGH_R1,
    click_node,
    console_text,
    echo_replies,
    needs_node,
    node_states,
    run_js_tests,
    wait_for_reply_after,
)
from .test_console import SHELL, open_console_by_double_click, open_running_lab, screen, tab, type_in

NODE_OP = 60_000  # ms: the server waits up to a minute for a node operation

# Every state c1's console tab takes from now on (it must stay "open": the same shell through r1's restart).
WATCH_C1 = """() => {
    const t = window.topolab.dock.terms.get('console:c1');
    window.__c1 = {session: t.session, token: t.session.token, states: []};
    new MutationObserver(() => window.__c1.states.push(t.tab.dataset.state))
        .observe(t.tab, {attributes: true, attributeFilter: ['data-state']});
}"""

# Whether the panel ever showed the busy line of a request (it may last a second only).
WATCH_BUSY = """() => {
    window.__busy = [];
    new MutationObserver(() => {
        const b = document.querySelector('#panel .node-live-busy');
        const words = b && b.firstChild.textContent;
        if (words && !window.__busy.includes(words)) window.__busy.push(words);
    }).observe(document.getElementById('panel'), {childList: true, subtree: true, characterData: true});
}"""


def live(page):
    """The Live section of the node's panel."""
    return page.locator("#panel .node-live")


def button(page, name: str):
    return live(page).get_by_role("button", name=name, exact=True)


def c1_kept_its_session(page) -> None:
    same = page.evaluate("""() => { const s = window.topolab.dock.terms.get('console:c1').session;
        return {same: s === window.__c1.session && s.token === window.__c1.token, state: s.state, seen: window.__c1.states}; }""")
    assert same["same"] and same["state"] == "open", same
    assert set(same["seen"]) <= {"open"}, same  # never closed, never reconnecting


def test_restarting_stopping_and_starting_a_node_from_its_panel(signed_in, labs, relay):
    page = signed_in
    lab = open_running_lab(page, labs)

    c1 = open_console_by_double_click(page, "c1")
    type_in(c1, page, "ping 192.168.11.2")
    expect(screen(c1)).to_contain_text(THROUGH_R1, timeout=SHELL)
    r1 = open_console_by_double_click(page, "r1")
    page.get_by_role("button", name="Tile").click()
    type_in(r1, page, "echo before-$((6*6))")
    expect(screen(r1)).to_contain_text("before-36", timeout=SHELL)
    page.evaluate(WATCH_C1)

    # r1's panel on the running lab: its state in words, Stop and Restart (Start makes no sense now).
    click_node(page, "r1")
    expect(live(page)).to_contain_text("r1 is running.")
    expect(button(page, "Stop")).to_be_enabled()
    expect(button(page, "Restart")).to_be_enabled()
    expect(button(page, "Start")).to_have_count(0)
    stop_title = live(page).locator(".btn-wrap:has(.node-live-stop)").get_attribute("title")
    assert stop_title.startswith("Pulls the plug: r1's processes end, its links go down until it starts"), stop_title
    page.evaluate(WATCH_BUSY)

    # Restart: busy while it runs, then done; r1's console says so and has a new shell that works at once.
    button(page, "Restart").click()
    done = re.compile(r"^Restarted in \d+(\.\d)? s\.$")
    expect(live(page).locator(".node-live-done")).to_contain_text(done, timeout=NODE_OP)
    finished = time.monotonic()
    at_finish = max(echo_replies(page))
    assert "Restarting r1…" in page.evaluate("() => window.__busy"), page.evaluate("() => window.__busy")
    expect(page.locator("#dock-status")).to_have_text(re.compile(r"^r1 restarted in \d"))
    # The console says it (a moment after the answer, maybe: the relay tells of its shell's end on its own).
    expect(screen(r1)).to_contain_text("[r1 restarted]", timeout=SHELL)
    expect(tab(page, "r1")).to_have_attribute("data-state", "open", timeout=SHELL)
    r1_text = console_text(page, "console:r1")
    assert "[r1 stopped]" in r1_text and "[r1 restarted]" in r1_text, r1_text[-600:]
    assert r1_text.index("[r1 stopped]") < r1_text.index("[r1 restarted]")
    type_in(r1, page, "echo answer-$((6*7))")
    expect(screen(r1)).to_contain_text("answer-42", timeout=SHELL)
    # c1 reaches c2 through r1 again within 2 s of the restart finishing (a ping a second, read every 0.1 s).
    wait_for_reply_after(page, at_finish, 3)
    assert time.monotonic() - finished < 3
    c1_kept_its_session(page)
    expect(live(page)).to_contain_text("r1 is running.")
    shot(page, "node-restarted")

    # Stop asks nothing; the keyboard lands on Start, which replaced it.
    button(page, "Stop").click()
    expect(live(page)).to_contain_text("r1 is stopped", timeout=NODE_OP)
    expect(button(page, "Start")).to_be_focused(timeout=NODE_OP)
    expect(button(page, "Stop")).to_have_count(0)
    expect(button(page, "Restart")).to_have_count(0)
    expect(page.locator("#panel .panel-head .badge")).to_have_text("stopped")
    assert node_states(page)["r1"] == "stopped"  # drawn as stopped on the canvas
    assert lab.nodes.get(name="r1").state == "stopped"
    expect(tab(page, "r1")).to_have_attribute("data-state", "closed", timeout=SHELL)
    expect(r1.locator(".term-state")).to_have_text("r1 stopped: reopens when it runs")
    # The pings stop: one in flight may still land in the first second; none after that.
    page.wait_for_timeout(1500)
    before = max(echo_replies(page))
    page.wait_for_timeout(4000)
    assert max(echo_replies(page)) == before, console_text(page, "console:c1")[-800:]
    c1_kept_its_session(page)
    shot(page, "node-stopped")

    # Start, from the keyboard: r1 runs again, its console opens a new shell by itself, the pings come back.
    page.keyboard.press("Enter")
    expect(live(page)).to_contain_text("r1 is running.", timeout=NODE_OP)
    expect(live(page).locator(".node-live-done")).to_contain_text(re.compile(r"^Started in "))
    wait_for_reply_after(page, before, 15)
    expect(tab(page, "r1")).to_have_attribute("data-state", "open", timeout=SHELL)
    assert console_text(page, "console:r1").count("[r1 restarted]") == 2
    type_in(r1, page, "echo again-$((6*8))")
    expect(screen(r1)).to_contain_text("again-48", timeout=SHELL)
    assert node_states(page)["r1"] == "running"
    c1_kept_its_session(page)
    shot(page, "node-started")

    # A refusal is said in the panel in the server's words.
    def refuse(route):
        route.fulfill(status=409, content_type="application/json", json={"detail": "another operation runs on the lab"})

    page.route(re.compile(r".*/api/v1/topologies/\d+/nodes/r1/restart$"), refuse)
    button(page, "Restart").click()
    expect(live(page).locator(".node-live-error")).to_have_text("Not restarted: another operation runs on the lab")
    expect(live(page).locator(".node-live-error")).to_have_attribute("role", "alert")
    expect(button(page, "Restart")).to_be_enabled()
    page.unroute(re.compile(r".*/api/v1/topologies/\d+/nodes/r1/restart$"))
    shot(page, "node-refused")

    # A restart from elsewhere (the API, the CLI; here its service): the console follows the lab's websocket alone.
    lab.topology.refresh_from_db()
    assert nodes.act(lab.topology, "r1", "restart")["state"] == "running"
    page.wait_for_function("(key) => window.topolab.dock.terms.get(key).session.term.buffer.active.length > 0 && "
                           "(" + CONSOLE_TEXT + ")(key).split('[r1 restarted]').length === 4", arg="console:r1", timeout=SHELL)
    expect(tab(page, "r1")).to_have_attribute("data-state", "open", timeout=SHELL)
    type_in(r1, page, "echo elsewhere-$((7*7))")
    expect(screen(r1)).to_contain_text("elsewhere-49", timeout=SHELL)
    c1_kept_its_session(page)

    type_in(c1, page, "\x03")  # Ctrl-C ends the ping
    # The Events tab tells the last operations' steps (each under its own operation, one after the other).
    page.locator("#dock-toggle").click()
    expect(page.locator("#dock-body")).to_contain_text("r1 started")
    expect(page.locator("#dock-body")).to_contain_text("start r1")
    shot(page, "node-events")


@needs_node
def test_it_passes_the_node_live_unit_tests():
    run_js_tests("node-live.test.js")
