"""Layouts that fit networks (issue 13, "A canvas you can read"), in a real browser on the real editor page.

Topologies are imported without positions (as the API or an imported file leaves them), their nodes in a
shuffled order under names that say nothing of the shape: the editor must find the shape in the graph. A
ring comes out as a circle in ring order, a tree with its root on top and its levels below, a fabric of two
tiers of routers (a leaf-spine) as rows with its hosts under their leaves; the positions are saved at
once (the page is not "unsaved"), a reload shows the same picture, a node added later goes beside its
neighbour without moving the others; no node ends up under the canvas tools; the Layout button and its
key A re-lay the drawing out as one undoable edit. The shape recognition itself (and the other pure
parts of static/topolab/layout.js) is unit-tested under node: tests/e2e/js/layout.test.js.
"""
from __future__ import annotations

import math
import random

from topology import services
from topology.models import Topology

from .conftest import shot
from .helpers import document, needs_node, open_editor, run_js_tests


@needs_node
def test_it_passes_the_layout_unit_tests():
    run_js_tests("layout.test.js")


# --- documents --------------------------------------------------------------------------------------------------

def build(name: str, nodes: list[tuple[str, str]], links: list[tuple[str, str]], seed: int = 7,
          positions: dict | None = None) -> dict:
    """A topolab/v1 document: ``nodes`` (name, kind) in a shuffled order, ``links`` between them, each end on
    its node's next ethN; positions only where ``positions`` has them."""
    order = list(nodes)
    random.Random(seed).shuffle(order)
    used: dict[str, int] = {}

    def end(node: str) -> dict:
        used[node] = used.get(node, -1) + 1
        return {"node": node, "interface": f"eth{used[node]}"}

    doc_nodes = []
    for n, kind in order:
        node = {"name": n, "kind": kind}
        if positions and n in positions:
            node["position"] = positions[n]
        doc_nodes.append(node)
    doc_links = [{"endpoints": [end(a), end(b)]} for a, b in links]
    return {"format": "topolab/v1", "name": name, "nodes": doc_nodes, "links": doc_links}


def ring_doc(count: int, hosts: bool = False, name: str = "ring") -> tuple[dict, list[str]]:
    ring = [f"x{(i * 7) % count + 1}" for i in range(count)]  # ring order unlike the names' order
    nodes = [(n, "router") for n in ring]
    links = [(ring[i], ring[(i + 1) % count]) for i in range(count)]
    if hosts:
        for i, r in enumerate(ring):
            nodes.append((f"y{i + 1}", "host"))
            links.append((f"y{i + 1}", r))
    return build(name, nodes, links), ring


def tree_doc(depth: int) -> tuple[dict, dict[str, int]]:
    """A binary tree of ``depth`` levels below its root: its nodes' depths."""
    depths = {"t1": 0}
    links = []
    for i in range(1, 2 ** depth):
        for child in (2 * i, 2 * i + 1):
            depths[f"t{child}"] = depths[f"t{i}"] + 1
            links.append((f"t{i}", f"t{child}"))
    nodes = [(n, "router" if d < depth else "host") for n, d in depths.items()]
    return build("tree", nodes, links), depths


def fabric_doc() -> tuple[dict, list[str], list[str], dict[str, str]]:
    """Two spines, four leaves each on both spines, two hosts on each leaf: (doc, spines, leaves, host -> leaf)."""
    spines, leaves = ["p1", "p2"], ["q1", "q2", "q3", "q4"]
    hosts = {f"z{2 * i + k + 1}": leaf for i, leaf in enumerate(leaves) for k in range(2)}
    nodes = [(n, "router") for n in spines + leaves] + [(h, "host") for h in hosts]
    links = [(s, leaf) for leaf in leaves for s in spines] + [(h, leaf) for h, leaf in hosts.items()]
    return build("fabric", nodes, links, seed=3), spines, leaves, hosts


