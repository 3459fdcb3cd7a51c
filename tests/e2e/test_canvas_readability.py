"""A canvas you can read (issue 13): link-end labels by zoom and clear of the node names, the full text in a
tooltip, names readable when zoomed out, a wheel notch that zooms by a normal step, a link handle on the
selected node and links dragged from a node's rim, tooltips that go when their cause does.

The triangle: three routers, each link addressed (/31), and a host h1 on its own beside them.
"""
from __future__ import annotations

from tests.documents import reference_document
from topology import services

from .conftest import shot
from .helpers import canvas_box, node_point, open_editor

ADDRESSES = {("r1", "r2"): "10.0.0.0", ("r2", "r3"): "10.0.0.2", ("r3", "r1"): "10.0.0.4"}


def triangle(name: str = "triangle") -> dict:
    nodes = [{"name": "r1", "kind": "router", "position": {"x": 0, "y": 0}},
             {"name": "r2", "kind": "router", "position": {"x": 320, "y": 0}},
             {"name": "r3", "kind": "router", "position": {"x": 160, "y": 270}},
             {"name": "h1", "kind": "host", "position": {"x": 520, "y": 270}}]
    used: dict[str, int] = {}
    links = []
    for (a, b), base in ADDRESSES.items():
        ends = []
        for node, last in ((a, 0), (b, 1)):
            used[node] = used.get(node, -1) + 1
            prefix = base.rsplit(".", 1)[0]
            ends.append({"node": node, "interface": f"eth{used[node]}",
                         "addresses": [f"{prefix}.{int(base.rsplit('.', 1)[1]) + last}/31"]})
        links.append({"endpoints": ends})
    return {"format": "topolab/v1", "name": name, "nodes": nodes, "links": links}


def open_triangle(page, owner, name: str = "triangle") -> None:
    topology = services.import_topology(owner, triangle(name))
    open_editor(page, topology.pk)


def zoom_to(page, level: float, middle: tuple[str, ...] = ("r1", "r2", "r3")) -> None:
    """Zoom, then centre the view on the nodes ``middle`` (the triangle), as + and − and a pan would."""
    page.evaluate("""([z, middle]) => { const cy = window.topolab.canvas.cy;
        cy.zoom({level: z, position: {x: 160, y: 100}});
        cy.center(cy.collection(middle.map((n) => cy.getElementById(`n:${n}`)))); }""", [level, list(middle)])
    page.wait_for_timeout(100)


END_TEXTS = """() => window.topolab.canvas.cy.edges('.doc')
    .map((e) => [e.style('source-label'), e.style('target-label')]).flat()"""


def test_link_end_labels_say_less_as_the_view_zooms_out_and_names_stay_readable(signed_in, owner):
    page = signed_in
    open_triangle(page, owner)
    zoom_to(page, 1.2)
    near = page.evaluate(END_TEXTS)
    # Near: interface and address, e.g. "eth0\n10.0.0.0/31" at r1's end of r1-r2.
    assert page.evaluate("() => window.topolab.canvas.cy.getElementById('l:0').style('source-label')") == "eth0\n10.0.0.0/31"
    assert all("\n10.0.0." in t for t in near), near
    shot(page, "canvas-labels-near")
    zoom_to(page, 0.7)
    middle = page.evaluate(END_TEXTS)
    assert all(t.startswith("eth") and "\n" not in t and "10.0" not in t for t in middle), middle
    # Still readable on screen: the middle level's font is bigger in the drawing.
    assert float(page.evaluate("() => window.topolab.canvas.cy.getElementById('l:0').renderedStyle('font-size')")[:-2]) >= 7
    shot(page, "canvas-labels-middle")
    zoom_to(page, 0.3)
    assert page.evaluate(END_TEXTS) == [""] * 6
    shot(page, "canvas-labels-far")
    # A 40 px node is 8 px on screen or more: its name is drawn, at a size Cytoscape does not skip (min-zoomed-font-size).
    for level in (0.2, 0.3, 0.45, 0.6):
        zoom_to(page, level)
        sizes = page.evaluate("""() => window.topolab.canvas.cy.nodes('.doc').map((n) => [
            parseFloat(n.renderedStyle('font-size')), parseFloat(n.style('min-zoomed-font-size')),
            n.boundingBox({includeNodes: false, includeLabels: true, includeOverlays: false}).h,
            parseFloat(n.style('font-size'))])""")
        assert all(size >= minimum and size >= 7.5 for size, minimum, _, _ in sizes), (level, sizes)
        # The name's box has grown with its font (Cytoscape draws a name clipped to a stale box).
        assert all(height >= font for _, _, height, font in sizes), (level, sizes)
    # Far enough out the nodes are specks, and the names go too.
    zoom_to(page, 0.12)
    assert page.evaluate("() => parseFloat(window.topolab.canvas.cy.getElementById('n:r1').renderedStyle('font-size'))") < 7


