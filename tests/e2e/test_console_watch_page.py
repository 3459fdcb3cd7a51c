"""Watching and taking over a console in real browsers: the student in the editor's dock, the instructor in
the pop-out page with ``?mode=watch``, each signed in in a browser context of their own, through daphne, the
channel layer and the real root relay, into the reference lab's c1.

What people would see: the instructor's bar says they cannot type, and what they type goes nowhere; the
student's terminal shows a banner over the screen saying who is watching; "Take over" asks, then the
banner says the instructor can type, and what the instructor types runs in the student's shell.
"""
from __future__ import annotations

from playwright.sync_api import expect

from tests.classroom import SUPERVISOR_PASSWORD, supervised
from tests.documents import reference_document

from .conftest import shot
from .helpers import node_point, open_editor, sign_in
from .test_console import SHELL, screen, tab, type_in


def test_the_student_sees_who_watches_and_who_takes_over(signed_in, browser, web, labs, relay):
    student = signed_in
    lab = labs.deploy(reference_document())
    instructor = supervised(lab)

    open_editor(student, lab.topology_id)
    student.wait_for_function("() => window.topolab.ed.states.c1?.state === 'running'")
    student.mouse.dblclick(*node_point(student, "c1"))
    expect(tab(student, "c1")).to_have_attribute("data-state", "open", timeout=SHELL)
    mine = student.locator("#dock-terms .term-pane[data-key='console:c1']")
    type_in(mine, student, "echo ready-$((1+1))")
    expect(screen(mine)).to_contain_text("ready-2", timeout=SHELL)

    context = browser.new_context(viewport={"width": 1000, "height": 600}, base_url=web.url)
    context.set_default_timeout(15000)
    errors: list[str] = []
    try:
        teacher = context.new_page()
        teacher.on("pageerror", lambda e: errors.append(str(e)))
        sign_in(teacher, instructor.get_username(), SUPERVISOR_PASSWORD)
        teacher.goto(f"/topologies/{lab.topology_id}/nodes/c1/console/?mode=watch")
        expect(teacher.locator("#watch-text")).to_have_text("Watching student's console on c1: you cannot type")
        expect(teacher.locator("#term-state")).to_have_text("watching", timeout=SHELL)
        expect(screen(teacher)).to_contain_text("ready-2", timeout=SHELL)  # the screen as it was

        # The student sees a banner over the terminal, not only a line in it.
        banner = mine.locator(".term-banner")
        expect(banner).to_have_count(1, timeout=SHELL)
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("Tess Ng is watching your console")
        assert banner.evaluate("(el) => getComputedStyle(el.parentElement).position") == "absolute"  # watch.css applies
        shot(student, "console-watched-student")

        type_in(mine, student, "echo hello-watch")
        expect(screen(teacher)).to_contain_text("hello-watch", timeout=SHELL)
        type_in(teacher, teacher, "echo WATCHER-$((3*3))")
        type_in(mine, student, "echo after-$((2+3))")
        expect(screen(teacher)).to_contain_text("after-5", timeout=SHELL)
        assert "WATCHER-" not in screen(mine).inner_text() and "WATCHER-" not in screen(teacher).inner_text()
        shot(teacher, "console-watching")

        # Take over: asked first, then the same page types into the student's shell.
        teacher.once("dialog", lambda dialog: dialog.accept())
        teacher.get_by_role("button", name="Take over").click()
        expect(teacher.locator("#watch-text")).to_have_text("You can type in student's console; they see that you joined")
        expect(teacher.get_by_role("button", name="Take over")).to_be_hidden()
        expect(teacher.locator("#term-state")).to_have_text("in control", timeout=SHELL)
        assert "mode=control" in teacher.url
        expect(banner).to_have_count(1, timeout=SHELL)  # the watch's banner went with it, the control's came
        expect(banner).to_contain_text("Tess Ng joined your console and can type")
        expect(banner).to_have_attribute("data-mode", "control")
        type_in(teacher, teacher, "echo typed-by-$((40+2))")
        expect(screen(mine)).to_contain_text("typed-by-42root@", timeout=SHELL)  # the answer, not only the echo
        shot(student, "console-taken-over-student")

        # The student may dismiss it; and when the instructor leaves, the student is told.
        banner.get_by_role("button", name="Dismiss").click()
        expect(banner).to_have_count(0)
        teacher.close()
        expect(screen(mine)).to_contain_text("Tess Ng left your console", timeout=SHELL)
    finally:
        context.close()
    assert not errors, f"JavaScript errors in the instructor's page: {errors}"
