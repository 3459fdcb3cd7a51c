#!/usr/bin/env python3
"""Open a 500-node, 600-link topology in the editor and measure how it feels.

    .venv/bin/python bench/editor.py [--nodes 500] [--links 600] [--no-positions] [--runs 3]

It imports a generated topology (100 routers in a ring with chords, 400 hosts each
on a router) through the services, serves the real ASGI app (daphne) on its own
database, opens the editor in Debian's Chromium at 1280x720, and prints:

- time to interactive: from navigation start until the editor has drawn the
  document and answers input (the page's ``readyAt`` mark, then one more frame, timed in the page; the
  same frame asked for through Playwright comes later, after its round trips, and is printed beside it);
- frame times while dragging a node across the canvas, sampled with
  ``requestAnimationFrame`` (median, 95th percentile, worst, and frames over 16.7 ms).
  Headless Chromium paints at 60 Hz, so 16.7 ms is the floor of a frame interval:
  a median at the floor means the drag keeps up with the display.

Targets (issue 3): interactive under 1.5 s, dragging under 16 ms a frame.
Needs Redis (the websocket's channel layer); no Docker, no worker, no root.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.isolated import start_django  # noqa: E402

_run = start_django()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from bench.topologies import generated  # noqa: E402
from tests.e2e.server import LiveServer  # noqa: E402
from topology import services  # noqa: E402

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def measure(browser, url: str, topology_id: int) -> tuple[float, list[float]]:
    context = browser.new_context(viewport={"width": 1280, "height": 720}, base_url=url)
    page = context.new_page()
    page.goto("/login/")
    page.get_by_label("User name").fill("bench")
    page.get_by_label("Password").fill("pw-bench-1")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
    # The frame after the page says it is ready, timed in the page: asked for from here instead, the answer
    # waits for the test driver's round trips through a main thread busy drawing (Cytoscape refines its
    # textures for several frames after the first), which the user's input does not.
    page.add_init_script("""new MutationObserver((_, observer) => {
        if (document.body && document.body.dataset.ready === 'true') {
            observer.disconnect();
            requestAnimationFrame(() => { window.__readyFrame = performance.now(); });
        }
    }).observe(document, {subtree: true, attributes: true, attributeFilter: ['data-ready']});""")
    page.goto(f"/topologies/{topology_id}/")
    page.wait_for_selector("body[data-ready=true]", timeout=60_000)
    driver = page.evaluate("() => new Promise((ok) => requestAnimationFrame(() => ok(performance.now())))")
    tti = page.evaluate("() => window.__readyFrame")
    marks = page.evaluate("""() => { const n = performance.getEntriesByType('navigation')[0];
        const m = (name) => (performance.getEntriesByName(name)[0] || {}).startTime;
        return {html: n.responseEnd, scripts: n.domContentLoadedEventEnd, document: m('topolab:document'),
                drawn: m('topolab:drawn'), ready: window.topolab.readyAt}; }""")
    marks["through the driver"] = driver
    print("  (ms since navigation: " + ", ".join(f"{k} {v:.0f}" for k, v in marks.items() if v is not None) + ")")
    # Drag a router in circles for about two seconds while sampling frames.
    page.evaluate("""() => { window.__frames = []; let last = performance.now();
        const tick = (t) => { window.__frames.push(t - last); last = t; if (!window.__stop) requestAnimationFrame(tick); };
        requestAnimationFrame(tick); }""")
    box = page.locator("#cy").bounding_box()
    cy_node = page.evaluate("""() => { const cy = window.topolab.canvas.cy; const ext = cy.extent();
        const n = cy.nodes('.doc[kind="router"]').filter((x) => { const p = x.position();
            return p.x > ext.x1 + ext.w * .3 && p.x < ext.x2 - ext.w * .3
                && p.y > ext.y1 + ext.h * .3 && p.y < ext.y2 - ext.h * .3; })[0]
            || cy.nodes('.doc').first();
        const r = n.renderedPosition(); return {x: r.x, y: r.y, name: n.data('name')}; }""")
    x, y = box["x"] + cy_node["x"] + 1, box["y"] + cy_node["y"] + 1
    page.mouse.move(x, y)
    page.mouse.down()
    import math
    for k in range(120):
        page.mouse.move(x + 80 * math.sin(k / 10), y + 60 * (1 - math.cos(k / 10)))
        page.wait_for_timeout(16)
    page.mouse.up()
    frames = page.evaluate("() => { window.__stop = true; return window.__frames.slice(2); }")
    moved = page.evaluate("(n) => window.topolab.ed.doc.nodes.find((x) => x.name === n).position", cy_node["name"])
    context.close()
    if not moved:
        raise SystemExit("the drag did not move the node: the measurement is void")
    return tti, frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--links", type=int, default=600)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-positions", action="store_true", help="let the editor lay the nodes out on opening")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    user = get_user_model().objects.create_user("bench", password="pw-bench-1")
    document = generated(args.nodes, args.links, not args.no_positions)
    topology = services.import_topology(user, document)
    print(f"topology: {len(document['nodes'])} nodes, {len(document['links'])} links"
          f"{', no positions (automatic layout on opening)' if args.no_positions else ''}")

    from playwright.sync_api import sync_playwright

    server = LiveServer(Path(os.environ["TOPOLAB_DATA_DIR"]) / "daphne.log")
    server.start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            ttis, all_frames = [], []
            for run in range(args.runs):
                if args.no_positions:
                    # The editor saves the positions it lays out: each run opens the document without them again.
                    # (Playwright's sync API keeps an asyncio loop in this thread; this synchronous ORM call is safe.)
                    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
                    services.update_topology(topology, document)
                tti, frames = measure(browser, server.url, topology.pk)
                ttis.append(tti)
                all_frames.extend(frames)
                over = sum(f > 16.7 * 1.2 for f in frames)
                print(f"run {run + 1}: interactive in {tti:.0f} ms; drag: {len(frames)} frames, "
                      f"median {statistics.median(frames):.1f} ms, worst {max(frames):.1f} ms, {over} over 20 ms")
            browser.close()
    finally:
        server.stop()
    frames = sorted(all_frames)
    p95 = frames[int(len(frames) * 0.95) - 1]
    print(f"time to interactive: median {statistics.median(ttis):.0f} ms over {args.runs} runs (target < 1500 ms)")
    print(f"frame time while dragging: median {statistics.median(frames):.1f} ms, p95 {p95:.1f} ms, "
          f"worst {frames[-1]:.1f} ms (target < 16 ms; 16.7 ms is the 60 Hz floor)")


if __name__ == "__main__":
    main()