def test_a_short_links_addresses_show_once_zoomed_in(signed_in, owner):
    page = signed_in
    open_editor(page, services.import_topology(owner, reference_document()).pk)  # c1, r1, c2: 150 apart
    zoom_to(page, 1)
    # No room for "eth0" and "192.168.10.2/24" at both ends: the interfaces only (the tooltip has the rest).
    assert page.evaluate(END_TEXTS) == ["eth0", "eth0", "eth0", "eth1"]
    # Zoomed in, the labels keep their size on screen, so they take less of the link: the addresses fit.
    zoom_to(page, 3.2, ("r1",))
    assert page.evaluate(END_TEXTS) == ["eth0\n192.168.10.2/24", "eth0\n192.168.10.1/24", "eth0\n192.168.11.2/24",
                                        "eth1\n192.168.11.1/24"]
    shot(page, "canvas-labels-zoomed-in")


BOXES = """() => { const cy = window.topolab.canvas.cy;
    const only = {includeNodes: false, includeEdges: false, includeLabels: true, includeMainLabels: false,
                  includeSourceLabels: false, includeTargetLabels: false, includeOverlays: false, includeUnderlays: false};
    const ends = [];
    cy.edges('.doc').forEach((e) => {
        ends.push({id: `${e.id()} source`, text: e.style('source-label'),
                   bb: e.boundingBox({...only, includeSourceLabels: true})});
        ends.push({id: `${e.id()} target`, text: e.style('target-label'),
                   bb: e.boundingBox({...only, includeTargetLabels: true})});
    });
    const nodes = cy.nodes('.doc').map((n) => ({id: n.id(),
        name: n.boundingBox({...only, includeMainLabels: true}),
        body: n.boundingBox({includeLabels: false, includeOverlays: false, includeUnderlays: false})}));
    return {ends, nodes}; }"""


def overlap(a: dict, b: dict) -> bool:
    return a["x1"] < b["x2"] and b["x1"] < a["x2"] and a["y1"] < b["y2"] and b["y1"] < a["y2"]


def test_link_end_labels_at_zoom_1_clear_every_node_and_its_name(signed_in, owner):
    page = signed_in
    open_triangle(page, owner)
    zoom_to(page, 1)
    boxes = page.evaluate(BOXES)
    assert len(boxes["ends"]) == 6 and all(e["text"] for e in boxes["ends"]), boxes["ends"]
    for end in boxes["ends"]:
        for node in boxes["nodes"]:
            assert not overlap(end["bb"], node["name"]), (end, node)
            assert not overlap(end["bb"], node["body"]), (end, node)
    # And where they are drawn, they are on their own link, near their own end: at most 40 % of the way along.
    far = page.evaluate("""() => window.topolab.canvas.cy.edges('.doc').map((e) => {
        const s = e.source().position(), t = e.target().position(), len = Math.hypot(t.x - s.x, t.y - s.y);
        const bb = e.boundingBox({includeNodes: false, includeEdges: false, includeMainLabels: false, includeTargetLabels: false,
                                  includeSourceLabels: true, includeOverlays: false});
        const c = {x: (bb.x1 + bb.x2) / 2, y: (bb.y1 + bb.y2) / 2};
        return Math.hypot(c.x - s.x, c.y - s.y) / len; })""")
    assert all(0 < f < 0.4 for f in far), far
    shot(page, "canvas-labels-triangle")


# The names drawn (not left out as crowded, and big enough for Cytoscape to draw), as model-space boxes.
DRAWN_NAMES = """() => { const cy = window.topolab.canvas.cy;
    return cy.nodes('.doc').filter((n) => !n.hasClass('name-crowded') && parseFloat(n.renderedStyle('font-size')) >= 7)
      .map((n) => ({
        name: n.data('name'), bb: n.boundingBox({includeNodes: false, includeEdges: false, includeLabels: true,
                                                 includeOverlays: false, includeUnderlays: false})})); }"""


