"""Routes without arithmetic in a real browser (issue 13): a triangle of routers with a host each, addressed by
"Assign addresses" (IPv4 and IPv6), routed by "Compute routes…" (a preview: one route unchecked, one via
edited, Escape changing nothing), deployed, and "Ping all" showing every node reaching every address of both
families. The pings run for real in the lab's containers.

        h1                r1-r2 10.0.0.0/31      fd00:0:1::/64
        |                 r2-r3 10.0.0.2/31      fd00:0:1:1::/64
        r1                r3-r1 10.0.0.4/31      fd00:0:1:2::/64
       /  \\              h1-r1 192.168.0.0/24   fd00:0:2::/64
  h3-r3 -- r2-h2          h2-r2 192.168.1.0/24   fd00:0:2:1::/64
                          h3-r3 192.168.2.0/24   fd00:0:2:2::/64
"""
from __future__ import annotations

import json
import re

from playwright.sync_api import expect

from topology import kinds, services
from topology.models import Topology
from topology.pages.views import kinds_config

from .conftest import shot
from .helpers import document, needs_node, open_editor, run_js_tests

PING = 120_000  # ms: 120 pings on a loaded machine
DEPLOY = 120_000


def triangle() -> dict:
    """Three routers in a triangle, a host on each; no addresses, no routes: the editor fills them in."""
    places = {"r1": (400, 140), "r2": (560, 400), "r3": (240, 400), "h1": (400, 20), "h2": (720, 480), "h3": (80, 480)}
    nodes = [{"name": n, "kind": "router" if n[0] == "r" else "host", "position": {"x": x, "y": y}}
             for n, (x, y) in places.items()]
    ends = [("r1", "eth0", "r2", "eth0"), ("r2", "eth1", "r3", "eth0"), ("r3", "eth1", "r1", "eth1"),
            ("h1", "eth0", "r1", "eth2"), ("h2", "eth0", "r2", "eth2"), ("h3", "eth0", "r3", "eth2")]
    links = [{"endpoints": [{"node": a, "interface": ia}, {"node": b, "interface": ib}]} for a, ia, b, ib in ends]
    return {"format": "topolab/v1", "name": "routed-triangle", "nodes": nodes, "links": links}


def routes_of(doc: dict) -> dict:
    return {n["name"]: n.get("routes", []) for n in doc["nodes"]}