def imported(owner, doc: dict) -> int:
    return services.import_topology(owner, doc).pk


# --- what the page shows ------------------------------------------------------------------------------------------

def positions(page) -> dict[str, tuple[float, float]]:
    return {n["name"]: (n["position"]["x"], n["position"]["y"]) for n in document(page)["nodes"]}


def drawn(page) -> dict[str, tuple[float, float]]:
    """Where the canvas draws each node (model coordinates)."""
    return {k: tuple(v) for k, v in page.evaluate("""() => Object.fromEntries(window.topolab.canvas.cy.nodes('.doc')
        .map((n) => [n.data('name'), [n.position('x'), n.position('y')]]))""").items()}


def wait_saved(topology_id: int, page) -> dict:
    """The server's document once every node has a position there; the page must not say "unsaved"."""
    page.wait_for_function("() => document.getElementById('dock-status').textContent.includes('positions are saved')")
    stored = Topology.objects.get(pk=topology_id).document
    assert all("position" in n for n in stored["nodes"]), stored
    assert page.locator("#unsaved").is_hidden()
    assert not page.title().startswith("●")
    return {n["name"]: (n["position"]["x"], n["position"]["y"]) for n in stored["nodes"]}


def assert_ring(pos: dict, ring: list[str]) -> None:
    """On a circle (each distance to the centre within 10 % of their mean) and, round it, in ring order."""
    pts = [pos[n] for n in ring]
    cx, cy = sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)
    dist = [math.hypot(x - cx, y - cy) for x, y in pts]
    mean = sum(dist) / len(dist)
    assert mean > 50, dist
    assert all(abs(d - mean) <= 0.1 * mean for d in dist), (mean, dist)
    angles = [math.atan2(y - cy, x - cx) for x, y in pts]
    by_angle = sorted(range(len(ring)), key=lambda i: angles[i])
    start = by_angle.index(0)
    seen = by_angle[start:] + by_angle[:start]
    assert seen in (list(range(len(ring))), [0] + list(range(len(ring) - 1, 0, -1))), [ring[i] for i in seen]
    # Evenly round (no two ring neighbours bunched up): each step of angle within half of 360°/n of the mean.
    steps = sorted((angles[by_angle[(k + 1) % len(ring)]] - angles[by_angle[k]]) % (2 * math.pi) for k in range(len(ring)))
    assert steps[0] > 0.5 * 2 * math.pi / len(ring), steps


def overlapping(page, selector: str) -> list[str]:
    """The nodes whose rendered box (body and name) reaches under the element ``selector``."""
    return page.evaluate("""(sel) => {
        const cover = document.querySelector(sel).getBoundingClientRect();
        const box = document.getElementById('cy').getBoundingClientRect();
        return window.topolab.canvas.cy.nodes('.doc').filter((n) => {
            const b = n.renderedBoundingBox({includeLabels: true, includeOverlays: false});
            return box.left + b.x1 < cover.right && box.left + b.x2 > cover.left
                && box.top + b.y1 < cover.bottom && box.top + b.y2 > cover.top;
        }).map((n) => n.data('name')); }""", selector)


# --- the tests ------------------------------------------------------------------------------------------------------

def test_a_ring_comes_out_as_a_circle_in_ring_order_and_is_saved_at_once(signed_in, owner):
    page = signed_in
    doc, ring = ring_doc(12)
    topology_id = imported(owner, doc)
    open_editor(page, topology_id)
    assert_ring(positions(page), ring)
    # The sentence comes once the positions are saved (the status says "Saving…" meanwhile).
    page.wait_for_function("() => document.getElementById('dock-status').textContent.startsWith('Laid out 12 nodes as a ring')")
    stored = wait_saved(topology_id, page)
    assert stored == positions(page) == drawn(page)
    assert overlapping(page, ".canvas-tools") == []
    shot(page, "layout-ring-12")
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert positions(page) == stored  # the same picture, and nothing to save
    assert page.locator("#unsaved").is_hidden()
    assert Topology.objects.get(pk=topology_id).document == document(page)