def test_names_never_cover_each_other_a_crowd_keeps_the_best_linked_and_zooming_in_brings_the_rest(signed_in, owner):
    from bench.topologies import generated

    page = signed_in
    page.set_default_timeout(60_000)  # 500 nodes on a shared machine
    topology = services.import_topology(owner, generated(500, 600, False))  # laid out by the editor: a crowd
    open_editor(page, topology.pk)
    page.wait_for_function("() => window.topolab.canvas.cy.nodes('.name-crowded').length > 0")
    page.wait_for_timeout(300)
    drawn = page.evaluate(DRAWN_NAMES)
    assert 50 < len(drawn) < 500, len(drawn)  # at the fit zoom, a crowd: some names, not all
    boxes = sorted(drawn, key=lambda d: d["bb"]["x1"])
    for i, a in enumerate(boxes):  # no two drawn names overlap (sorted by left edge: only neighbours can)
        for b in boxes[i + 1:]:
            if b["bb"]["x1"] >= a["bb"]["x2"]:
                break
            assert not overlap(a["bb"], b["bb"]), (a, b)
    names = {d["name"] for d in drawn}
    routers = {f"r{i}" for i in range(100)}
    assert len(names & routers) > len(names - routers), names  # the routers (more links) before their hosts
    shot(page, "canvas-names-500-fit")
    # Zoomed in on one router, every node in view is named.
    page.evaluate("""() => { const cy = window.topolab.canvas.cy; const r = cy.getElementById('n:r44');
        cy.zoom({level: 3, position: r.position()}); cy.center(r); }""")
    page.wait_for_function("""() => { const cy = window.topolab.canvas.cy; const ext = cy.extent();
        const inView = cy.nodes('.doc').filter((n) => { const p = n.position();
            return p.x > ext.x1 && p.x < ext.x2 && p.y > ext.y1 && p.y < ext.y2; });
        return inView.length > 2 && inView.filter('.name-crowded').length === 0; }""")
    shot(page, "canvas-names-500-zoomed")


def test_the_end_labels_of_links_fanning_out_of_one_node_do_not_cover_each_other(signed_in, owner):
    page = signed_in
    nodes = [{"name": "r1", "kind": "router", "position": {"x": 0, "y": 0}}]
    links = []
    for i, x in enumerate((-200, -100, 0, 100, 200)):
        nodes.append({"name": f"h{i + 1}", "kind": "host", "position": {"x": x, "y": 250}})
        links.append({"endpoints": [{"node": "r1", "interface": f"eth{i}", "addresses": [f"10.0.{i}.1/24"]},
                                    {"node": f"h{i + 1}", "interface": "eth0", "addresses": [f"10.0.{i}.2/24"]}]})
    topology = services.import_topology(owner, {"format": "topolab/v1", "name": "fan", "nodes": nodes, "links": links})
    open_editor(page, topology.pk)
    zoom_to(page, 1, ("r1", "h1", "h5"))
    page.wait_for_timeout(100)
    ends = [e for e in page.evaluate(BOXES)["ends"] if e["text"]]
    # r1's five ends say something (its interface at least) and no two labels cover each other.
    assert len([e for e in ends if e["id"].endswith("source")]) == 5, ends
    for i, a in enumerate(ends):
        for b in ends[i + 1:]:
            assert not overlap(a["bb"], b["bb"]), (a, b)
    shot(page, "canvas-labels-fan")


def hover(page, x: float, y: float) -> None:
    box = canvas_box(page)
    page.mouse.move(box["x"] + 5, box["y"] + 5)
    page.mouse.move(box["x"] + x, box["y"] + y, steps=4)