def test_assign_addresses_and_compute_routes_make_the_triangle_reach_everything(signed_in, owner, labs):
    page = signed_in
    topology = services.import_topology(owner, triangle(), replace=True)
    open_editor(page, topology.pk)
    status = page.locator("#dock-status")

    # Assign addresses, both families, from the pools under the button.
    page.locator(".pools summary").click()
    page.get_by_label("Families").select_option(label="IPv4 and IPv6")
    page.get_by_role("button", name="Assign addresses").click()
    expect(status).to_have_text("12 interfaces addressed from 10.0.0.0/16, 192.168.0.0/16, fd00:0:1::/48 and fd00:0:2::/48, "
                                "6 default routes added to hosts.")
    doc = document(page)
    ends = {(e["node"], e["interface"]): e["addresses"] for link in doc["links"] for e in link["endpoints"]}
    assert ends[("r1", "eth0")] == ["10.0.0.0/31", "fd00:0:1::1/64"]
    assert ends[("h2", "eth0")] == ["192.168.1.2/24", "fd00:0:2:1::2/64"]
    assert routes_of(doc)["h3"] == [{"to": "default", "via": "192.168.2.1"}, {"to": "default", "via": "fd00:0:2:2::1"}]
    assert all(not routes_of(doc)[r] for r in ("r1", "r2", "r3"))
    page.get_by_role("button", name="Assign addresses").click()  # again: nothing left to fill, and it says so
    expect(status).to_contain_text("nothing to fill (12 interfaces left alone)")

    # Compute routes: the preview lists the routers' routes (the hosts have their default routes).
    page.get_by_role("button", name="Compute routes…").click()
    dialog = page.locator("#routes-dialog")
    expect(dialog).to_be_visible()
    expect(status).to_have_text("18 routes proposed for 3 nodes: nothing changes until Accept.")
    rows = dialog.locator("#routes-table tbody tr")
    expect(rows).to_have_count(18)
    expect(dialog.locator("#routes-summary")).to_have_text("18 routes of 18 checked, for 3 nodes.")
    expect(rows.nth(0).locator("td")).to_have_text(["", "r1", "10.0.0.2/31", ""])
    expect(rows.nth(0).locator(".routes-via")).to_have_value("10.0.0.1")

    # Leave out r1's IPv4 route to h2's LAN; send r3's route to h1's LAN the long way, past a bad via first.
    left_out = dialog.locator("tr[data-node=r1][data-to='192.168.1.0/24']")
    left_out.get_by_role("checkbox").uncheck()
    expect(dialog.locator("#routes-summary")).to_have_text("17 routes of 18 checked, for 3 nodes.")
    via = dialog.locator("tr[data-node=r3][data-to='192.168.0.0/24'] .routes-via")
    expect(via).to_have_value("10.0.0.5")
    via.fill("10.0.0.9")
    expect(dialog.locator("tr[data-node=r3][data-to='192.168.0.0/24'] .field-error")).to_have_text(
        "10.0.0.9 is in no subnet of r3: the next router must be on one of its links")
    dialog.locator("tr[data-node=r3][data-to='192.168.0.0/24'] .field-error").scroll_into_view_if_needed()
    shot(page, "compute-routes-preview")
    dialog.get_by_role("button", name="Accept").click()
    expect(dialog).to_be_visible()  # refused: the bad via is said, and nothing changes
    assert all(not routes_of(document(page))[r] for r in ("r1", "r2", "r3"))
    via.fill("10.0.0.2")  # r2, two hops away: still a way to h1
    expect(dialog.locator("tr[data-node=r3][data-to='192.168.0.0/24'] .field-error")).to_have_text("")
    expect(dialog).not_to_contain_text("null")
    via.press("Enter")  # Enter in a via accepts, as Accept does
    expect(dialog).to_be_hidden()
    expect(status).to_have_text("17 routes added to 3 nodes. 1 route left out.")
    routed = routes_of(document(page))
    assert {"to": "192.168.1.0/24", "via": "10.0.0.1"} not in routed["r1"]
    assert not any(r["to"] == "192.168.1.0/24" for r in routed["r1"])
    assert {"to": "fd00:0:2:1::/64", "via": "fd00:0:1::2"} in routed["r1"]  # its IPv6 twin was kept
    assert {"to": "192.168.0.0/24", "via": "10.0.0.2"} in routed["r3"]
    assert (len(routed["r1"]), len(routed["r2"]), len(routed["r3"])) == (5, 6, 6)
    assert routed["h1"] == [{"to": "default", "via": "192.168.0.1"}, {"to": "default", "via": "fd00:0:2::1"}]  # untouched
    # One edit: undo takes every route back, redo brings them again.
    page.locator("#cy").click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+z")
    assert all(not routes_of(document(page))[r] for r in ("r1", "r2", "r3"))
    page.keyboard.press("Control+Shift+z")
    assert routes_of(document(page)) == routed

    # Again: only the route left out is proposed (the others are there); Escape closes with nothing changed.
    page.get_by_role("button", name="Compute routes…").click()
    expect(rows).to_have_count(1)
    expect(rows.nth(0).locator("td")).to_have_text(["", "r1", "192.168.1.0/24", ""])
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(status).to_have_text("Routes not added: nothing changed.")
    assert routes_of(document(page)) == routed
    page.get_by_role("button", name="Compute routes…").click()
    expect(rows).to_have_count(1)
    dialog.get_by_role("button", name="Accept").click()
    expect(status).to_have_text("1 route added to 1 node.")
    routed = routes_of(document(page))
    assert routed["r1"][-1] == {"to": "192.168.1.0/24", "via": "10.0.0.1"}
    shot(page, "compute-routes-accepted")
    page.get_by_role("button", name="Compute routes…").click()
    expect(dialog.get_by_text("No route to add: every node reaches what it can already.")).to_be_visible()
    expect(status).to_have_text("No route to add; 1 note.")
    # The via changed by hand is kept, and the notes say which way the shortest one would have gone.
    expect(dialog.locator(".routes-notes li")).to_have_text(
        ["r3 keeps its own route to 192.168.0.0/24 (a shortest way: via 10.0.0.5)"])
    expect(dialog).not_to_contain_text("null")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    expect(status).to_have_text("No route to add; 1 note.")  # closing a preview with nothing to add says nothing new

    # Deploy (the editor saves first) and ping all: every node reaches every address, IPv4 and IPv6.
    labs.deployed.append(topology.lab)  # the fixture destroys it whatever happens
    page.get_by_role("button", name="Deploy ▶").click()
    page.wait_for_function("() => window.topolab.ed.lab.state === 'running'", timeout=DEPLOY)
    assert routes_of(Topology.objects.get(pk=topology.pk).document) == routed
    page.get_by_role("button", name="Ping all").click()
    ping = page.locator("#ping-dialog")
    # 24 addresses (each router 6, each host 2); 3 routers ping 18 others, 3 hosts 22: 120 pings.
    summary = ping.locator("#ping-summary")
    expect(summary).to_have_text(re.compile(r"reachable"), timeout=PING)
    if not summary.inner_text().startswith("All 120 reachable"):
        # One more run, as a person would: 1 s pings on a machine stalled by other work can all time out at once
        # (seen with a load of 14 on 2 cores); a missing route fails both runs the same way.
        ping.get_by_role("button", name="Run again").click()
        expect(summary).to_have_text(re.compile(r"^Pinging"))
    expect(summary).to_have_text(re.compile(r"^All 120 reachable \(took \d+\.\d s\)\.$"), timeout=PING)
    matrix = ping.locator("#ping-matrix")
    expect(matrix.locator("td.ping-fail")).to_have_count(0)
    expect(matrix.locator("td.ping-ok")).to_have_count(120)
    addresses = matrix.locator("thead th.ping-address").all_inner_texts()
    assert sum(":" in a for a in addresses) == 12 and len(addresses) == 24
    shot(page, "compute-routes-ping-all")
    ping.get_by_role("button", name="Close").click()
    labs.destroy(Topology.objects.get(pk=topology.pk).lab)


