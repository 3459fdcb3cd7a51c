#!/usr/bin/env python3
"""Take the README's screenshots of the editor, at 1280x720, into this folder.

    .venv/bin/python docs/screenshots/make.py

On a database of its own (like the benchmarks: bench/isolated.py), it imports three topologies without
positions, as a user would upload them, and opens each in the editor in Debian's Chromium, so the pictures
show the editor's own automatic layout and labels:

- ``triangle.png``: examples/frr-ospf-triangle.json, three routers in a triangle with a host behind each,
  its text view open beside the canvas;
- ``ring-60.png``: a ring of 60 routers;
- ``nodes-500.png``: bench/editor.py's 500 nodes and 600 links (100 routers in a ring with chords, 400 hosts).

Needs Redis (the editor's websocket); no Docker, no worker, no root.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
from bench.isolated import start_django  # noqa: E402

start_django()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402

from bench.reference_lab import CHROMIUM_ARGS, PASSWORD, USER  # noqa: E402
from bench.topologies import generated  # noqa: E402
from tests.e2e.server import LiveServer  # noqa: E402
from topology import services  # noqa: E402


def without_positions(document: dict) -> dict:
    for node in document["nodes"]:
        node.pop("position", None)
    return document


def ring(size: int) -> dict:
    nodes = [{"name": f"r{i}", "kind": "router"} for i in range(size)]
    links = [{"endpoints": [{"node": f"r{i}", "interface": "eth0"}, {"node": f"r{(i + 1) % size}", "interface": "eth1"}]}
             for i in range(size)]
    return {"format": "topolab/v1", "name": f"ring-{size}", "nodes": nodes, "links": links}


def main() -> None:
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    user = get_user_model().objects.create_user(USER, password=PASSWORD)
    triangle = without_positions(json.loads((ROOT / "examples" / "frr-ospf-triangle.json").read_text()))
    shots = [
        ("triangle.png", services.import_topology(user, triangle), True),
        ("ring-60.png", services.import_topology(user, ring(60)), False),
        ("nodes-500.png", services.import_topology(user, generated(500, 600, False)), False),
    ]
    server = LiveServer(HERE / "daphne.log")
    server.start()
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1280, "height": 720}, base_url=server.url)
            page = context.new_page()
            page.on("pageerror", lambda error: print(f"page error: {error}", file=sys.stderr))
            page.goto("/login/")
            page.get_by_label("User name").fill(USER)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/")
            for name, topology, text_view in shots:
                page.goto(f"/topologies/{topology.pk}/")
                page.wait_for_selector("body[data-ready=true]", timeout=60_000)
                page.wait_for_timeout(1500)  # the layout's positions saved, the labels placed
                if text_view:
                    page.locator("#cy").click(position={"x": 5, "y": 5})
                    page.keyboard.press("t")
                    page.wait_for_timeout(500)
                    page.locator("#zoom-fit").click()  # the canvas is narrower beside the text
                    page.wait_for_timeout(500)
                page.screenshot(path=str(HERE / name))
                print(f"{name}: {len(topology.document['nodes'])} nodes, {len(topology.document['links'])} links")
            browser.close()
    finally:
        server.stop()
        (HERE / "daphne.log").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
