"""Pop-out consoles that keep their screen and come back to the dock; Logs that tell the node's start-up.

A real browser, daphne, the real relay and lab worker, the reference lab (c1 with an exec command)::

    c1 (192.168.10.2/24) --eth0-- r1 --eth1-- c2 (192.168.11.2/24)
"""
from __future__ import annotations

from playwright.sync_api import expect

from tests.documents import reference_document

from .conftest import shot
from .helpers import click_node
from .test_console import SHELL, open_console_by_double_click, open_running_lab, pane, screen, shell_pid, tab, type_in


def lab_document() -> dict:
    document = reference_document()
    for node in document["nodes"]:
        if node["name"] == "c1":
            node["exec"] = ["echo exec-said-$((6*7))"]
    return document


def pop_out(page, where, name: str):
    """Click the pane's pop-out button: the new window, loaded."""
    with page.context.expect_page() as popped:
        where.get_by_role("button", name=f"Pop out {name}").click()
    window = popped.value
    window.wait_for_load_state()
    return window


def test_a_popped_out_console_keeps_its_screen_and_comes_back_to_the_dock(signed_in, labs, relay):
    page = signed_in
    open_running_lab(page, labs)
    c1 = open_console_by_double_click(page, "c1")
    type_in(c1, page, "KEEP=kept-$((6*8)); echo BEFORE-$((6*7))")
    type_in(c1, page, r"printf '\033[31mRED-%s\033[0m\n' 42")
    expect(screen(c1)).to_contain_text("RED-42", timeout=SHELL)
    pid = shell_pid(c1, page)

    # Out: the window shows what the dock showed, colours kept, and goes on with the same shell.
    window = pop_out(page, c1, "c1")
    errors: list[str] = []
    window.on("pageerror", lambda e: errors.append(str(e)))
    expect(window.locator("#term-state")).to_have_attribute("data-state", "open", timeout=SHELL)
    expect(tab(page, "c1")).to_have_count(0)
    expect(screen(window)).to_contain_text("BEFORE-42", timeout=SHELL)
    expect(screen(window).locator(".xterm-fg-1", has_text="RED-42")).to_have_count(1)
    type_in(window, window, "echo IN-WINDOW-$((6*9))")
    expect(screen(window)).to_contain_text("IN-WINDOW-54", timeout=SHELL)
    assert shell_pid(window, window) == pid
    shot(window, "console-popout-screen")

    # The window closes: the console is back in the dock, same shell, with the window's screen.
    window.close()
    c1 = pane(page, "c1")
    expect(tab(page, "c1")).to_have_attribute("data-state", "open", timeout=SHELL)
    expect(screen(c1)).to_contain_text("IN-WINDOW-54", timeout=SHELL)
    expect(screen(c1)).to_contain_text("BEFORE-42")
    expect(screen(c1).locator(".xterm-fg-1", has_text="RED-42")).to_have_count(1)
    type_in(c1, page, "echo still-$KEEP")
    expect(screen(c1)).to_contain_text("still-kept-48", timeout=SHELL)
    assert shell_pid(c1, page) == pid
    expect(page.locator("#dock-status")).to_contain_text("c1 is back in the dock")
    shot(page, "console-popout-back")

    # Out again, and "Back to the dock" in the window: the same.
    window = pop_out(page, c1, "c1")
    expect(window.locator("#term-state")).to_have_attribute("data-state", "open", timeout=SHELL)
    type_in(window, window, "echo SECOND-TRIP-$((7*7))")
    expect(screen(window)).to_contain_text("SECOND-TRIP-49", timeout=SHELL)
    with window.expect_event("close"):
        window.get_by_role("button", name="Back to the dock").click()
    c1 = pane(page, "c1")
    expect(tab(page, "c1")).to_have_attribute("data-state", "open", timeout=SHELL)
    expect(screen(c1)).to_contain_text("SECOND-TRIP-49", timeout=SHELL)
    assert shell_pid(c1, page) == pid
    assert not errors, f"JavaScript errors in the pop-out window: {errors}"