@needs_node
def test_it_passes_the_compute_routes_and_ipv6_addresses_unit_tests():
    registry = json.dumps({"kinds": kinds_config(), "defaultKind": kinds.DEFAULT})
    run_js_tests("compute-routes.test.js", env={"TOPOLAB_KINDS": registry})


def test_compute_routes_shows_the_notes_and_refuses_a_document_with_errors(signed_in, owner):
    page = signed_in
    doc = {"format": "topolab/v1", "name": "routed-notes",
           "nodes": [{"name": "h1", "kind": "host"}, {"name": "r1", "kind": "router"}, {"name": "f1", "kind": "frr"}],
           "links": [{"endpoints": [{"node": "h1", "interface": "eth0", "addresses": ["10.1.0.2/24"]},
                                    {"node": "r1", "interface": "eth0", "addresses": ["10.1.0.1/24"]}]},
                     {"endpoints": [{"node": "r1", "interface": "eth1", "addresses": ["10.2.0.1/24"]},
                                    {"node": "f1", "interface": "eth0", "addresses": ["10.2.0.2/24"]}]}]}
    topology = services.import_topology(owner, doc, replace=True)
    open_editor(page, topology.pk)
    status = page.locator("#dock-status")
    page.get_by_role("button", name="Compute routes…").click()
    dialog = page.locator("#routes-dialog")
    expect(dialog.locator("#routes-table tbody tr")).to_have_count(1)  # h1's default route; f1 routes itself
    expect(dialog.locator("#routes-table tbody tr td")).to_have_text(["", "h1", "default", ""])
    expect(dialog.locator(".routes-notes li")).to_have_text(
        ["f1 is an frr router: its daemons route it (no static routes proposed)"])
    shot(page, "compute-routes-notes")
    dialog.get_by_role("button", name="Reject").click()
    expect(dialog).to_be_hidden()
    expect(status).to_have_text("Routes not added: nothing changed.")
    assert all("routes" not in n for n in document(page)["nodes"])

    # An unsaved document with an error: nothing is proposed, and the error is said with its place.
    page.evaluate("""() => { const ed = window.topolab.ed; const doc = structuredClone(ed.doc);
        doc.links[0].endpoints[0].addresses = ['10.1.0.300/24']; ed.commit(doc); }""")
    page.get_by_role("button", name="Compute routes…").click()
    expect(status).to_have_text(
        re.compile(r"^Routes not computed: fix the 1 error first \(links\[0\]\.endpoints\[0\]\.addresses\[0\]: "))
    expect(dialog).to_be_hidden()