def test_a_ring_of_60_with_a_host_on_each_router_is_a_circle_with_its_hosts_beside_their_routers(signed_in, owner):
    page = signed_in
    doc, ring = ring_doc(60, hosts=True, name="ring60")
    topology_id = imported(owner, doc)
    open_editor(page, topology_id)
    pos = positions(page)
    assert_ring(pos, ring)
    # Each host nearer its own router than any other router.
    for i, router in enumerate(ring):
        hx, hy = pos[f"y{i + 1}"]
        nearest = min(ring, key=lambda r: math.hypot(pos[r][0] - hx, pos[r][1] - hy))
        assert nearest == router, (f"y{i + 1}", router, nearest)
    names = list(pos)
    closest = min(math.hypot(pos[a][0] - pos[b][0], pos[a][1] - pos[b][1]) for i, a in enumerate(names) for b in names[i + 1:])
    assert closest >= 40, closest  # no two nodes on top of each other (a node is 40 across)
    wait_saved(topology_id, page)
    assert overlapping(page, ".canvas-tools") == []
    shot(page, "layout-ring-60")


def test_a_tree_has_its_root_on_top_and_its_levels_below(signed_in, owner):
    page = signed_in
    doc, depths = tree_doc(3)
    open_editor(page, imported(owner, doc))
    pos = positions(page)
    for d in range(3):
        upper = [pos[n][1] for n, k in depths.items() if k == d]
        lower = [pos[n][1] for n, k in depths.items() if k == d + 1]
        assert max(upper) < min(lower), (d, upper, lower)
        assert max(upper) - min(upper) <= 1, (d, upper)  # a level is a row
    # No link crosses another: left to right, each level's parents are in their own level's order; and a
    # parent is over its children (between its two).
    for d in range(1, 4):
        level = sorted((n for n, k in depths.items() if k == d), key=lambda n: pos[n][0])
        parents = [pos[f"t{int(n[1:]) // 2}"][0] for n in level]
        assert parents == sorted(parents), (d, level)
    for n, d in depths.items():
        if d < 3:
            left, right = sorted((pos[f"t{2 * int(n[1:])}"][0], pos[f"t{2 * int(n[1:]) + 1}"][0]))
            assert left < pos[n][0] < right, (n, pos)
    assert overlapping(page, ".canvas-tools") == []
    shot(page, "layout-tree")


def test_a_leaf_spine_comes_out_in_tiers_with_the_hosts_under_their_leaves(signed_in, owner):
    page = signed_in
    doc, spines, leaves, hosts = fabric_doc()
    open_editor(page, imported(owner, doc))
    pos = positions(page)
    spine_y = {pos[s][1] for s in spines}
    leaf_y = {pos[leaf][1] for leaf in leaves}
    assert len(spine_y) == 1 and len(leaf_y) == 1, (spine_y, leaf_y)
    assert max(spine_y) < min(leaf_y)
    assert all(pos[h][1] > min(leaf_y) for h in hosts), pos
    for h, leaf in hosts.items():
        nearest = min(leaves, key=lambda q: abs(pos[q][0] - pos[h][0]))
        assert nearest == leaf, (h, leaf, nearest, pos)
    assert overlapping(page, ".canvas-tools") == []
    shot(page, "layout-leaf-spine")