def test_logs_tell_the_start_up_and_pop_out_and_back(signed_in, labs, relay):
    page = signed_in
    lab = labs.deploy(lab_document())
    from .helpers import open_editor

    open_editor(page, lab.topology_id)
    page.wait_for_function("() => window.topolab.ed.lab.state === 'running' && window.topolab.ed.states.c1?.state === 'running'")
    click_node(page, "c1")
    page.locator("#panel").get_by_role("button", name="Logs").click()
    logs = pane(page, "c1", "logs")
    expect(tab(page, "c1", "logs")).to_have_attribute("data-state", "open", timeout=SHELL)
    for line in ("c1: started by Topolab", "[topolab] eth0: linked to r1:eth0", "[topolab] eth0: address 192.168.10.2/24",
                 "[topolab] route 0.0.0.0/0 via 192.168.10.1", "[topolab] $ echo exec-said-$((6*7))", "exec-said-42",
                 "[topolab] exit status 0"):
        expect(screen(logs)).to_contain_text(line, timeout=SHELL)
    shot(page, "logs-start-up")

    window = pop_out(page, logs, "Logs · c1")
    expect(window).to_have_title(f"c1 · logs · {lab.topology.name}")
    expect(tab(page, "c1", "logs")).to_have_count(0)
    expect(screen(window)).to_contain_text("exec-said-42", timeout=SHELL)
    shot(window, "logs-popped-out")
    window.close()
    expect(tab(page, "c1", "logs")).to_have_attribute("data-state", "open", timeout=SHELL)
    expect(screen(pane(page, "c1", "logs"))).to_contain_text("[topolab] exit status 0", timeout=SHELL)


def test_an_open_console_is_not_replaced_when_its_window_closes(signed_in, labs, relay):
    # A console opened in the dock while its shell was out in a window stays: the window's one does not
    # take its tab (each is a shell of its own).
    page = signed_in
    open_running_lab(page, labs)
    c1 = open_console_by_double_click(page, "c1")
    window = pop_out(page, c1, "c1")
    expect(window.locator("#term-state")).to_have_attribute("data-state", "open", timeout=SHELL)
    type_in(window, window, "echo OUT-THERE")
    c1 = open_console_by_double_click(page, "c1")
    type_in(c1, page, "echo IN-HERE-$((2*3))")
    expect(screen(c1)).to_contain_text("IN-HERE-6", timeout=SHELL)
    window.close()
    page.wait_for_timeout(1000)
    expect(tab(page, "c1")).to_have_count(1)
    expect(screen(pane(page, "c1"))).not_to_contain_text("OUT-THERE")


def test_a_vtysh_console_pops_out_as_vtysh_and_comes_back(signed_in, labs, relay):
    from .test_frr_editor import one_router, open_lab

    page = signed_in
    lab = open_lab(page, labs, one_router())
    click_node(page, "f1")
    page.locator("#panel .node-actions").get_by_role("button", name="vtysh").click()
    vtysh = pane(page, "f1", "vtysh")
    expect(tab(page, "f1", "vtysh")).to_have_attribute("data-state", "open", timeout=SHELL)
    type_in(vtysh, page, "show running-config")
    expect(screen(vtysh)).to_contain_text("ospf router-id 10.9.9.9", timeout=SHELL)

    window = pop_out(page, vtysh, "f1 · vtysh")
    expect(window).to_have_title(f"f1 · vtysh · {lab.topology.name}")
    expect(window.locator("#term-state")).to_have_attribute("data-state", "open", timeout=SHELL)
    expect(window.locator("#term-state")).to_have_attribute("title", "reconnected to the same shell")
    expect(screen(window)).to_contain_text("ospf router-id 10.9.9.9", timeout=SHELL)  # the screen came along
    type_in(window, window, "show interface brief")
    expect(screen(window)).to_contain_text("lo", timeout=SHELL)
    shot(window, "vtysh-popped-out")
    window.close()
    vtysh = pane(page, "f1", "vtysh")
    expect(tab(page, "f1", "vtysh")).to_have_attribute("data-state", "open", timeout=SHELL)
    expect(screen(vtysh)).to_contain_text("show interface brief", timeout=SHELL)
    type_in(vtysh, page, "show version")
    expect(screen(vtysh)).to_contain_text("FRRouting", timeout=SHELL)


def test_a_window_popped_out_before_the_editor_reloaded_still_comes_back(signed_in, labs, relay):
    page = signed_in
    open_running_lab(page, labs)
    c1 = open_console_by_double_click(page, "c1")
    type_in(c1, page, "echo ACROSS-$((5*5))")
    window = pop_out(page, c1, "c1")
    expect(window.locator("#term-state")).to_have_attribute("data-state", "open", timeout=SHELL)
    page.reload()  # the editor loses its handle on the window; the window answers its question
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_function("() => window.topolab.dock.popped.has('console:c1')")
    expect(tab(page, "c1")).to_have_count(0)
    window.close()
    expect(tab(page, "c1")).to_have_attribute("data-state", "open", timeout=SHELL)
    expect(screen(pane(page, "c1"))).to_contain_text("ACROSS-25", timeout=SHELL)