def test_the_full_text_of_a_link_is_in_its_tooltip_from_its_line_and_from_an_end_label(signed_in, owner):
    page = signed_in
    open_triangle(page, owner)
    zoom_to(page, 0.7)  # the ends say only "eth0": the tooltip says everything
    tooltip = page.locator("#tooltip")
    mid = page.evaluate("() => window.topolab.canvas.cy.getElementById('l:0').renderedMidpoint()")
    hover(page, mid["x"], mid["y"])
    tooltip.wait_for(state="visible")
    assert tooltip.inner_text() == "r1 eth0 10.0.0.0/31 — r2 eth0 10.0.0.1/31"
    hover(page, 5, 5)
    tooltip.wait_for(state="hidden")
    # On r3's end label of r2-r3 (l:1), a little off the line.
    bb = page.evaluate("""() => window.topolab.canvas.cy.getElementById('l:1').renderedBoundingBox({
        includeNodes: false, includeEdges: false, includeMainLabels: false, includeSourceLabels: false,
        includeTargetLabels: true, includeOverlays: false})""")
    assert bb["w"] > 0
    hover(page, (bb["x1"] + bb["x2"]) / 2 + 2, (bb["y1"] + bb["y2"]) / 2 + 2)
    tooltip.wait_for(state="visible")
    assert tooltip.inner_text() == "r2 eth1 10.0.0.2/31 — r3 eth0 10.0.0.3/31"


def test_one_wheel_notch_zooms_by_a_normal_step(signed_in, owner):
    page = signed_in
    open_triangle(page, owner)
    box = canvas_box(page)
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 30)
    zoom = lambda: page.evaluate("() => window.topolab.canvas.cy.zoom()")  # noqa: E731
    steps = []
    for delta in (-100, -100, -100, -100, -100, 100, 100, 100, 100, 100, 100):
        before = zoom()
        page.mouse.wheel(0, delta)
        page.wait_for_function("(z) => window.topolab.canvas.cy.zoom() !== z", arg=before)
        steps.append(zoom() / before)
    # Every notch alike (Cytoscape's own: 4.5 % for the first four, then 2.7 %), in 5 to 25 %.
    assert all(1.05 <= s <= 1.25 for s in steps[:5]), steps
    assert all(1 / 1.25 <= s <= 1 / 1.05 for s in steps[5:]), steps
    assert max(steps[:5]) - min(steps[:5]) < 0.01, steps
    # Bounded: far out, it stops at the minimum zoom.
    for _ in range(40):
        page.mouse.wheel(0, 100)
    page.wait_for_timeout(200)
    assert zoom() == page.evaluate("() => window.topolab.canvas.cy.minZoom()")


HANDLE = """() => { const h = window.topolab.canvas.cy.$('.eh-handle');
    return h.nonempty() ? {x: h.renderedPosition().x, y: h.renderedPosition().y, w: h.renderedOuterWidth(),
                           owner: window.topolab.canvas.handleOwner && window.topolab.canvas.handleOwner.id()} : null; }"""


def link_count(page) -> int:
    return page.evaluate("() => window.topolab.ed.doc.links.length")


def has_link(page, a: str, b: str) -> bool:
    return page.evaluate("([a, b]) => window.topolab.ed.doc.links.some((l) => "
                         "l.endpoints.map((e) => e.node).sort().join() === [a, b].sort().join())", [a, b])


def test_the_selected_node_keeps_a_handle_big_enough_to_grab_and_dragging_it_links(signed_in, owner):
    page = signed_in
    open_triangle(page, owner)
    x, y = node_point(page, "h1")
    page.mouse.click(x, y)
    page.wait_for_function("() => window.topolab.canvas.selection().nodes.join() === 'h1'")
    box = canvas_box(page)
    page.mouse.move(box["x"] + 10, box["y"] + box["height"] / 2, steps=5)  # the mouse leaves the node
    page.wait_for_timeout(500)
    handle = page.evaluate(HANDLE)
    assert handle and handle["owner"] == "n:h1", handle
    assert handle["w"] >= 14, handle
    # The same size on screen zoomed out (it would be a dot otherwise), still on h1.
    zoom_to(page, 0.5)
    handle = page.evaluate(HANDLE)
    assert handle and handle["owner"] == "n:h1" and handle["w"] >= 14, handle
    shot(page, "canvas-handle-selected")
    zoom_to(page, 1)
    handle = page.evaluate(HANDLE)
    before = link_count(page)
    page.mouse.move(box["x"] + handle["x"], box["y"] + handle["y"], steps=8)
    drop_on(page, "r2")
    page.wait_for_function("(n) => window.topolab.ed.doc.links.length === n + 1", arg=before)
    assert has_link(page, "h1", "r2")


def drop_on(page, name: str) -> None:
    """With the button pressed where a link starts: carry it onto `name` and let go there (edgehandles wants
    a moment over the target, then a last small move, before the release)."""
    page.mouse.down()
    x, y = node_point(page, name)
    page.mouse.move(x, y, steps=12)
    page.wait_for_timeout(150)
    page.mouse.move(x + 1, y + 1, steps=2)
    page.mouse.up()