def test_a_node_added_without_a_position_goes_beside_its_neighbour_and_nobody_else_moves(signed_in, owner):
    page = signed_in
    doc, ring = ring_doc(8)
    topology_id = imported(owner, doc)
    open_editor(page, topology_id)
    before = wait_saved(topology_id, page)
    # Another tab (or the API) adds a host on x1, without a position.
    topology = Topology.objects.get(pk=topology_id)
    changed = topology.document
    changed["nodes"].append({"name": "new", "kind": "host"})
    used = sum(1 for link in changed["links"] for e in link["endpoints"] if e["node"] == "x1")
    changed["links"].append({"endpoints": [{"node": "new", "interface": "eth0"}, {"node": "x1", "interface": f"eth{used}"}]})
    services.update_topology(topology, changed)
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    after = wait_saved(topology_id, page)
    assert {n: p for n, p in after.items() if n != "new"} == before
    nx, ny = after["new"]
    d = {n: math.hypot(x - nx, y - ny) for n, (x, y) in before.items()}
    assert min(d, key=d.get) == "x1" and d["x1"] < 200, d
    assert min(d.values()) >= 60, d
    assert positions(page) == after


def test_nothing_is_drawn_under_the_canvas_tools_after_a_fit(signed_in, owner):
    page = signed_in
    # A square grid of nodes, drawn where its owner put them: the view's fit must keep its bottom-right
    # corner out from under the tools (zoom, fit, Layout) at the canvas's bottom right.
    grid = {f"g{i}{j}": {"x": 150 * j, "y": 150 * i} for i in range(8) for j in range(8)}
    doc = build("grid", [(n, "router") for n in grid], [], positions=grid)
    open_editor(page, imported(owner, doc))
    assert page.evaluate("() => window.topolab.canvas.cy.zoom()") < 1  # the fit had to zoom out
    assert overlapping(page, ".canvas-tools") == []
    page.keyboard.press("f")
    assert overlapping(page, ".canvas-tools") == []
    # The whole grid stays in view.
    assert page.evaluate("""() => { const e = window.topolab.canvas.cy.extent();
        return window.topolab.canvas.cy.nodes('.doc').every((n) => { const p = n.position();
            return p.x > e.x1 && p.x < e.x2 && p.y > e.y1 && p.y < e.y2; }); }""")
    shot(page, "layout-fit-grid")


def test_the_layout_button_and_its_key_lay_the_drawing_out_again_as_one_undoable_edit(signed_in, owner):
    page = signed_in
    count = 12
    ring = [f"x{i + 1}" for i in range(count)]
    line = {n: {"x": 96 * i, "y": 48 * (i % 3)} for i, n in enumerate(ring)}  # drawn as a zigzag line
    doc = build("zigzag", [(n, "router") for n in ring], [(ring[i], ring[(i + 1) % count]) for i in range(count)], positions=line)
    open_editor(page, imported(owner, doc))
    original = positions(page)
    undo_depth = page.evaluate("() => window.topolab.ed.undo.length")
    page.get_by_role("button", name="Layout").click()
    page.wait_for_function("(p) => JSON.stringify(window.topolab.ed.doc.nodes.map((n) => n.position)) !== p",
                           arg=str([original[n] for n in original]))
    laid = positions(page)
    assert_ring(laid, ring)
    assert page.evaluate("() => window.topolab.ed.undo.length") == undo_depth + 1  # one edit
    expect_unsaved(page, True)
    assert overlapping(page, ".canvas-tools") == []
    page.keyboard.press("Control+z")
    assert positions(page) == original == drawn(page)
    page.keyboard.press("Control+Shift+z")
    assert positions(page) == laid == drawn(page)
    page.keyboard.press("Control+z")
    # The key A does the same; the help lists it.
    page.locator("#cy").click(position={"x": 5, "y": 5})
    page.keyboard.press("a")
    page.wait_for_function("() => document.getElementById('dock-status').textContent.startsWith('Laid out 12 nodes as a ring')")
    assert_ring(positions(page), ring)
    assert page.evaluate("() => window.topolab.ed.undo.length") == undo_depth + 1
    page.keyboard.press("?")
    keys = page.locator("#help-dialog")
    assert "lay out the whole drawing again" in keys.locator("dt:text-is('A') + dd").inner_text()


def expect_unsaved(page, unsaved: bool) -> None:
    assert page.locator("#unsaved").is_visible() is unsaved