def test_dragging_from_a_nodes_rim_links_and_from_its_middle_moves_it_and_the_hints_say_so(signed_in, owner):
    page = signed_in
    doc = triangle("rim")
    doc["links"] = []
    topology = services.import_topology(owner, doc)
    open_editor(page, topology.pk)
    hint = page.locator("#canvas-link-hint")
    assert hint.is_visible() and "drag from the rim" in hint.inner_text()
    box = canvas_box(page)
    p = page.evaluate("() => window.topolab.canvas.cy.getElementById('n:h1').renderedPosition()")
    width = page.evaluate("() => window.topolab.canvas.cy.getElementById('n:h1').renderedWidth()")
    rim = (box["x"] + p["x"] - width / 2 + 2, box["y"] + p["y"])  # 2 px inside its left side
    page.mouse.move(rim[0] - 30, rim[1])
    page.mouse.move(*rim, steps=5)
    assert page.evaluate("() => document.getElementById('cy').style.cursor") == "crosshair"
    drop_on(page, "r3")
    page.wait_for_function("() => window.topolab.ed.doc.links.length === 1")
    assert has_link(page, "h1", "r3")
    assert page.evaluate("() => window.topolab.ed.doc.nodes.find((n) => n.name === 'h1').position") == {"x": 520, "y": 270}
    hint.wait_for(state="hidden")
    # From the middle, the same drag moves the node and links nothing.
    x, y = node_point(page, "h1")
    page.mouse.move(x, y, steps=3)
    page.mouse.down()
    page.mouse.move(x, y + 80, steps=10)
    page.mouse.up()
    page.wait_for_function("() => window.topolab.ed.doc.nodes.find((n) => n.name === 'h1').position.y > 300")
    assert link_count(page) == 1
    # The empty canvas's first-use hint says how to link, too.
    empty = services.import_topology(owner, {"format": "topolab/v1", "name": "empty", "nodes": [], "links": []})
    open_editor(page, empty.pk)
    assert "drag from the rim" in page.locator("#canvas-empty").inner_text()


def test_a_problem_tooltip_goes_when_its_node_is_dragged_and_when_the_problem_is_fixed(signed_in, owner):
    page = signed_in
    open_triangle(page, owner)
    # r1 gets a route to no prefix: the server's check names nodes[0].
    page.evaluate("""() => { const ed = window.topolab.ed; const doc = structuredClone(ed.doc);
        doc.nodes[0].routes = [{to: '10.9.0.300/24', via: '10.0.0.1'}]; ed.commit(doc); }""")
    page.wait_for_function("() => window.topolab.canvas.cy.getElementById('n:r1').hasClass('error')")
    tooltip = page.locator("#tooltip")
    x, y = node_point(page, "r1")
    hover(page, x - canvas_box(page)["x"], y - canvas_box(page)["y"])
    tooltip.wait_for(state="visible")
    assert "10.9.0.300" in tooltip.inner_text()
    # Dragged: the tooltip goes at once (the mouse is still on the node).
    page.mouse.down()
    page.mouse.move(x + 30, y + 20, steps=6)
    assert tooltip.is_hidden()
    page.mouse.up()
    page.wait_for_function("() => window.topolab.ed.doc.nodes[0].position.x > 10")
    assert tooltip.is_hidden()
    # Back on the node: there again; the view zooms: gone.
    hover(page, x + 30 - canvas_box(page)["x"], y + 20 - canvas_box(page)["y"])
    tooltip.wait_for(state="visible")
    page.mouse.wheel(0, -100)
    tooltip.wait_for(state="hidden")
    nx, ny = node_point(page, "r1")
    hover(page, nx - canvas_box(page)["x"], ny - canvas_box(page)["y"])
    tooltip.wait_for(state="visible")
    # Fixed (as the panel would, the mouse still on the node): the check's answer takes the tooltip away.
    page.evaluate("""() => { const ed = window.topolab.ed; const doc = structuredClone(ed.doc);
        delete doc.nodes[0].routes; ed.commit(doc); }""")
    page.wait_for_function("() => !window.topolab.canvas.cy.getElementById('n:r1').hasClass('error')")
    tooltip.wait_for(state="hidden")
